package awsapi_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/hydrant-dev/hydrant/shards"
)

// fanEnv serves the Kinesis API as hydrant serve does — the catalog as
// catalog and control plane, an http.Server speaking HTTP/1.1 and h2c on a
// real listener — over a real shard log in dir, on a settable clock.
// "orders" is a declared stream of 4 shards.
type fanEnv struct {
	dir       string
	url       string
	store     *shards.Store
	clock     *clock
	kin       *kinesis.Client // HTTP/1.1
	kin2      *kinesis.Client // h2c
	streamARN string
	srv       *http.Server
	cat       *catalog.Catalog
	auth      awsapi.Authenticator // nil: none
	metrics   *metrics.Ingest
	inFlight  *ingest.InFlight
	nats      string // the store's NATS server; "": the embedded log in dir
	node      string // the store's node name on NATS
}

// serverTimeouts are the http.Server's read and write timeouts (hydrant
// serve's are 2 minutes).
var serverTimeouts = 2 * time.Minute

func newFanEnv(t testing.TB, fo awsapi.FanOutOptions) *fanEnv {
	t.Helper()
	e := &fanEnv{dir: t.TempDir(), clock: &clock{now: t0}}
	e.start(t, fo, serverTimeouts)
	return e
}

// start opens the store in e.dir and serves it; stop undoes it.
func (e *fanEnv) start(t testing.TB, fo awsapi.FanOutOptions, timeouts time.Duration) {
	t.Helper()
	ctx := context.Background()
	cfg := shards.StoreConfig{DataDir: e.dir, SyncAlways: true, Now: e.clock.Now}
	if e.nats != "" {
		cfg = shards.StoreConfig{NATS: &shards.NATSConfig{URL: e.nats, Replicas: 1, Name: e.node}, Now: e.clock.Now}
	}
	store, err := shards.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cat := catalog.New(catalog.Options{Store: store})
	if err := cat.Load(ctx); err != nil {
		t.Fatal(err)
	}
	orders, err := store.CreateStream(ctx, shards.StreamSpec{Name: "orders", Shards: 4, Limits: generous})
	if err != nil {
		t.Fatal(err)
	}
	cat.AddDeclaredStream(awsapi.Stream{Name: "orders", Log: orders, Retention: 24 * time.Hour, Created: orders.Created()})
	e.metrics = metrics.NewIngest(prometheus.NewRegistry())
	api := awsapi.New(cat, store, awsapi.Options{Control: cat, Now: e.clock.Now, FanOut: fo, Auth: e.auth, Metrics: e.metrics})
	native, err := ingest.NewServer(ingest.Limits{MaxRequestSize: 16 << 20, MaxRecordSize: 1000 << 10}, nil, nil, ingest.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	native.HandleAWS(api)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	e.inFlight = ingest.NewInFlight(256<<20, 16<<20)
	srv := &http.Server{Handler: e.inFlight.Wrap(native.Handler()), Protocols: &protocols,
		ReadTimeout: timeouts, WriteTimeout: timeouts, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	e.store, e.cat, e.srv = store, cat, srv
	e.url = "http://" + ln.Addr().String()
	e.kin = kinesisClient(e.url, "AKIDEXAMPLE", "secret")
	e.kin2 = e.h2cClient()
	e.streamARN = "arn:aws:kinesis:us-east-1:000000000000:stream/orders"
	t.Cleanup(func() { e.stop() })
}

// h2cClient returns a client of the env speaking h2c. A client serves one
// event stream at a time: the SDK's event stream decoder (smithy-go
// v1.28.9) is one per client, shared by its streams.
func (e *fanEnv) h2cClient() *kinesis.Client {
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	return kinesis.New(kinesis.Options{
		BaseEndpoint: aws.String(e.url), Region: "us-east-1", RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		HTTPClient:  &http.Client{Transport: &http.Transport{Protocols: &h2c}},
	})
}

func (e *fanEnv) stop() {
	if e.srv == nil {
		return
	}
	e.srv.Close()
	e.cat.Close()
	e.store.Close()
	e.srv = nil
}

// register registers a consumer of orders, checks it is CREATING, moves
// the clock past its activation and waits for DescribeStreamConsumer to
// say ACTIVE, as the KCL does.
func (e *fanEnv) register(t testing.TB, name string) types.Consumer {
	t.Helper()
	ctx := context.Background()
	out, err := e.kin.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(e.streamARN), ConsumerName: aws.String(name)})
	if err != nil {
		t.Fatalf("RegisterStreamConsumer %s: %v", name, err)
	}
	c := *out.Consumer
	if c.ConsumerStatus != types.ConsumerStatusCreating {
		t.Fatalf("registered consumer is %s, want CREATING", c.ConsumerStatus)
	}
	e.clock.Add(time.Second)
	d, err := e.kin.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: c.ConsumerARN})
	if err != nil {
		t.Fatal(err)
	}
	if d.ConsumerDescription.ConsumerStatus != types.ConsumerStatusActive {
		t.Fatalf("consumer %s is %s a second after it was registered", name, d.ConsumerDescription.ConsumerStatus)
	}
	c.ConsumerStatus = types.ConsumerStatusActive
	return c
}

// put puts records data… to orders' shard 0 (the partition key "a" maps
// there) and returns their sequence numbers.
func (e *fanEnv) put(t testing.TB, data ...string) []string {
	t.Helper()
	entries := make([]types.PutRecordsRequestEntry, len(data))
	for i, d := range data {
		entries[i] = types.PutRecordsRequestEntry{Data: []byte(d), PartitionKey: aws.String("a"), ExplicitHashKey: aws.String("0")}
	}
	out, err := e.kin.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String("orders"), Records: entries})
	if err != nil {
		t.Fatal(err)
	}
	seqs := make([]string, len(out.Records))
	for i, r := range out.Records {
		if r.ErrorCode != nil || aws.ToString(r.ShardId) != "shardId-000000000000" {
			t.Fatalf("put %d: %s %s", i, aws.ToString(r.ErrorCode), aws.ToString(r.ShardId))
		}
		seqs[i] = aws.ToString(r.SequenceNumber)
	}
	return seqs
}

// subscribe subscribes consumer to shard from pos.
func subscribe(t testing.TB, kin *kinesis.Client, consumer types.Consumer, shard string, pos types.StartingPosition) *kinesis.SubscribeToShardEventStream {
	t.Helper()
	out, err := kin.SubscribeToShard(context.Background(), &kinesis.SubscribeToShardInput{
		ConsumerARN: consumer.ConsumerARN, ShardId: aws.String(shard), StartingPosition: &pos})
	if err != nil {
		t.Fatalf("SubscribeToShard %s from %s: %v", shard, pos.Type, err)
	}
	stream := out.GetStream()
	t.Cleanup(func() { closeStream(stream) })
	return stream
}

// closeStream closes stream and waits for the SDK's reader of it to end:
// a client's streams share one event decoder (smithy-go), so the next
// stream on the same client must not start while this one still reads.
func closeStream(stream *kinesis.SubscribeToShardEventStream) {
	stream.Close()
	for range stream.Events() {
	}
}

// next returns the stream's next event, or ok false when it ended; it
// fails the test after 10 s without one.
func next(t testing.TB, stream *kinesis.SubscribeToShardEventStream) (types.SubscribeToShardEvent, bool) {
	t.Helper()
	select {
	case ev, ok := <-stream.Events():
		if !ok {
			return types.SubscribeToShardEvent{}, false
		}
		v, isEvent := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !isEvent {
			t.Fatalf("unexpected event %T", ev)
		}
		return v.Value, true
	case <-time.After(10 * time.Second):
		t.Fatal("no event for 10 s")
	}
	return types.SubscribeToShardEvent{}, false
}

// readRecords reads events until n records came, and returns their data
// and the last event.
func readRecords(t testing.TB, stream *kinesis.SubscribeToShardEventStream, n int) ([]string, types.SubscribeToShardEvent) {
	t.Helper()
	var got []string
	var last types.SubscribeToShardEvent
	for len(got) < n {
		ev, ok := next(t, stream)
		if !ok {
			t.Fatalf("the stream ended after %d records of %d (%v)", len(got), n, stream.Err())
		}
		for _, r := range ev.Records {
			got = append(got, string(r.Data))
		}
		last = ev
	}
	return got, last
}

// apiCode is the AWS error code of err ("" for none).
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return fmt.Sprintf("not an API error: %v", err)
	}
	return ""
}
