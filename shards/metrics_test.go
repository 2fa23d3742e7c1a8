package shards

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hydrant-dev/hydrant/metrics"
)

// Refused records are counted per shard and reason; every shard's series
// exists from the start, at 0.
func TestThrottledRecordsPerShard(t *testing.T) {
	tests := map[string]struct {
		full bool // the log is at its disk budget
		want string
	}{
		"quota": {want: `
hydrant_store_throttled_records_total{reason="disk_budget",shard="0",stream="logs"} 0
hydrant_store_throttled_records_total{reason="disk_budget",shard="1",stream="logs"} 0
hydrant_store_throttled_records_total{reason="quota",shard="0",stream="logs"} 0
hydrant_store_throttled_records_total{reason="quota",shard="1",stream="logs"} 2
`},
		"disk budget": {full: true, want: `
hydrant_store_throttled_records_total{reason="disk_budget",shard="0",stream="logs"} 1
hydrant_store_throttled_records_total{reason="disk_budget",shard="1",stream="logs"} 3
hydrant_store_throttled_records_total{reason="quota",shard="0",stream="logs"} 0
hydrant_store_throttled_records_total{reason="quota",shard="1",stream="logs"} 0
`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			m := metrics.NewStore(prometheus.NewRegistry())
			s, err := Open(ctx, StoreConfig{DataDir: t.TempDir(), Metrics: m, DiskBudget: 1 << 40, UsageInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			st, err := s.CreateStream(ctx, StreamSpec{Name: "logs", Shards: 2, Limits: Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 1}})
			if err != nil {
				t.Fatal(err)
			}
			if tt.full {
				s.budget.used.Store(s.budget.limit)
			}
			on := func(shard int) Record {
				h := st.Lineage().Shards[shard].Range.Start
				return Record{PartitionKey: "k", HashKey: &h, Data: []byte("x")}
			}
			// One record a second per shard: shard 0 takes its one, shard 1 refuses two of three.
			now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			st.Put(ctx, now, []Record{on(1), on(0), on(1), on(1)})
			if err := testutil.CollectAndCompare(m.ThrottledRecords, strings.NewReader(
				"# HELP hydrant_store_throttled_records_total Records refused with a throttling error: by a shard's quota or because the shard log is at its disk budget.\n"+
					"# TYPE hydrant_store_throttled_records_total counter"+tt.want)); err != nil {
				t.Error(err)
			}
		})
	}
}
