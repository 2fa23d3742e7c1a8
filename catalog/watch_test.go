package catalog_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/internal/testnats"
	"github.com/hydrant-dev/hydrant/shards"
)

// watchWithin is how soon a node sees what another node changed: the watch
// brings it in well under a second; the bound is generous for a loaded
// machine.
const watchWithin = 5 * time.Second

// runningSpecs is a node's Starter that keeps what runs there, by name.
type runningSpecs struct {
	mu      sync.Mutex
	running map[string]awsapi.DeliverySpec
	logs    map[string]*shards.Stream
}

func (r *runningSpecs) start(spec awsapi.DeliverySpec, log *shards.Stream) (func(), error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running[spec.Name], r.logs[spec.Name] = spec, log
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			delete(r.running, spec.Name)
			r.mu.Unlock()
		})
	}, nil
}

func (r *runningSpecs) spec(name string) (awsapi.DeliverySpec, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.running[name]
	return s, ok
}

// clusterNode is one node's store and catalog on a shared NATS server.
type clusterNode struct {
	store   *shards.Store
	cat     *catalog.Catalog
	run     *runningSpecs
	targets *ingest.Server
}

func openClusterNode(t *testing.T, url, name string) *clusterNode {
	t.Helper()
	return openNode(t, url, name, true)
}

// openNode opens a node that watches what other nodes change, or not:
// one that does not never opens their creations, so that a create of the
// same name on it meets only the shared definitions.
func openNode(t *testing.T, url, name string, watch bool) *clusterNode {
	t.Helper()
	store, err := shards.Open(context.Background(), shards.StoreConfig{NATS: &shards.NATSConfig{URL: url, Replicas: 1, Name: name}})
	if err != nil {
		t.Fatal(err)
	}
	targets, _ := ingest.NewServer(ingest.Limits{MaxRequestSize: 1 << 20, MaxRecordSize: 1000}, nil, nil, ingest.Settings{})
	n := &clusterNode{store: store, run: &runningSpecs{running: map[string]awsapi.DeliverySpec{}, logs: map[string]*shards.Stream{}},
		targets: targets}
	n.cat = catalog.New(catalog.Options{Store: store, Targets: targets, Start: n.run.start, Watch: watch})
	if err := n.cat.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.cat.Close()
		store.Close()
	})
	return n
}

// putNative puts one record to name through n's native API and returns the
// status.
func putNative(t *testing.T, n *clusterNode, name string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	n.targets.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/streams/"+name+"/records", strings.NewReader(`{"n":1}`+"\n")))
	return rec.Code
}

// A stream and a delivery stream created through the APIs on node a open
// on node b without a restart: b takes puts to them, runs the delivery
// stream, restarts it with a's UpdateDestination and stops it, and closes
// the stream, when a deletes them.
func TestWatchOpensWhatAnotherNodeCreated(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx := context.Background()
	srv := testnats.StartOne(t)
	a := openClusterNode(t, srv.URL(), "a")
	b := openClusterNode(t, srv.URL(), "b")

	t0 := time.Now()
	if err := a.cat.CreateStream(ctx, "orders", 2, ""); err != nil {
		t.Fatal(err)
	}
	await.Cond(t, watchWithin, "b to open orders", func() bool { _, ok := b.cat.Stream("orders"); return ok })
	t.Logf("a stream created on a was open on b %v later", time.Since(t0).Round(time.Millisecond))
	s, _ := b.cat.Stream("orders")
	if _, err := s.Log.Append(ctx, 1, []shards.Record{{PartitionKey: "k", Data: []byte("put on b")}}); err != nil {
		t.Fatalf("put on b: %v", err)
	}
	if code := putNative(t, b, "orders"); code != http.StatusOK {
		t.Errorf("a native put to orders on b: %d, want 200", code)
	}
	got, err := a.store.Read(ctx, "orders", 1, 0, 10, 1<<20)
	if err != nil || len(got.Records) == 0 || string(got.Records[0].Data) != "put on b" {
		t.Fatalf("a reads %+v, %v; want the record put on b", got.Records, err)
	}

	spec := awsapi.DeliverySpec{Name: "clicks", Bucket: "lake", Compression: "none", SizeInMBs: 1, IntervalInSeconds: 60}
	if err := a.cat.CreateDelivery(ctx, spec); err != nil {
		t.Fatal(err)
	}
	await.Cond(t, watchWithin, "b to run clicks", func() bool { got, ok := b.run.spec("clicks"); return ok && got == spec })
	if code := putNative(t, b, "clicks"); code != http.StatusOK {
		t.Errorf("a native put to clicks on b: %d, want 200", code)
	}

	interval := 10
	if err := a.cat.UpdateDestination(ctx, "clicks", 1, awsapi.DestinationUpdate{IntervalInSeconds: &interval}); err != nil {
		t.Fatal(err)
	}
	await.Cond(t, watchWithin, "b to run clicks' version 2", func() bool {
		got, _ := b.run.spec("clicks")
		d, _ := b.cat.Delivery("clicks")
		return got.IntervalInSeconds == 10 && d.Version == 2
	})

	if err := a.cat.DeleteDelivery(ctx, "clicks"); err != nil {
		t.Fatal(err)
	}
	await.Cond(t, watchWithin, "b to stop clicks", func() bool {
		_, running := b.run.spec("clicks")
		_, known := b.cat.Delivery("clicks")
		return !running && !known
	})
	if err := a.cat.DeleteStream(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	await.Cond(t, watchWithin, "b to close orders", func() bool { _, ok := b.cat.Stream("orders"); return !ok })
	if code := putNative(t, b, "orders"); code != http.StatusNotFound {
		t.Errorf("a native put to orders on b after a deleted it: %d, want 404", code)
	}
}

// A node that starts after the others created things opens them at Load,
// and what it created itself comes back through its own watch as a no-op.
func TestWatchOwnChangesAreNoOps(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx := context.Background()
	srv := testnats.StartOne(t)
	a := openClusterNode(t, srv.URL(), "a")
	if err := a.cat.CreateDelivery(ctx, awsapi.DeliverySpec{Name: "clicks", Bucket: "lake", SizeInMBs: 1, IntervalInSeconds: 60}); err != nil {
		t.Fatal(err)
	}
	b := openClusterNode(t, srv.URL(), "b")
	if _, ok := b.run.spec("clicks"); !ok {
		t.Fatal("b did not start clicks at Load")
	}
	first := b.run.logs["clicks"]
	if err := b.cat.CreateStream(ctx, "orders", 1, ""); err != nil {
		t.Fatal(err)
	}
	await.Cond(t, watchWithin, "a to open orders", func() bool { _, ok := a.cat.Stream("orders"); return ok })
	orders, _ := b.cat.Stream("orders")
	// b's watch brings changes in order: once it opened a marker created
	// after orders, it has applied its own creation of orders too.
	if err := a.cat.CreateStream(ctx, "marker", 1, ""); err != nil {
		t.Fatal(err)
	}
	await.Cond(t, watchWithin, "b to open marker", func() bool { _, ok := b.cat.Stream("marker"); return ok })
	if now, _ := b.cat.Stream("orders"); now.Log != orders.Log {
		t.Error("b opened orders again on its own watch")
	}
	b.run.mu.Lock()
	defer b.run.mu.Unlock()
	if b.run.logs["clicks"] != first || len(b.run.running) != 1 {
		t.Errorf("b restarted clicks on its own watch: %v", b.run.running)
	}
}

// A stream created and deleted on a before b's watch gets to it is not
// opened on b, which would create its logs again: b reads the definition
// as it is now before opening anything.
func TestWatchCreatedThenDeleted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx := context.Background()
	srv := testnats.StartOne(t)
	a := openClusterNode(t, srv.URL(), "a")
	b := openClusterNode(t, srv.URL(), "b")
	for i := range 20 {
		if err := a.cat.CreateStream(ctx, "gone", 1, ""); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if err := a.cat.DeleteStream(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.cat.CreateStream(ctx, "marker", 1, ""); err != nil { // b's watch gets to it after the others
		t.Fatal(err)
	}
	await.Cond(t, watchWithin, "b to open marker", func() bool { _, ok := b.cat.Stream("marker"); return ok })
	if _, ok := b.cat.Stream("gone"); ok {
		t.Error("b has gone open")
	}
	names := a.store.JetStream().StreamNames(ctx)
	for name := range names.Name() {
		if strings.HasPrefix(name, "hydrant-gone-") {
			t.Errorf("JetStream stream %s is left of the deleted stream", name)
		}
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
}

// A create of a name some node created already is ResourceInUse on every
// node, even one that has not opened it (yet): what the first created —
// its records, its checkpoints, its definition — is left as it was. Two
// nodes creating one name at once: exactly one succeeds.
func TestCreateIsExclusiveAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx := context.Background()
	srv := testnats.StartOne(t)
	a := openClusterNode(t, srv.URL(), "a")
	b := openNode(t, srv.URL(), "b", false) // never opens what a creates

	spec := awsapi.DeliverySpec{Name: "clicks", Bucket: "lake", SizeInMBs: 1, IntervalInSeconds: 60}
	if err := a.cat.CreateDelivery(ctx, spec); err != nil {
		t.Fatal(err)
	}
	d, _ := a.cat.Delivery("clicks")
	seqs, err := d.Log.Append(ctx, 0, []shards.Record{{PartitionKey: "k", Data: []byte("acknowledged")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.store.SetCheckpoint(ctx, "clicks", 0, seqs[0]); err != nil {
		t.Fatal(err)
	}
	other := spec
	other.Bucket = "elsewhere"
	if err := b.cat.CreateDelivery(ctx, other); !errors.Is(err, awsapi.ErrExists) {
		t.Errorf("creating clicks again on b: %v, want %v", err, awsapi.ErrExists)
	}
	if err := b.cat.CreateStream(ctx, "clicks", 1, ""); !errors.Is(err, awsapi.ErrExists) {
		t.Errorf("creating a stream clicks on b: %v, want %v", err, awsapi.ErrExists)
	}
	if err := a.cat.CreateStream(ctx, "orders", 1, ""); err != nil {
		t.Fatal(err)
	}
	if err := b.cat.CreateDelivery(ctx, awsapi.DeliverySpec{Name: "orders", Bucket: "lake", SizeInMBs: 1, IntervalInSeconds: 60}); !errors.Is(err, awsapi.ErrExists) {
		t.Errorf("creating a delivery stream orders on b: %v, want %v", err, awsapi.ErrExists)
	}
	if err := b.cat.CreateStream(ctx, "orders", 2, ""); !errors.Is(err, awsapi.ErrExists) {
		t.Errorf("creating orders again on b: %v, want %v", err, awsapi.ErrExists)
	}
	if _, ok := b.run.spec("clicks"); ok {
		t.Error("b runs clicks")
	}
	got, err := a.store.Read(ctx, "clicks", 0, 0, 10, 1<<20)
	if err != nil || len(got.Records) != 1 || string(got.Records[0].Data) != "acknowledged" {
		t.Errorf("a reads %+v, %v; want the acknowledged record", got.Records, err)
	}
	if cp, err := a.store.Checkpoint(ctx, "clicks", 0); err != nil || cp != seqs[0] {
		t.Errorf("clicks' checkpoint: %v, %v; want %v", cp, err, seqs[0])
	}
	if running, _ := a.run.spec("clicks"); running.Bucket != "lake" {
		t.Errorf("a runs clicks into %q, want lake", running.Bucket)
	}

	for round := range 5 {
		name := fmt.Sprintf("race-%d", round)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, n := range []*clusterNode{a, b} {
			wg.Go(func() {
				errs[i] = n.cat.CreateDelivery(ctx, awsapi.DeliverySpec{Name: name, Bucket: "lake", SizeInMBs: 1, IntervalInSeconds: 60})
			})
		}
		wg.Wait()
		var ok, exists int
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, awsapi.ErrExists):
				exists++
			default:
				t.Errorf("%s: %v", name, err)
			}
		}
		if ok != 1 || exists != 1 {
			t.Errorf("%s created at once on a and b: %v; want one success and one %v", name, errs, awsapi.ErrExists)
		}
	}
}

// A delivery stream deleted and created again on a (a Terraform replace)
// before b's watch applies the deletion runs on b as created again, with
// its new destination, and a stream likewise with its new shard count.
func TestWatchRecreated(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx := context.Background()
	srv := testnats.StartOne(t)
	a := openClusterNode(t, srv.URL(), "a")
	b := openClusterNode(t, srv.URL(), "b")
	spec := awsapi.DeliverySpec{Name: "clicks", Bucket: "lake", Prefix: "old/", SizeInMBs: 1, IntervalInSeconds: 60}
	if err := a.cat.CreateDelivery(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if err := a.cat.CreateStream(ctx, "orders", 1, ""); err != nil {
		t.Fatal(err)
	}
	await.Cond(t, watchWithin, "b to run clicks and open orders", func() bool {
		_, running := b.run.spec("clicks")
		_, open := b.cat.Stream("orders")
		return running && open
	})

	release := catalog.HoldChanges(b.cat)
	if err := a.cat.DeleteDelivery(ctx, "clicks"); err != nil {
		t.Fatal(err)
	}
	if err := a.cat.DeleteStream(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	next := spec
	next.Bucket, next.Prefix = "lake2", "new/"
	if err := a.cat.CreateDelivery(ctx, next); err != nil {
		t.Fatal(err)
	}
	if err := a.cat.CreateStream(ctx, "orders", 3, ""); err != nil {
		t.Fatal(err)
	}
	release()
	await.Cond(t, watchWithin, "b to run the new clicks and open the new orders", func() bool {
		got, _ := b.run.spec("clicks")
		s, ok := b.cat.Stream("orders")
		return got == next && ok && s.Log.Shards() == 3
	})
	d, _ := b.cat.Delivery("clicks")
	if d.Destination.Prefix != "new/" {
		t.Errorf("b describes clicks with prefix %q, want new/", d.Destination.Prefix)
	}
}

// A creation interrupted between its claim and its end (its node stopped)
// leaves the name claimed: a create of it is ResourceInUse while the claim
// may still be under way, and takes it over once it is stale.
func TestStaleClaimTakenOver(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx := context.Background()
	srv := testnats.StartOne(t)
	a := openClusterNode(t, srv.URL(), "a")
	key := "stream." + base64.RawURLEncoding.EncodeToString([]byte("orders"))
	claim := func(at time.Time) {
		t.Helper()
		v := fmt.Sprintf(`{"name":"orders","shards":1,"retention":1,"id":"x","pending":true,"claimed":%q}`, at.Format(time.RFC3339Nano))
		if err := a.store.PutMeta(ctx, key, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	claim(time.Now())
	if err := a.cat.CreateStream(ctx, "orders", 1, ""); !errors.Is(err, awsapi.ErrExists) {
		t.Errorf("creating orders while another node's claim may be under way: %v, want %v", err, awsapi.ErrExists)
	}
	claim(time.Now().Add(-time.Hour))
	if err := a.cat.CreateStream(ctx, "orders", 2, ""); err != nil {
		t.Fatalf("creating orders over a stale claim: %v", err)
	}
	if s, ok := a.cat.Stream("orders"); !ok || s.Log.Shards() != 2 {
		t.Errorf("orders: %+v, %v; want it open with 2 shards", s, ok)
	}
}
