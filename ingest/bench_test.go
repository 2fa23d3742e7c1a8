package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/shards"
)

// BenchmarkNativePut is the native API's whole put path: a 100-record
// NDJSON request through the handler into a real shard log (4 shards, fsync
// by interval). Its allocations per request show what the hot path costs;
// metrics must not add to them per record.
func BenchmarkNativePut(b *testing.B) {
	ctx := context.Background()
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	st, err := store.CreateStream(ctx, shards.StreamSpec{Name: "clicks", Shards: 4, Limits: generous})
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewServer(Limits{MaxRequestSize: 16 << 20, MaxRecordSize: 1000 << 10},
		map[string]Target{"clicks": {Stream: st, PartitionKeyField: "/user_id"}}, nil, Settings{})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	const records = 100
	var body bytes.Buffer
	for i := range records {
		fmt.Fprintf(&body, "{\"seq\":%d,\"user_id\":\"u-%d\",\"pad\":%q}\n", i, i%17, strings.Repeat("x", 180))
	}
	b.ReportAllocs()
	b.SetBytes(int64(body.Len()))
	start := time.Now()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/streams/clicks/records", bytes.NewReader(body.Bytes()))
		req.Header.Set("Content-Type", "application/x-ndjson")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*records), "ns/record")
}
