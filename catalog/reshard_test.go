package catalog_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/shards"
)

// Reshards through the catalog stay within max_shards, and what they leave
// is what a restart opens and counts: a created stream's open shards and
// the count it was scaled to; a declared stream keeps the count its config
// asks for.
func TestReshardsWithinTheLimitsAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	load := func(maxShards int) (*shards.Store, *catalog.Catalog, error) {
		store, err := shards.Open(ctx, shards.StoreConfig{DataDir: dir, SyncAlways: true})
		if err != nil {
			t.Fatal(err)
		}
		c := catalog.New(catalog.Options{Store: store, MaxShards: maxShards})
		return store, c, c.Load(ctx)
	}
	store, c, err := load(5)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CreateStream(ctx, "orders", 2, shards.Provisioned); err != nil {
		t.Fatal(err)
	}
	declared, err := store.CreateStream(ctx, shards.StreamSpec{Name: "declared", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.AddDeclaredStream(awsapi.Stream{Name: "declared", Log: declared, Retention: 24 * time.Hour})
	mid := shards.NewShardMap(4).Range(1).Start // the middle of orders' shard 0

	steps := []struct {
		name string
		do   func() error
		want error // nil: done
		open int   // orders' open shards after
	}{
		{"split: 4 shards in all", func() error { return c.SplitShard(ctx, "orders", 0, mid) }, nil, 3},
		{"scale orders to 5: 6 in all, past 5", func() error { return c.UpdateShardCount(ctx, "orders", 5) }, awsapi.ErrLimit, 3},
		{"scale the declared stream to 2: 5 in all", func() error { return c.UpdateShardCount(ctx, "declared", 2) }, nil, 3},
		{"split again: past 5", func() error { return c.SplitShard(ctx, "orders", 1, shards.NewShardMap(4).Range(3).Start) }, awsapi.ErrLimit, 3},
		{"merge: fewer shards need no room", func() error { return c.MergeShards(ctx, "orders", 2, 3) }, nil, 2},
		{"scale orders to 3", func() error { return c.UpdateShardCount(ctx, "orders", 3) }, nil, 3},
		{"merge a closed shard", func() error { return c.MergeShards(ctx, "orders", 0, 1) }, shards.ErrReshard, 3},
		{"an unknown stream", func() error { return c.UpdateShardCount(ctx, "nope", 2) }, awsapi.ErrNotFound, 3},
		{"on demand", func() error { return c.SetStreamMode(ctx, "orders", shards.OnDemand) }, nil, 3},
	}
	for _, s := range steps {
		err := s.do()
		if (s.want == nil && err != nil) || (s.want != nil && !errors.Is(err, s.want)) {
			t.Fatalf("%s: %v, want %v", s.name, err, s.want)
		}
		if st, _ := c.Stream("orders"); st.Log.OpenShards() != s.open {
			t.Fatalf("%s: orders has %d open shards, want %d", s.name, st.Log.OpenShards(), s.open)
		}
	}
	if declared.Configured() != 1 || declared.OpenShards() != 2 {
		t.Fatalf("declared: %d configured, %d open; want the config's 1, 2 open", declared.Configured(), declared.OpenShards())
	}
	if err := c.SetRetention(ctx, "orders", 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	c.Close()
	store.Close()

	// orders has 3 open shards (scaled to 3), declared 2 but is not the
	// catalog's to open: a limit of 2 refuses, naming the 3.
	store, c, err = load(2)
	if err == nil || !strings.Contains(err.Error(), "3 shards in all") {
		t.Fatalf("Load under a limit of 2: %v", err)
	}
	c.Close()
	store.Close()
	store, c, err = load(3)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	defer c.Close()
	st, ok := c.Stream("orders")
	if !ok || st.Log.OpenShards() != 3 || st.Log.Configured() != 3 || st.Retention != 48*time.Hour ||
		st.Log.Lineage().Capacity != shards.OnDemand {
		t.Fatalf("orders after the restart: %d open, %d configured, retention %v, %s", st.Log.OpenShards(), st.Log.Configured(),
			st.Retention, st.Log.Lineage().Capacity)
	}
}

// CreateStream's capacity mode is the new stream's.
func TestCreateStreamOnDemand(t *testing.T) {
	store, c := open(t, t.TempDir(), nil, nil)
	defer store.Close()
	defer c.Close()
	if err := c.CreateStream(context.Background(), "auto", 4, shards.OnDemand); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Stream("auto"); st.Log.Lineage().Capacity != shards.OnDemand || st.Log.OpenShards() != 4 {
		t.Fatalf("auto: %s, %d shards", st.Log.Lineage().Capacity, st.Log.OpenShards())
	}
}
