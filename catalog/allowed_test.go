package catalog_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/shards"
)

// firehose_api.allowed_buckets bounds where a delivery stream created
// through the API may write: without it, any caller allowed
// CreateDeliveryStream could point one at any bucket the operator's S3
// credentials reach.
func TestCreateDeliveryOnlyIntoAllowedBuckets(t *testing.T) {
	ctx := context.Background()
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: t.TempDir(), SyncAlways: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st := &starter{}
	c := catalog.New(catalog.Options{Store: store, Start: st.start, AllowedBuckets: []string{"logs", "audit/team-a/*"}})
	if err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		name, bucket, prefix, errPrefix string
		allowed                         bool
	}{
		{"whole bucket", "logs", "anything/", "errors/", true},
		{"prefix under the glob", "audit", "team-a/x/", "team-a/errors/", true},
		{"another bucket", "payroll", "", "", false},
		{"bucket name with the allowed one as prefix", "logs-private", "", "", false},
		{"another prefix", "audit", "team-b/", "team-a/errors/", false},
		{"error prefix elsewhere", "audit", "team-a/", "team-b/errors/", false},
		{"empty prefix", "audit", "", "", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "d" + string(rune('a'+i))
			err := c.CreateDelivery(ctx, awsapi.DeliverySpec{Name: name, Bucket: tt.bucket, Prefix: tt.prefix, ErrorOutputPrefix: tt.errPrefix, SizeInMBs: 1})
			_, exists := c.Delivery(name)
			if tt.allowed != (err == nil) || exists != tt.allowed {
				t.Fatalf("err = %v, exists %v; want allowed %v", err, exists, tt.allowed)
			}
			if !tt.allowed && !errors.Is(err, awsapi.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid (InvalidArgumentException)", err)
			}
		})
	}
}

// CreateStream and CreateDeliveryStream stop at storage.max_streams and
// storage.max_shards (streams and shards in all), with LimitExceededException:
// on the old main, each call with 1,024 shards cost ≈65 MiB and 1,024 file
// descriptors, without bound, and about 11 of them killed the server.
func TestCreateStopsAtLimits(t *testing.T) {
	ctx := context.Background()
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: t.TempDir(), SyncAlways: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st := &starter{}
	c := catalog.New(catalog.Options{Store: store, Start: st.start, MaxStreams: 3, MaxShards: 8})
	if err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.CreateStream(ctx, "big", 9, ""); !errors.Is(err, awsapi.ErrLimit) {
		t.Fatalf("9 shards over a limit of 8: %v", err)
	}
	if err := c.CreateStream(ctx, "a", 6, ""); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateStream(ctx, "b", 3, ""); !errors.Is(err, awsapi.ErrLimit) {
		t.Fatalf("6+3 shards over a limit of 8: %v", err)
	}
	if err := c.CreateStream(ctx, "b", 1, ""); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateDelivery(ctx, awsapi.DeliverySpec{Name: "d", Bucket: "lake", SizeInMBs: 1}); err != nil {
		t.Fatal(err) // the third stream, the 8th shard
	}
	if err := c.CreateStream(ctx, "c", 1, ""); !errors.Is(err, awsapi.ErrLimit) {
		t.Fatalf("a fourth stream over a limit of 3: %v", err)
	}
	if n, total := store.Counts(); n != 3 || total != 8 {
		t.Fatalf("store holds %d streams, %d shards", n, total)
	}
}
