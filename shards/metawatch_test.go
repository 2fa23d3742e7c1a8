package shards

import (
	"context"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/testnats"
)

// WatchMeta sends the definitions stored, then Synced, then (on NATS) what
// any store sharing the log changes, and closes when its context ends; on
// the embedded log nothing follows Synced.
func TestWatchMeta(t *testing.T) {
	tests := map[string]struct {
		open   func(t *testing.T) (watched, writer *Store)
		follow bool // changes after Synced are sent
	}{
		"embedded": {open: func(t *testing.T) (*Store, *Store) {
			s := openTestStore(t, t.TempDir())
			t.Cleanup(func() { s.Close() })
			return s, s
		}},
		"nats": {open: func(t *testing.T) (*Store, *Store) {
			if testing.Short() {
				t.Skip("starts a NATS server")
			}
			url := testnats.StartOne(t).URL()
			return openOneReplica(t, url, "a"), openOneReplica(t, url, "b")
		}, follow: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			watched, writer := tt.open(t)
			ctx := context.Background()
			if err := writer.PutMeta(ctx, "stream.b3JkZXJz", []byte(`{"name":"orders"}`)); err != nil {
				t.Fatal(err)
			}
			wctx, stop := context.WithCancel(ctx)
			events, err := watched.WatchMeta(wctx)
			if err != nil {
				t.Fatal(err)
			}
			next := func() MetaEvent {
				t.Helper()
				select {
				case ev := <-events:
					return ev
				case <-time.After(5 * time.Second):
					t.Fatal("no event within 5 s")
					return MetaEvent{}
				}
			}
			if ev := next(); ev.Key != "stream.b3JkZXJz" || string(ev.Value) != `{"name":"orders"}` || ev.Deleted {
				t.Fatalf("first event %+v, want the stored definition", ev)
			}
			if ev := next(); !ev.Synced {
				t.Fatalf("second event %+v, want Synced", ev)
			}
			if tt.follow {
				if err := writer.DeleteMeta(ctx, "stream.b3JkZXJz"); err != nil {
					t.Fatal(err)
				}
				if ev := next(); ev.Key != "stream.b3JkZXJz" || !ev.Deleted {
					t.Fatalf("after a delete: %+v, want the key deleted", ev)
				}
			}
			stop()
			for range events { // closes once the watch has stopped
			}
		})
	}
}

// openOneReplica opens a store on the NATS server at url with one replica,
// closed when the test ends.
func openOneReplica(t *testing.T, url, name string) *Store {
	t.Helper()
	s, err := Open(context.Background(), StoreConfig{NATS: &NATSConfig{URL: url, Replicas: 1, Name: name}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
