package cluster

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hydrant-dev/hydrant/internal/await"
)

// TestKVSemantics pins down what the leases rely on in nats-server and nats.go
// as pinned in go.mod, on a bucket made as Open makes them.
func TestKVSemantics(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	js := connect(t, startServer(t))
	const ttl = time.Second
	kv, err := openBucket(ctx, js, LeasesBucket, "test", Config{TTL: ttl}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer stopWatcher(w)
	next := func(what string) jetstream.KeyValueEntry {
		t.Helper()
		timeout := time.After(5 * ttl)
		for {
			select {
			case e := <-w.Updates():
				if e.Key() == "k" {
					return e
				}
			case <-timeout:
				t.Fatalf("no watcher update of k for %s within %v", what, 5*ttl)
				return nil
			}
		}
	}

	// Create fails over a value; Update and Delete are compare-and-set on the
	// revision — but LastRevision(0) means "no check", so revisions start above 1 here.
	if _, err := kv.Put(ctx, "other", nil); err != nil {
		t.Fatal(err)
	}
	rev, err := kv.Create(ctx, "k", []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	next("create")
	if _, err := kv.Create(ctx, "k", []byte("b")); !errors.Is(err, jetstream.ErrKeyExists) || !taken(err) {
		t.Fatalf("Create over a value: %v, want ErrKeyExists", err)
	}
	if _, err := kv.Update(ctx, "k", []byte("b"), rev-1); !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		t.Fatalf("Update on a stale revision: %v, want ErrKeyRevisionMismatch", err)
	}
	if err := kv.Delete(ctx, "k", jetstream.LastRevision(rev-1)); !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		t.Fatalf("Delete on a stale revision: %v, want ErrKeyRevisionMismatch", err)
	}
	if err := kv.Delete(ctx, "k", jetstream.LastRevision(rev)); err != nil {
		t.Fatal(err)
	}
	if e := next("delete"); e.Operation() != jetstream.KeyValueDelete {
		t.Fatalf("watcher after Delete: %v", e.Operation())
	}

	// Create succeeds over a delete marker (nats.go retries as a CAS on the marker's revision).
	sent := time.Now()
	rev, err = kv.Create(ctx, "k", []byte("c"))
	if err != nil {
		t.Fatalf("Create over a delete marker: %v", err)
	}
	next("create over delete")

	// Not renewed, the key expires after the TTL (never before), and watchers
	// see the server's MaxAge marker as a purge.
	e := next("expiry")
	expired := time.Since(sent)
	if e.Key() != "k" || e.Operation() != jetstream.KeyValuePurge || e.Revision() <= rev {
		t.Fatalf("after the TTL the watcher saw %s %v rev %d; want a purge of k after rev %d", e.Key(), e.Operation(), e.Revision(), rev)
	}
	if expired < ttl {
		t.Fatalf("the key expired %v after its write was sent, before the TTL %v", expired, ttl)
	}
	t.Logf("a key written at t=0 expired (marker seen) at t=%v with a TTL of %v", expired.Round(time.Millisecond), ttl)
	if _, err := kv.Get(ctx, "k"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("Get of an expired key: %v, want ErrKeyNotFound", err)
	}
	if _, err := kv.Update(ctx, "k", []byte("d"), rev); !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		t.Fatalf("Update of an expired key: %v, want ErrKeyRevisionMismatch", err)
	}

	// Create succeeds over the MaxAge marker, and once the marker has expired too.
	if _, err := kv.Create(ctx, "k", []byte("e")); err != nil {
		t.Fatalf("Create over a MaxAge marker: %v", err)
	}
	next("create over MaxAge marker")
	if e := next("second expiry"); e.Operation() != jetstream.KeyValuePurge {
		t.Fatalf("second expiry: %v", e.Operation())
	}
	// The marker itself expires (with no marker of its own) after its TTL.
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != ttl || st.LimitMarkerTTL() != ttl || st.History() != 1 {
		t.Fatalf("bucket TTL %v, marker TTL %v, history %d", st.TTL(), st.LimitMarkerTTL(), st.History())
	}
	await.Cond(t, 5*ttl, "the MaxAge marker to expire", func() bool {
		st, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Values() == 0
	})
	if _, err := kv.Create(ctx, "k", []byte("f")); err != nil {
		t.Fatalf("Create on an empty subject: %v", err)
	}
}
