package capacity_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/capacity"
	"github.com/hydrant-dev/hydrant/shards"
)

// loadEnv is a store on a fake clock with one stream, a scaler of the
// store, and producers of random keys.
type loadEnv struct {
	ctx context.Context
	// clock is written by the test's goroutine only, under mu, which the
	// store's goroutines (a log rolling its segment) read it under.
	mu     sync.Mutex
	clock  time.Time
	store  *shards.Store
	st     *shards.Stream
	scaler *capacity.Scaler
	rng    *rand.Rand
}

func newLoadEnv(t *testing.T, spec shards.StreamSpec, cfg capacity.Config) *loadEnv {
	t.Helper()
	e := &loadEnv{ctx: context.Background(), clock: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), rng: rand.New(rand.NewPCG(1, 2))}
	now := func() time.Time {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.clock
	}
	store, err := shards.Open(e.ctx, shards.StoreConfig{DataDir: t.TempDir(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if e.st, err = store.CreateStream(e.ctx, spec); err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Now = store, now
	e.store, e.scaler = store, capacity.New(cfg)
	return e
}

// second puts perSecond records of random keys over one second of the
// fake clock, in tenths, then ticks the scaler; it returns the records
// refused.
func (e *loadEnv) second(perSecond int) (throttled int) {
	for range 10 {
		recs := make([]shards.Record, perSecond/10)
		for i := range recs {
			recs[i] = shards.Record{PartitionKey: strconv.FormatUint(e.rng.Uint64(), 36), Data: []byte("x")}
		}
		for _, r := range e.st.Put(e.ctx, e.clock, recs) {
			if r.Err != nil {
				throttled++
			}
		}
		e.mu.Lock()
		e.clock = e.clock.Add(100 * time.Millisecond)
		e.mu.Unlock()
	}
	e.scaler.Tick(e.ctx)
	return throttled
}

// TestOnDemandFollowsLoad ramps the load on an on-demand stream from one
// shard's worth to forty, holds it, then stops: the stream splits until
// nothing is throttled and merges back to its one configured shard once
// quiet. A shard's quota is 100 records/s, so that the ramp (100 → 4,000
// records/s) runs in a moment.
func TestOnDemandFollowsLoad(t *testing.T) {
	e := newLoadEnv(t, shards.StreamSpec{Name: "auto", Shards: 1, Capacity: shards.OnDemand,
		Limits: shards.Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 100}},
		capacity.Config{SplitAfter: 3 * time.Second, MergeAfter: 30 * time.Second})
	var reacted time.Duration // from the start of the ramp to the last throttled second
	start := e.clock
	for s := 1; s <= 40; s++ {
		if e.second(100*s) > 0 {
			reacted = e.clock.Sub(start)
		}
	}
	for range 20 {
		if e.second(4000) > 0 {
			reacted = e.clock.Sub(start)
		}
	}
	throttled := 0
	for range 10 {
		throttled += e.second(4000)
	}
	open := e.st.OpenShards()
	t.Logf("at 4,000 records/s: %d open shards; throttling stopped %v into the ramp", open, reacted)
	if throttled > 0 || open < 40 || open > 128 {
		t.Fatalf("at 4,000 records/s (40 shards' worth) the stream has %d open shards and throttled %d records in its last 10 s", open, throttled)
	}
	// Quiet: the shards merge back, down to the configured one.
	quiet := e.clock
	for e.st.OpenShards() > 1 {
		if e.clock.Sub(quiet) > 20*time.Minute {
			t.Fatalf("%d open shards %v after the load stopped", e.st.OpenShards(), e.clock.Sub(quiet))
		}
		e.second(0)
	}
	t.Logf("back to 1 shard %v after the load stopped", e.clock.Sub(quiet))
}

// A provisioned stream is left alone, however throttled, until it is
// switched to on_demand.
func TestProvisionedStreamNotScaled(t *testing.T) {
	e := newLoadEnv(t, shards.StreamSpec{Name: "fixed", Shards: 1, Limits: shards.Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 10}},
		capacity.Config{})
	for range 20 {
		e.second(100)
	}
	if e.st.OpenShards() != 1 {
		t.Fatalf("provisioned stream resharded to %d shards", e.st.OpenShards())
	}
	if err := e.store.SetCapacity(e.ctx, "fixed", shards.OnDemand); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		e.second(100)
	}
	if e.st.OpenShards() < 2 {
		t.Fatalf("after switching to on_demand: %d open shards", e.st.OpenShards())
	}
}

// Quiet shards merge until the merged ones are not quiet: 8 shards at 15%
// of their quota become 4 at 30%, and stay 4 (a merged shard is measured
// before it may merge again).
func TestOnDemandMergesOnlyQuietShards(t *testing.T) {
	e := newLoadEnv(t, shards.StreamSpec{Name: "steady", Shards: 1, Capacity: shards.OnDemand,
		Limits: shards.Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 1000}},
		capacity.Config{MergeAfter: 30 * time.Second})
	if err := e.store.UpdateShardCount(e.ctx, "steady", 8, false); err != nil {
		t.Fatal(err)
	}
	throttled := 0
	for range 180 { // three minutes at 1,200 records/s: 15% of 8 shards' quota
		throttled += e.second(1200)
	}
	if open := e.st.OpenShards(); open != 4 || throttled > 0 {
		t.Fatalf("after three minutes at 15%% of 8 shards: %d open shards, %d records throttled; want 4 and none", open, throttled)
	}
}
