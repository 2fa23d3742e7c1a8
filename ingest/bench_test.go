package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/shards"
)

// BenchmarkNativePut is the native API's whole put path: an NDJSON request
// of 100 or 500 records (the harness's and PutRecordBatch's batch) with a
// partition key field, through the handler into a real shard log (4 shards,
// fsync by interval). allocs/record counts every allocation in the process
// while it runs, the shard log's server included, per record stored;
// metrics must not add to it.
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
	for _, records := range []int{100, 500} {
		b.Run(fmt.Sprintf("records=%d", records), func(b *testing.B) {
			var body bytes.Buffer
			for i := range records {
				fmt.Fprintf(&body, "{\"seq\":%d,\"user_id\":\"u-%d\",\"pad\":%q}\n", i, i%17, strings.Repeat("x", 180))
			}
			b.ReportAllocs()
			b.SetBytes(int64(body.Len()))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
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
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*records), "ns/record")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*records), "allocs/record")
		})
	}
}
