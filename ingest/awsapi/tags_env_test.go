package awsapi_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/shards"
)

// controlEnv serves the AWS APIs as hydrant serve wires them — the catalog
// as catalog and control plane — over a real shard log in dir, which
// restart closes and opens again. "declared" is a stream of 2 shards and
// "declared-firehose" a DirectPut delivery stream the config declares.
// Created delivery streams run under a recording starter.
type controlEnv struct {
	t       *testing.T
	dir     string
	opts    controlOptions
	store   *shards.Store
	cat     *catalog.Catalog
	hs      *httptest.Server
	kin     *kinesis.Client
	fh      *firehose.Client
	started *specs
}

// controlOptions vary a controlEnv.
type controlOptions struct {
	encryptionKey         string
	maxStreams, maxShards int
	nats, node            string // the store's NATS server and node name; "": the embedded log in dir
}

// specs records the delivery streams the catalog starts and stops.
type specs struct {
	mu      sync.Mutex
	started []awsapi.DeliverySpec
	running map[string]int
}

func (s *specs) start(spec awsapi.DeliverySpec, _ *shards.Stream) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = append(s.started, spec)
	s.running[spec.Name]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.running[spec.Name]--
		})
	}, nil
}

// last returns the spec name was last started with and how many of it run.
func (s *specs) last(name string) (awsapi.DeliverySpec, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.started) - 1; i >= 0; i-- {
		if s.started[i].Name == name {
			return s.started[i], s.running[name]
		}
	}
	return awsapi.DeliverySpec{}, 0
}

func newControlEnv(t *testing.T, opts controlOptions) *controlEnv {
	t.Helper()
	e := &controlEnv{t: t, dir: t.TempDir(), opts: opts, started: &specs{running: map[string]int{}}}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *controlEnv) open() {
	t := e.t
	t.Helper()
	ctx := context.Background()
	cfg := shards.StoreConfig{DataDir: e.dir, SyncAlways: true, EncryptionKey: e.opts.encryptionKey}
	if e.opts.nats != "" {
		cfg = shards.StoreConfig{NATS: &shards.NATSConfig{URL: e.opts.nats, Replicas: 1, Name: e.opts.node}}
	}
	store, err := shards.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cat := catalog.New(catalog.Options{Store: store, Start: e.started.start, MaxStreams: e.opts.maxStreams, MaxShards: e.opts.maxShards})
	declared, err := store.CreateStream(ctx, shards.StreamSpec{Name: "declared", Shards: 2, Limits: generous})
	if err != nil {
		t.Fatal(err)
	}
	cat.AddDeclaredStream(awsapi.Stream{Name: "declared", Log: declared, Retention: 24 * time.Hour, Created: declared.Created()})
	fhLog, err := store.CreateStream(ctx, shards.StreamSpec{Name: "declared-firehose", Shards: 1, Limits: generous})
	if err != nil {
		t.Fatal(err)
	}
	cat.AddDeclaredDelivery(awsapi.Delivery{Name: "declared-firehose", Log: fhLog, Created: fhLog.Created(),
		Destination: awsapi.Destination{BucketARN: "arn:aws:s3:::lake", CompressionFormat: "UNCOMPRESSED", SizeInMBs: 5, IntervalInSeconds: 60}}, 24*time.Hour)
	if err := cat.Load(ctx); err != nil {
		t.Fatal(err)
	}
	api := awsapi.New(cat, store, awsapi.Options{Control: cat})
	native, err := ingest.NewServer(ingest.Limits{MaxRequestSize: 16 << 20, MaxRecordSize: 1000 << 10}, nil, nil, ingest.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	native.HandleAWS(api)
	e.store, e.cat, e.hs = store, cat, httptest.NewServer(native.Handler())
	e.kin, e.fh = kinesisClient(e.hs.URL, "AKIDEXAMPLE", "secret"), firehoseClient(e.hs.URL, "AKIDEXAMPLE", "secret")
}

func (e *controlEnv) close() {
	if e.hs == nil {
		return
	}
	e.hs.Close()
	e.cat.Close()
	e.store.Close()
	e.hs = nil
}

// restart stops the server and opens it again on the same shard log.
func (e *controlEnv) restart() {
	e.t.Helper()
	e.close()
	e.open()
}
