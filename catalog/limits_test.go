package catalog_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/shards"
)

// A restart whose log holds more than the limits allow (limits lowered, or
// a log written by the old main, where 11 CreateStream calls of 1,024
// shards killed the server and again on every restart) opens nothing and
// says which limit to raise; raised, everything is back.
func TestLoadPastTheLimits(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := &starter{}
	loadWith := func(maxStreams, maxShards int) (*shards.Store, *catalog.Catalog, error) {
		store, err := shards.Open(ctx, shards.StoreConfig{DataDir: dir, SyncAlways: true})
		if err != nil {
			t.Fatal(err)
		}
		c := catalog.New(catalog.Options{Store: store, Start: st.start, MaxStreams: maxStreams, MaxShards: maxShards})
		return store, c, c.Load(ctx)
	}
	store, c, err := loadWith(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if err := c.CreateStream(ctx, name, 4, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CreateDelivery(ctx, awsapi.DeliverySpec{Name: "d", Bucket: "lake", SizeInMBs: 1}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	store.Close()

	tests := []struct {
		name                  string
		maxStreams, maxShards int
		want                  string // "" loads
	}{
		{"streams past max_streams", 2, 100, "more than storage.max_streams (2): raise it to at least 3"},
		{"shards past max_shards", 10, 8, "9 shards in all, more than storage.max_shards (8): raise it to at least 9"},
		{"within the limits", 3, 9, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, c, err := loadWith(tt.maxStreams, tt.maxShards)
			defer store.Close()
			defer c.Close()
			n, shards := store.Counts()
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Load: %v; want %q", err, tt.want)
				}
				if n != 0 || st.running.Load() != 0 {
					t.Fatalf("%d streams opened, %d deliveries running past the limit", n, st.running.Load())
				}
				return
			}
			if err != nil || n != 3 || shards != 9 {
				t.Fatalf("Load: %v; %d streams, %d shards", err, n, shards)
			}
		})
	}
}

// A name Kinesis takes but the shard log cannot hold (128 dots) is
// InvalidArgumentException, not a failure of the log (a 500 on the old
// main).
func TestCreateStreamNameTooLongForTheLog(t *testing.T) {
	store, c := open(t, t.TempDir(), nil, nil)
	defer store.Close()
	defer c.Close()
	ctx := context.Background()
	tests := []struct {
		name   string
		shards int
		want   error
	}{
		{strings.Repeat(".", 128), 1, awsapi.ErrInvalid},
		{strings.Repeat("_", 124), 1, awsapi.ErrInvalid},
		{strings.Repeat("a_", 64), 16, nil},
		{strings.Repeat("a", 128), 1, nil},
	}
	for _, tt := range tests {
		if err := c.CreateStream(ctx, tt.name, tt.shards, ""); !errors.Is(err, tt.want) {
			t.Errorf("CreateStream(%d characters, %d shards): %v; want %v", len(tt.name), tt.shards, err, tt.want)
		}
	}
}
