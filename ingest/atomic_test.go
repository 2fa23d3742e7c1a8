package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/shards"
)

// lines is a text body of n records.
func lines(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.Bytes()
}

// An atomic put is stored whole or refused whole with 429 and
// Retry-After, for clients that count any 2xx as delivered.
func TestAtomicPuts(t *testing.T) {
	env := newTestEnv(t, shards.Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 3})
	text := hdr("Content-Type", "text/plain")
	steps := []struct {
		name   string
		stream string
		n      int
		after  time.Duration
		status int
		failed int
	}{
		{"2 of 3 a second", "plain?atomic=true", 2, 0, http.StatusOK, 0},
		{"2 more do not fit: none stored", "plain?atomic=true", 2, 0, http.StatusTooManyRequests, 2},
		{"the 1 left fits", "plain?atomic=true", 1, 0, http.StatusOK, 0},
		{"5 at a full quota go into debt", "plain?atomic=true", 5, time.Second, http.StatusOK, 0},
		{"the debt (2 records) refuses for 2/3 s", "plain?atomic=true", 1, 500 * time.Millisecond, http.StatusTooManyRequests, 1},
		{"without atomic, a part is stored (207)", "plain", 5, 2 * time.Second, http.StatusMultiStatus, 2},
		{"atomic=false is the default", "plain?atomic=false", 4, time.Second, http.StatusMultiStatus, 1},
	}
	for _, s := range steps {
		env.now = env.now.Add(s.after)
		status, h, resp := env.put(t, s.stream, text, lines(s.n))
		if status != s.status || resp.FailedRecordCount != s.failed {
			t.Fatalf("%s: status %d with %d failed, want %d with %d: %+v", s.name, status, resp.FailedRecordCount, s.status, s.failed, resp)
		}
		if status == http.StatusTooManyRequests && h.Get("Retry-After") == "" {
			t.Fatalf("%s: 429 without Retry-After", s.name)
		}
	}
	if status, _, _ := env.roundTrip(t, "plain?atomic=yes", text, lines(1)); status != http.StatusBadRequest {
		t.Fatalf("atomic=yes: status %d, want 400", status)
	}
}

// A target with AtomicPuts treats every put as ?atomic=true, and
// ?atomic=false opts a request out.
func TestAtomicPutsTarget(t *testing.T) {
	ctx := context.Background()
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st, err := store.CreateStream(ctx, shards.StreamSpec{Name: "events", Shards: 2, Limits: shards.Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 2}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	s, err := NewServer(Limits{MaxRequestSize: 1 << 20, MaxRecordSize: 1000}, map[string]Target{"events": {Stream: st, AtomicPuts: true}},
		nil, Settings{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	env := &testEnv{store: store, srv: srv, now: now}
	text := hdr("Content-Type", "text/plain")
	text.Set("X-Partition-Key", "one-shard")
	// 2 records/s a shard: 3 at a full quota go into debt; then 1 more
	// is refused whole, and with atomic=false a part of 3 is stored.
	steps := []struct {
		stream         string
		n              int
		status, failed int
	}{
		{"events", 3, http.StatusOK, 0},
		{"events", 1, http.StatusTooManyRequests, 1},
	}
	for _, st := range steps {
		if status, _, resp := env.put(t, st.stream, text, lines(st.n)); status != st.status || resp.FailedRecordCount != st.failed {
			t.Fatalf("%s, %d records: status %d with %d failed, want %d with %d", st.stream, st.n, status, resp.FailedRecordCount, st.status, st.failed)
		}
	}
	now = now.Add(10 * time.Second)
	if status, _, resp := env.put(t, "events?atomic=false", text, lines(3)); status != http.StatusMultiStatus || resp.FailedRecordCount != 1 {
		t.Fatalf("atomic=false: status %d with %d failed, want 207 with 1", status, resp.FailedRecordCount)
	}
}
