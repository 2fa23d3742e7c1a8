package shards

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hydrant-dev/hydrant/metrics"
)

// BenchmarkPut puts 100 records per call, routed over 4 shards, with the
// store's metrics registered: stored (appended to the log) and throttled
// (refused by the quota, so the throttle counters are the work left);
// resharded is stored after 200 reshards left 1,600 closed shards behind
// the 4 open ones (which a put must not pay for).
func BenchmarkPut(b *testing.B) {
	tests := map[string]struct {
		limits   Limits
		reshards int
		want     error
	}{
		"stored":    {limits: Limits{BytesPerSecond: 1 << 40, RecordsPerSecond: 1 << 40}},
		"throttled": {limits: Limits{BytesPerSecond: 1, RecordsPerSecond: 1}, want: ErrThrottled},
		"resharded": {limits: Limits{BytesPerSecond: 1 << 40, RecordsPerSecond: 1 << 40}, reshards: 200},
	}
	for name, tt := range tests {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, StoreConfig{DataDir: b.TempDir(), Metrics: metrics.NewStore(prometheus.NewRegistry())})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			st, err := s.CreateStream(ctx, StreamSpec{Name: "clicks", Shards: 4, Limits: tt.limits})
			if err != nil {
				b.Fatal(err)
			}
			for i := range tt.reshards {
				if err := s.UpdateShardCount(ctx, "clicks", 4<<((i+1)%2), false); err != nil { // 8, 4, 8, …, 4
					b.Fatal(err)
				}
			}
			recs := make([]Record, 100)
			for i := range recs {
				recs[i] = Record{PartitionKey: fmt.Sprintf("user-%d", i), Data: make([]byte, 200)}
			}
			now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) // fixed: a throttled quota never refills
			st.Put(ctx, now, recs)                                // drains a throttled quota's burst
			b.ReportAllocs()
			for b.Loop() {
				res := st.Put(ctx, now, recs)
				if res[len(res)-1].Err != tt.want {
					b.Fatalf("err %v, want %v", res[len(res)-1].Err, tt.want)
				}
			}
		})
	}
}

// BenchmarkDurablePut is the put path of hydrant-load's native rows without
// HTTP: producers each putting 500 records of 1 KiB over 4 shards, fsynced
// before the ack. It reports MB/s of record data and the p99 latency of a
// put, whose records land on every shard.
func BenchmarkDurablePut(b *testing.B) {
	for _, producers := range []int{4, 16} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(ctx, StoreConfig{DataDir: b.TempDir(), SyncAlways: true})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			st, err := s.CreateStream(ctx, StreamSpec{Name: "bench", Shards: 4, Limits: Limits{BytesPerSecond: 1 << 40, RecordsPerSecond: 1 << 40}})
			if err != nil {
				b.Fatal(err)
			}
			var (
				mu   sync.Mutex
				lats []time.Duration
				next atomic.Int64
			)
			b.SetBytes(500 << 10)
			b.ReportAllocs()
			b.SetParallelism((producers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.RunParallel(func(pb *testing.PB) {
				recs := make([]Record, 500)
				for i := range recs {
					recs[i] = Record{Data: make([]byte, 1024)}
				}
				var mine []time.Duration
				for pb.Next() {
					n := next.Add(1)
					for i := range recs {
						recs[i].PartitionKey = strconv.FormatInt(n*500+int64(i), 36)
					}
					start := time.Now()
					res := st.Put(ctx, start, recs)
					mine = append(mine, time.Since(start))
					if err := res[len(res)-1].Err; err != nil {
						b.Error(err)
						return
					}
				}
				mu.Lock()
				lats = append(lats, mine...)
				mu.Unlock()
			})
			slices.Sort(lats)
			if len(lats) > 0 {
				b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
			}
		})
	}
}
