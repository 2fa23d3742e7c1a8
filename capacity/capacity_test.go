package capacity_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/capacity"
	"github.com/hydrant-dev/hydrant/shards"
)

// TestOnDemandFollowsLoad ramps the load on an on-demand stream from one
// shard's worth to forty, holds it, then stops: the stream splits until
// nothing is throttled and merges back to its one configured shard once
// quiet. Time is a fake clock and a shard's quota is 100 records/s, so
// that the ramp (100 → 4,000 records/s) runs in a moment.
func TestOnDemandFollowsLoad(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: t.TempDir(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st, err := store.CreateStream(ctx, shards.StreamSpec{Name: "auto", Shards: 1, Capacity: shards.OnDemand,
		Limits: shards.Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 100}})
	if err != nil {
		t.Fatal(err)
	}
	scaler := capacity.New(capacity.Config{Store: store, Now: now, SplitAfter: 3 * time.Second, MergeAfter: 30 * time.Second})
	rng := rand.New(rand.NewPCG(1, 2))
	// second puts perSecond records over one second of the fake clock, in
	// tenths, and ticks the scaler; it returns the records refused.
	second := func(perSecond int) (throttled int) {
		for range 10 {
			recs := make([]shards.Record, perSecond/10)
			for i := range recs {
				recs[i] = shards.Record{PartitionKey: strconv.FormatUint(rng.Uint64(), 36), Data: []byte("x")}
			}
			for _, r := range st.Put(ctx, clock, recs) {
				if r.Err != nil {
					throttled++
				}
			}
			clock = clock.Add(100 * time.Millisecond)
		}
		scaler.Tick(ctx)
		return throttled
	}
	var reacted time.Duration // from the first throttled second to the last
	start := clock
	for s := 1; s <= 40; s++ {
		if second(100*s) > 0 {
			reacted = clock.Sub(start)
		}
	}
	for range 20 {
		if n := second(4000); n > 0 {
			reacted = clock.Sub(start)
		}
	}
	throttled := 0
	for range 10 {
		throttled += second(4000)
	}
	open := st.OpenShards()
	t.Logf("at 4,000 records/s: %d open shards; throttling stopped %v into the ramp", open, reacted)
	if throttled > 0 || open < 40 || open > 128 {
		t.Fatalf("at 4,000 records/s (40 shards' worth) the stream has %d open shards and throttled %d records in its last 10 s", open, throttled)
	}
	// Quiet: the shards merge back, down to the configured one.
	quiet := clock
	for st.OpenShards() > 1 {
		if clock.Sub(quiet) > 20*time.Minute {
			t.Fatalf("%d open shards %v after the load stopped", st.OpenShards(), clock.Sub(quiet))
		}
		second(0)
	}
	t.Logf("back to 1 shard %v after the load stopped", clock.Sub(quiet))
	for _, sh := range st.Lineage().Shards {
		if !sh.IsOpen() && sh.Closed.Before(sh.Opened) {
			t.Fatalf("shard %d closed before it opened", sh.ID)
		}
	}
}

// A provisioned stream is left alone, however throttled.
func TestProvisionedStreamNotScaled(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: t.TempDir(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st, err := store.CreateStream(ctx, shards.StreamSpec{Name: "fixed", Shards: 1, Limits: shards.Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 10}})
	if err != nil {
		t.Fatal(err)
	}
	scaler := capacity.New(capacity.Config{Store: store, Now: now})
	for range 20 {
		st.Put(ctx, clock, make([]shards.Record, 100))
		clock = clock.Add(time.Second)
		scaler.Tick(ctx)
	}
	if st.OpenShards() != 1 {
		t.Fatalf("provisioned stream resharded to %d shards", st.OpenShards())
	}
	if err := store.SetCapacity(ctx, "fixed", shards.OnDemand); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		st.Put(ctx, clock, make([]shards.Record, 100))
		clock = clock.Add(time.Second)
		scaler.Tick(ctx)
	}
	if st.OpenShards() < 2 {
		t.Fatalf("after switching to on_demand: %d open shards", st.OpenShards())
	}
}

// Quiet shards merge until the merged ones are not quiet: 8 shards at 15%
// of their quota become 4 at 30%, and stay 4 (a merged shard is measured
// before it may merge again).
func TestOnDemandMergesOnlyQuietShards(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: t.TempDir(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st, err := store.CreateStream(ctx, shards.StreamSpec{Name: "steady", Shards: 1, Capacity: shards.OnDemand,
		Limits: shards.Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.UpdateShardCount(ctx, "steady", 8, false); err != nil {
		t.Fatal(err)
	}
	scaler := capacity.New(capacity.Config{Store: store, Now: now, MergeAfter: 30 * time.Second})
	rng := rand.New(rand.NewPCG(3, 4))
	throttled := 0
	for range 180 { // three minutes at 1,200 records/s: 15% of 8 shards' quota
		for range 10 {
			recs := make([]shards.Record, 120)
			for i := range recs {
				recs[i] = shards.Record{PartitionKey: strconv.FormatUint(rng.Uint64(), 36), Data: []byte("x")}
			}
			for _, r := range st.Put(ctx, clock, recs) {
				if r.Err != nil {
					throttled++
				}
			}
			clock = clock.Add(100 * time.Millisecond)
		}
		scaler.Tick(ctx)
	}
	if open := st.OpenShards(); open != 4 || throttled > 0 {
		t.Fatalf("after three minutes at 15%% of 8 shards: %d open shards, %d records throttled; want 4 and none", open, throttled)
	}
}
