package shards

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hydrant-dev/hydrant/metrics"
)

// BenchmarkPut puts 100 records per call, routed over 4 shards, with the
// store's metrics registered: stored (appended to the log) and throttled
// (refused by the quota, so the throttle counters are the work left).
func BenchmarkPut(b *testing.B) {
	tests := map[string]struct {
		limits Limits
		want   error
	}{
		"stored":    {limits: Limits{BytesPerSecond: 1 << 40, RecordsPerSecond: 1 << 40}},
		"throttled": {limits: Limits{BytesPerSecond: 1, RecordsPerSecond: 1}, want: ErrThrottled},
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
