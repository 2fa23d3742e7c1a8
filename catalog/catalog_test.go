package catalog_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/shards"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// starter counts the deliveries it runs and stops.
type starter struct{ running atomic.Int32 }

func (s *starter) start(awsapi.DeliverySpec, *shards.Stream) (func(), error) {
	s.running.Add(1)
	stopped := false
	return func() {
		if !stopped {
			stopped = true
			s.running.Add(-1)
		}
	}, nil
}

func open(t *testing.T, dir string, st *starter, targets catalog.Targets) (*shards.Store, *catalog.Catalog) {
	t.Helper()
	store, err := shards.Open(context.Background(), shards.StoreConfig{DataDir: dir, SyncAlways: true})
	if err != nil {
		t.Fatal(err)
	}
	opts := catalog.Options{Store: store, Targets: targets}
	if st != nil {
		opts.Start = st.start
	}
	c := catalog.New(opts)
	if err := c.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return store, c
}

func TestCreatedThingsSurviveRestarts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := &starter{}
	targets, _ := ingest.NewServer(ingest.Limits{MaxRequestSize: 1 << 20, MaxRecordSize: 1000}, nil, nil, ingest.Settings{})
	store, c := open(t, dir, st, targets)
	names := []string{"orders", "a..b", ".dotted."}
	for _, n := range names {
		if err := c.CreateStream(ctx, n, 2, ""); err != nil {
			t.Fatalf("create %q: %v", n, err)
		}
	}
	if err := c.CreateStream(ctx, "orders", 2, ""); !errors.Is(err, awsapi.ErrExists) {
		t.Fatalf("creating twice: %v", err)
	}
	if err := c.SetRetention(ctx, "orders", 72*time.Hour); err != nil {
		t.Fatal(err)
	}
	spec := awsapi.DeliverySpec{Name: "clicks", Bucket: "lake", Compression: "none", SizeInMBs: 1, IntervalInSeconds: 60}
	if err := c.CreateDelivery(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateDelivery(ctx, spec); !errors.Is(err, awsapi.ErrExists) {
		t.Fatalf("creating a delivery twice: %v", err)
	}
	if st.running.Load() != 1 {
		t.Fatalf("%d deliveries running, want 1", st.running.Load())
	}
	log, _ := c.Delivery("clicks")
	if _, err := log.Log.Append(ctx, 0, []shards.Record{{PartitionKey: "k", Data: []byte("kept")}}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	store.Close()
	if st.running.Load() != 0 {
		t.Fatal("Close left a delivery running")
	}

	// After a restart: all there, the delivery running again, its record kept.
	store, c = open(t, dir, st, targets)
	for _, n := range names {
		if _, ok := c.Stream(n); !ok {
			t.Fatalf("stream %q lost in the restart", n)
		}
	}
	if s, _ := c.Stream("orders"); s.Retention != 72*time.Hour || s.Log.Shards() != 2 {
		t.Fatalf("orders after restart: %+v", s)
	}
	if _, ok := c.Delivery("clicks"); !ok || st.running.Load() != 1 {
		t.Fatalf("delivery after restart: found %v, %d running", ok, st.running.Load())
	}
	if info, _ := store.ShardInfo(ctx, "clicks", 0); info.Messages != 1 {
		t.Fatalf("the delivery's record was lost in the restart: %+v", info)
	}

	// Deleted: gone now and after a restart.
	if err := c.DeleteStream(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := store.PutMeta(ctx, pipeline.ReplayKey("clicks"), []byte("2")); err != nil { // reset twice
		t.Fatal(err)
	}
	if err := c.DeleteDelivery(ctx, "clicks"); err != nil {
		t.Fatal(err)
	}
	if st.running.Load() != 0 {
		t.Fatal("DeleteDelivery left the delivery running")
	}
	if v, _, err := store.GetMeta(ctx, pipeline.ReplayKey("clicks")); v != nil || err != nil {
		t.Fatalf("DeleteDelivery kept the replay count: %q %v", v, err)
	}
	c.Close()
	store.Close()
	store, c = open(t, dir, st, targets)
	defer store.Close()
	defer c.Close()
	if _, ok := c.Stream("orders"); ok {
		t.Fatal("a deleted stream came back")
	}
	if _, ok := c.Delivery("clicks"); ok {
		t.Fatal("a deleted delivery came back")
	}
}

// A created delivery whose S3 settings left the config keeps its records
// and takes puts; nothing is deleted, nothing panics.
func TestDeliveryThatCannotStartKeepsItsData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, c := open(t, dir, &starter{}, nil)
	if err := c.CreateDelivery(ctx, awsapi.DeliverySpec{Name: "clicks", Bucket: "lake", SizeInMBs: 1}); err != nil {
		t.Fatal(err)
	}
	d, _ := c.Delivery("clicks")
	d.Log.Append(ctx, 0, []shards.Record{{PartitionKey: "k", Data: []byte("kept")}})
	c.Close()
	store.Close()

	store, c = open(t, dir, nil, nil) // no Start: firehose_api.s3 removed
	defer store.Close()
	defer c.Close()
	d, ok := c.Delivery("clicks")
	if !ok {
		t.Fatal("the delivery is gone")
	}
	if info, _ := store.ShardInfo(ctx, "clicks", 0); info.Messages != 1 {
		t.Fatalf("records lost: %+v", info)
	}
	if _, err := d.Log.Append(ctx, 0, []shards.Record{{PartitionKey: "k", Data: []byte("more")}}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateDelivery(ctx, awsapi.DeliverySpec{Name: "other", Bucket: "lake"}); !errors.Is(err, awsapi.ErrDisabled) {
		t.Fatalf("creating without S3 settings: %v", err)
	}
}

func TestDeclaredThingsCannotBeChanged(t *testing.T) {
	ctx := context.Background()
	store, c := open(t, t.TempDir(), &starter{}, nil)
	defer store.Close()
	defer c.Close()
	log, err := store.CreateStream(ctx, shards.StreamSpec{Name: "declared", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.AddDeclaredStream(awsapi.Stream{Name: "declared", Log: log, Retention: 24 * time.Hour})
	c.AddDeclaredDelivery(awsapi.Delivery{Name: "declared-archive", Source: "declared"}, 24*time.Hour)
	for name, err := range map[string]error{
		"delete stream":    c.DeleteStream(ctx, "declared"),
		"set retention":    c.SetRetention(ctx, "declared", 48*time.Hour),
		"delete delivery":  c.DeleteDelivery(ctx, "declared-archive"),
		"create over name": c.CreateStream(ctx, "declared-archive", 1, ""),
	} {
		if !errors.Is(err, awsapi.ErrDeclared) && !errors.Is(err, awsapi.ErrExists) {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
	}
	targets := c.RetentionTargets()
	if len(targets) != 1 || targets[0].Stream != "declared" || len(targets[0].Readers) != 1 || targets[0].Readers[0] != "declared-archive" {
		t.Fatalf("retention targets = %+v", targets)
	}
}
