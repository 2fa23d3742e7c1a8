package catalog_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/shards"
)

// specStarter runs delivery streams, refusing those that write to bucket
// "refused"; it keeps the spec each runs.
type specStarter struct {
	running map[string]awsapi.DeliverySpec
}

func (s *specStarter) start(spec awsapi.DeliverySpec, _ *shards.Stream) (func(), error) {
	if spec.Bucket == "refused" {
		return nil, errors.New("bucket refused")
	}
	if _, ok := s.running[spec.Name]; ok {
		return nil, errors.New("started twice")
	}
	s.running[spec.Name] = spec
	return func() { delete(s.running, spec.Name) }, nil
}

func TestUpdateDestination(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := &specStarter{running: map[string]awsapi.DeliverySpec{}}
	openWith := func() (*shards.Store, *catalog.Catalog) {
		store, err := shards.Open(ctx, shards.StoreConfig{DataDir: dir, SyncAlways: true})
		if err != nil {
			t.Fatal(err)
		}
		c := catalog.New(catalog.Options{Store: store, Start: st.start, AllowedBuckets: []string{"lake", "refused", "archive/logs/*"}})
		if err := c.Load(ctx); err != nil {
			t.Fatal(err)
		}
		return store, c
	}
	store, c := openWith()
	if err := c.CreateDelivery(ctx, awsapi.DeliverySpec{Name: "clicks", Bucket: "lake", Compression: "none", SizeInMBs: 5, IntervalInSeconds: 300}); err != nil {
		t.Fatal(err)
	}
	interval, bucket := 10, "archive"
	prefix, errPrefix := "logs/2026/", "logs/errors/"
	if err := c.UpdateDestination(ctx, "clicks", 1, awsapi.DestinationUpdate{IntervalInSeconds: &interval, Bucket: &bucket, Prefix: &prefix,
		ErrorOutputPrefix: &errPrefix}); err != nil {
		t.Fatal(err)
	}
	want := awsapi.DeliverySpec{Name: "clicks", Bucket: "archive", Prefix: "logs/2026/", ErrorOutputPrefix: "logs/errors/", Compression: "none",
		SizeInMBs: 5, IntervalInSeconds: 10}
	if got := st.running["clicks"]; got != want || len(st.running) != 1 {
		t.Fatalf("running %+v, want %+v", st.running, want)
	}
	if d, _ := c.Delivery("clicks"); d.Version != 2 || d.Destination.BucketARN != "arn:aws:s3:::archive" || d.Destination.IntervalInSeconds != 10 {
		t.Fatalf("described as %+v (version %d)", d.Destination, d.Version)
	}

	for name, tt := range map[string]struct {
		version int
		update  awsapi.DestinationUpdate
		want    error
	}{
		"stale version":       {1, awsapi.DestinationUpdate{Prefix: &prefix}, awsapi.ErrVersion},
		"outside the allowed": {2, awsapi.DestinationUpdate{Prefix: new("elsewhere/")}, awsapi.ErrInvalid},
		"cannot start":        {2, awsapi.DestinationUpdate{Bucket: new("refused")}, awsapi.ErrInvalid},
	} {
		if err := c.UpdateDestination(ctx, "clicks", tt.version, tt.update); !errors.Is(err, tt.want) {
			t.Fatalf("%s: %v, want %v", name, err, tt.want)
		}
		// Refused: the delivery runs as before, at its version.
		if got := st.running["clicks"]; got != want {
			t.Fatalf("%s: running %+v, want %+v", name, got, want)
		}
		if d, _ := c.Delivery("clicks"); d.Version != 2 {
			t.Fatalf("%s: version %d", name, d.Version)
		}
	}
	if err := c.UpdateDestination(ctx, "nope", 1, awsapi.DestinationUpdate{}); !errors.Is(err, awsapi.ErrNotFound) {
		t.Fatalf("unknown delivery stream: %v", err)
	}

	// After a restart: the updated spec runs, at version 2.
	c.Close()
	store.Close()
	store, c = openWith()
	defer store.Close()
	defer c.Close()
	if got := st.running["clicks"]; got != want {
		t.Fatalf("after a restart running %+v, want %+v", got, want)
	}
	if d, _ := c.Delivery("clicks"); d.Version != 2 {
		t.Fatalf("after a restart: version %d", d.Version)
	}
}
