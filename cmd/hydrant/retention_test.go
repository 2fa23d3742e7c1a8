package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/hydrant-dev/hydrant/shards"
)

// A delivery that has not delivered records older than the stream's
// retention keeps them, and the behind-retention gauge says by how much;
// once it delivers them they are trimmed and the gauge is 0.
func TestRetentionPassReportsDeliveriesBehind(t *testing.T) {
	ctx := context.Background()
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: t.TempDir(), SyncAlways: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st, err := store.CreateStream(ctx, shards.StreamSpec{Name: "logs", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	seqs, err := st.Append(ctx, 0, []shards.Record{{PartitionKey: "k", Data: []byte("a")}})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.NewDelivery(prometheus.NewRegistry())
	targets := []catalog.RetentionTarget{{Stream: "logs", Retention: time.Hour, Readers: []string{"fast", "slow"}}}
	if err := store.SetCheckpoint(ctx, "fast", 0, seqs[0]); err != nil {
		t.Fatal(err)
	}
	// Retention goes by the log's own message times (the wall clock at the append).
	now := time.Now().Add(3 * time.Hour) // two hours past the retention
	logger := slog.New(slog.DiscardHandler)

	trimToRetention(ctx, targets, store, m, logger, now)
	if got := testutil.ToFloat64(m.BehindRetention.WithLabelValues("slow", "logs")); got < 7200 || got > 7260 {
		t.Errorf("slow: behind %v s, want 7200 (and the test's run time)", got)
	}
	if got := testutil.ToFloat64(m.BehindRetention.WithLabelValues("fast", "logs")); got != 0 {
		t.Errorf("fast: behind %v s, want 0", got)
	}
	if info, _ := store.ShardInfo(ctx, "logs", 0); info.Messages != 1 {
		t.Fatalf("%d messages kept, want the undelivered one", info.Messages)
	}

	if err := store.SetCheckpoint(ctx, "slow", 0, seqs[0]); err != nil {
		t.Fatal(err)
	}
	trimToRetention(ctx, targets, store, m, logger, now)
	if got := testutil.ToFloat64(m.BehindRetention.WithLabelValues("slow", "logs")); got != 0 {
		t.Errorf("slow after delivering: behind %v s, want 0", got)
	}
	if info, _ := store.ShardInfo(ctx, "logs", 0); info.Messages != 0 {
		t.Fatalf("%d messages kept after every delivery delivered them", info.Messages)
	}
}
