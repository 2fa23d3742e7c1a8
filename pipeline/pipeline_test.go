package pipeline_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/destinations/file"
	"github.com/hydrant-dev/hydrant/destinations/s3"
	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/shards"
	"github.com/hydrant-dev/hydrant/transform"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var generous = shards.Limits{BytesPerSecond: 1 << 30, RecordsPerSecond: 1_000_000}

type env struct {
	store  *shards.Store
	stream *shards.Stream
	ingest *httptest.Server
	out    string
}

func newEnv(t *testing.T, nShards int) *env {
	t.Helper()
	return newEnvOn(t, nShards, shards.StoreConfig{DataDir: t.TempDir(), SyncAlways: true})
}

// newEnvOn is newEnv on a store opened with cfg.
func newEnvOn(t *testing.T, nShards int, cfg shards.StoreConfig) *env {
	t.Helper()
	ctx := context.Background()
	store, err := shards.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	st, err := store.CreateStream(ctx, shards.StreamSpec{Name: "events", Shards: nShards, Limits: generous})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ingest.NewServer(ingest.Limits{MaxRequestSize: 16 << 20, MaxRecordSize: 1000 << 10},
		map[string]ingest.Target{"events": {Stream: st, PartitionKeyField: "/user"}}, nil, ingest.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &env{store: store, stream: st, ingest: hs, out: t.TempDir()}
}

func (e *env) put(t *testing.T, body string) {
	t.Helper()
	resp, err := http.Post(e.ingest.URL+"/v1/streams/events/records", "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("put: status %d", resp.StatusCode)
	}
}

func fileObjects(t *testing.T, dir string) *destinations.Objects {
	t.Helper()
	fs, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	o, err := destinations.NewObjects(fs, destinations.ObjectsConfig{Prefix: "data/", ErrorPrefix: "errors/!{firehose:error-output-type}/"})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// start runs the delivery until the test ends (or stop is called).
func start(t *testing.T, e *env, cfg pipeline.Config) (d *pipeline.Delivery, stop func()) {
	t.Helper()
	return startLogged(t, e, cfg, slog.New(slog.DiscardHandler))
}

// logCounter counts log records by message.
type logCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCounter) WithGroup(string) slog.Handler            { return c }
func (c *logCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[r.Message]++
	return nil
}
func (c *logCounter) count(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[msg]
}

func startLogged(t *testing.T, e *env, cfg pipeline.Config, logger *slog.Logger) (d *pipeline.Delivery, stop func()) {
	t.Helper()
	return startWith(t, e, cfg, pipeline.Settings{Logger: logger})
}

func startWith(t *testing.T, e *env, cfg pipeline.Config, set pipeline.Settings) (d *pipeline.Delivery, stop func()) {
	t.Helper()
	cfg.Stream = "events"
	if cfg.Name == "" {
		cfg.Name = "archive"
	}
	d = pipeline.New(cfg, e.store, set)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return d, stop
}

func lines(t *testing.T, dir, sub string) map[string][]string {
	t.Helper()
	return destinationtest.DeliveredLines(t, filepath.Join(dir, sub))
}

// awaitCheckpoint waits until delivery archive has checkpointed shard 0 at seq.
func awaitCheckpoint(t *testing.T, e *env, seq shards.Sequence, what string) {
	t.Helper()
	await.Cond(t, 5*time.Second, what, func() bool {
		cp, _ := e.store.Checkpoint(context.Background(), "archive", 0)
		return cp == seq
	})
}

// partitionedByUser returns an object destination whose prefix holds the
// partition key customer, and a transform that sets it from each record's
// "user" field, as the partition transform does.
func partitionedByUser(t *testing.T, e *env) (*destinations.Objects, transform.Transform) {
	t.Helper()
	fs, err := file.New(e.out)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := destinations.NewObjects(fs, destinations.ObjectsConfig{
		Prefix: "customer=!{partitionKeyFromQuery:customer}/", ErrorPrefix: "errors/!{firehose:error-output-type}/"})
	if err != nil {
		t.Fatal(err)
	}
	keyed := transform.Func(func(r buffer.Record) transform.Output {
		var v struct{ User string }
		json.Unmarshal(r.Data, &v)
		return transform.Output{Result: transform.Ok, Data: r.Data, PartitionKeys: map[string]string{"customer": v.User}}
	})
	return objs, keyed
}

func TestIngestToFilesPreservesShardOrder(t *testing.T) {
	e := newEnv(t, 3)
	start(t, e, pipeline.Config{
		Buffer:      buffer.Config{Size: 64 << 10, Interval: 200 * time.Millisecond},
		Destination: fileObjects(t, e.out),
		Errors:      fileObjects(t, e.out),
		Retry:       destinations.RetryConfig{Duration: time.Second},
	})
	const users, perRequest, requests = 20, 250, 8
	n := 0
	for range requests {
		var b strings.Builder
		for range perRequest {
			fmt.Fprintf(&b, "{\"user\":\"u%d\",\"n\":%d,\"pad\":%q}\n", n%users, n, strings.Repeat("x", 100))
			n++
		}
		e.put(t, b.String())
	}
	await.Cond(t, 20*time.Second, "all records in files", func() bool { return destinationtest.CountLines(lines(t, e.out, "data")) >= n })

	files := lines(t, e.out, "data")
	byShard := map[string][]string{}
	paths := slices.Sorted(func(yield func(string) bool) {
		for p := range files {
			if !yield(p) {
				return
			}
		}
	})
	for _, p := range paths {
		// archive-shardId-000000000001-<first sequence>.jsonl
		shard := strings.Split(filepath.Base(p), "-")[1] + "-" + strings.Split(filepath.Base(p), "-")[2]
		byShard[shard] = append(byShard[shard], files[p]...)
	}
	if len(byShard) < 2 {
		t.Fatalf("records reached %d shards, want them spread over 3", len(byShard))
	}
	m := shards.NewShardMap(3)
	seen := map[int]bool{}
	for shard, recs := range byShard {
		last := -1
		for _, line := range recs {
			var r struct {
				User string
				N    int
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("bad line %q: %v", line, err)
			}
			if r.N <= last {
				t.Fatalf("%s: record %d after %d: shard order not preserved", shard, r.N, last)
			}
			last = r.N
			if want := shards.ShardID(m.Shard(shards.HashPartitionKey(r.User))); want != shard {
				t.Fatalf("user %s delivered from %s, want %s", r.User, shard, want)
			}
			if seen[r.N] {
				t.Fatalf("record %d delivered twice", r.N)
			}
			seen[r.N] = true
		}
	}
	if len(seen) != n {
		t.Fatalf("delivered %d distinct records, want %d", len(seen), n)
	}
}

func TestShutdownFlushesAndCheckpoints(t *testing.T) {
	e := newEnv(t, 1)
	d, stop := start(t, e, pipeline.Config{
		Buffer:      buffer.Config{Size: 64 << 20, Interval: time.Hour},
		Destination: fileObjects(t, e.out),
		Errors:      fileObjects(t, e.out),
	})
	e.put(t, "{\"user\":\"a\"}\n{\"user\":\"b\"}\n")
	await.Cond(t, 10*time.Second, "records read into the buffer", func() bool { return d.Buffered() == 2 })
	if len(lines(t, e.out, "data")) != 0 {
		t.Fatal("records delivered before the interval or shutdown")
	}
	stop()
	if got := destinationtest.CountLines(lines(t, e.out, "data")); got != 2 {
		t.Fatalf("after shutdown %d lines delivered, want 2", got)
	}
	cp, err := e.store.Checkpoint(context.Background(), "archive", 0)
	if err != nil || cp != shards.MakeSequence(1, 1) {
		t.Fatalf("checkpoint = %v, %v; want the last record", cp, err)
	}
}

// s3Failing is an S3 endpoint that answers every request with a 500, the
// process edge where a destination outage is forced.
func s3Failing(t *testing.T, calls *atomic.Int32) string {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>boom</Message></Error>`)
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

func TestDestinationOutageGoesToErrorOutput(t *testing.T) {
	e := newEnv(t, 1)
	var calls atomic.Int32
	store, err := s3.New(s3.Config{Endpoint: s3Failing(t, &calls), Region: "us-east-1", Bucket: "bucket", AccessKeyID: "k", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	failing, err := destinations.NewObjects(store, destinations.ObjectsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	retry := destinations.RetryConfig{Duration: 500 * time.Millisecond, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	start(t, e, pipeline.Config{
		Buffer:      buffer.Config{Size: 1 << 20, Interval: 50 * time.Millisecond},
		Destination: destinations.Chain(failing, destinations.WithRetry(retry, slog.New(slog.DiscardHandler))),
		Errors:      fileObjects(t, e.out),
		Retry:       retry,
	})
	e.put(t, "{\"user\":\"a\",\"v\":1}\n{\"user\":\"a\",\"v\":2}\n")
	await.Cond(t, 20*time.Second, "error documents", func() bool { return destinationtest.CountLines(lines(t, e.out, "errors/delivery-failed")) == 2 })
	if calls.Load() < 2 {
		t.Fatalf("the destination was tried %d times; want retries", calls.Load())
	}
	for _, docs := range lines(t, e.out, "errors/delivery-failed") {
		for i, line := range docs {
			var doc struct {
				AttemptsMade     int    `json:"attemptsMade"`
				ArrivalTimestamp int64  `json:"arrivalTimestamp"`
				ErrorCode        string `json:"errorCode"`
				ErrorMessage     string `json:"errorMessage"`
				RawData          string `json:"rawData"`
				SequenceNumber   string `json:"sequenceNumber"`
			}
			if err := json.Unmarshal([]byte(line), &doc); err != nil {
				t.Fatalf("error document %q: %v", line, err)
			}
			raw, _ := base64.StdEncoding.DecodeString(doc.RawData)
			if want := fmt.Sprintf(`{"user":"a","v":%d}`, i+1); string(raw) != want {
				t.Errorf("rawData = %s, want %s", raw, want)
			}
			if doc.AttemptsMade < 2 || doc.ErrorCode != "DeliveryFailed" || !strings.Contains(doc.ErrorMessage, "boom") || doc.ArrivalTimestamp == 0 {
				t.Errorf("error document = %+v", doc)
			}
		}
	}
	awaitCheckpoint(t, e, shards.MakeSequence(1, 1), "checkpoint past the failed records")
}

func TestProcessingFailedRecordsGoToErrorOutput(t *testing.T) {
	e := newEnv(t, 1)
	// A user-written transform: drop "skip", fail "bad", upper-case the rest.
	tr := transform.Func(func(r buffer.Record) transform.Output {
		switch {
		case bytes.Contains(r.Data, []byte("skip")):
			return transform.Output{Result: transform.Dropped}
		case bytes.Contains(r.Data, []byte("bad")):
			return transform.Output{Result: transform.ProcessingFailed, ErrorCode: "Bad", ErrorMessage: "bad record"}
		}
		return transform.Output{Result: transform.Ok, Data: bytes.ToUpper(r.Data)}
	})
	m := metrics.NewDelivery(prometheus.NewRegistry())
	startWith(t, e, pipeline.Config{
		Buffer:      buffer.Config{Size: 1 << 20, Interval: 50 * time.Millisecond},
		Transform:   tr,
		Destination: fileObjects(t, e.out),
		Errors:      fileObjects(t, e.out),
	}, pipeline.Settings{Metrics: m})
	e.put(t, "{\"user\":\"ok\"}\n{\"user\":\"skip\"}\n{\"user\":\"bad\"}\n{\"user\":\"ok2\"}\n")
	await.Cond(t, 10*time.Second, "delivered and failed records", func() bool {
		return destinationtest.CountLines(lines(t, e.out, "data")) == 2 && destinationtest.CountLines(lines(t, e.out, "errors/processing-failed")) == 1
	})
	for _, l := range lines(t, e.out, "data") {
		if l[0] != `{"USER":"OK"}` || l[1] != `{"USER":"OK2"}` {
			t.Fatalf("delivered %q", l)
		}
	}
	awaitCheckpoint(t, e, shards.MakeSequence(1, 3), "checkpoint covers dropped and failed records")
	// The metrics count records, not batches: 2 delivered (27 bytes), 1 to the error output.
	if got := testutil.ToFloat64(m.Records.WithLabelValues("archive")); got != 2 {
		t.Errorf("delivered records metric = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.Bytes.WithLabelValues("archive")); got != 27 {
		t.Errorf("delivered bytes metric = %v, want 27", got)
	}
	if got := testutil.ToFloat64(m.ErrorOutputRecords.WithLabelValues("archive", "processing-failed")); got != 1 {
		t.Errorf("error output metric = %v, want 1", got)
	}
}

// Two deliveries reading one stream each get every record and keep their
// own checkpoints: a stopped one resumes where it was, the other is unaffected.
func TestFanOutKeepsSeparateCheckpoints(t *testing.T) {
	e := newEnv(t, 2)
	outA, outB := t.TempDir(), t.TempDir()
	cfg := func(name, out string) pipeline.Config {
		return pipeline.Config{
			Name:        name,
			Buffer:      buffer.Config{Size: 1 << 20, Interval: 50 * time.Millisecond},
			Destination: fileObjects(t, out),
			Errors:      fileObjects(t, out),
		}
	}
	start(t, e, cfg("a", outA))
	_, stopB := start(t, e, cfg("b", outB))
	e.put(t, "{\"user\":\"1\"}\n{\"user\":\"2\"}\n{\"user\":\"3\"}\n")
	for _, out := range []string{outA, outB} {
		await.Cond(t, 10*time.Second, "3 records in "+out, func() bool { return destinationtest.CountLines(lines(t, out, "data")) == 3 })
	}
	stopB()
	e.put(t, "{\"user\":\"4\"}\n{\"user\":\"5\"}\n")
	await.Cond(t, 10*time.Second, "5 records for a", func() bool { return destinationtest.CountLines(lines(t, outA, "data")) == 5 })
	if got := destinationtest.CountLines(lines(t, outB, "data")); got != 3 {
		t.Fatalf("stopped delivery b has %d records, want 3", got)
	}
	start(t, e, cfg("b", outB))
	await.Cond(t, 10*time.Second, "b to catch up", func() bool { return destinationtest.CountLines(lines(t, outB, "data")) == 5 })
}

// s3Hanging is an S3 endpoint that never answers until the test ends: an
// upload in flight at shutdown.
func s3Hanging(t *testing.T, requests *atomic.Int32) string {
	release := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(func() { close(release); hs.Close() })
	return hs.URL
}

// A shutdown while a batch is in flight or a transform is failing must not
// checkpoint past those records: they are delivered after the restart.
func TestShutdownNeverCheckpointsUnfinishedWork(t *testing.T) {
	var requests atomic.Int32
	hanging, err := s3.New(s3.Config{Endpoint: s3Hanging(t, &requests), Region: "us-east-1", Bucket: "bucket", AccessKeyID: "k", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	inFlight, err := destinations.NewObjects(hanging, destinations.ObjectsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	failing := transform.BatchFunc(func(context.Context, []buffer.Record) ([]transform.Output, error) {
		return nil, fmt.Errorf("lambda unreachable")
	})
	tests := map[string]struct {
		cfg     pipeline.Config
		started func(d *pipeline.Delivery) bool
	}{
		"delivery in flight": {
			cfg: pipeline.Config{
				Buffer:      buffer.Config{Size: 1 << 20, Interval: 10 * time.Millisecond},
				Destination: destinations.Chain(inFlight, destinations.WithRetry(destinations.RetryConfig{Duration: time.Hour}, slog.New(slog.DiscardHandler))),
			},
			started: func(*pipeline.Delivery) bool { return requests.Load() > 0 },
		},
		"transform retrying": {
			cfg: pipeline.Config{
				Buffer:    buffer.Config{Size: 1 << 20, Interval: 10 * time.Millisecond},
				Transform: failing,
				Retry:     destinations.RetryConfig{Duration: time.Hour, InitialBackoff: 10 * time.Millisecond},
			},
			started: func(d *pipeline.Delivery) bool { return true },
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, 1)
			out := t.TempDir()
			cfg := tt.cfg
			cfg.DrainTimeout = 100 * time.Millisecond
			if cfg.Destination == nil {
				cfg.Destination = fileObjects(t, out)
			}
			cfg.Errors = fileObjects(t, out)
			d, stop := start(t, e, cfg)
			e.put(t, "{\"user\":\"a\"}\n{\"user\":\"b\"}\n")
			await.Cond(t, 10*time.Second, "work under way", func() bool { return tt.started(d) })
			stop()
			if cp, _ := e.store.Checkpoint(context.Background(), "archive", 0); cp >= shards.MakeSequence(1, 0) {
				t.Fatalf("checkpoint moved to %v, past the first record: unfinished work was skipped", cp)
			}
			if n := destinationtest.CountLines(lines(t, out, "")); n != 0 {
				t.Fatalf("%d lines written to the error output for work cut short by shutdown", n)
			}
			// After a restart with a healthy destination, everything arrives.
			start(t, e, pipeline.Config{
				Buffer:      buffer.Config{Size: 1 << 20, Interval: 10 * time.Millisecond},
				Destination: fileObjects(t, out),
				Errors:      fileObjects(t, out),
			})
			await.Cond(t, 10*time.Second, "both records after the restart", func() bool {
				return destinationtest.CountLines(lines(t, out, "data")) == 2
			})
		})
	}
}

// While both the destination and the error output are down, the shard waits:
// the checkpoint stays put, and the records reach the error output once it
// is back.
func TestErrorOutputOutageHoldsTheShard(t *testing.T) {
	e := newEnv(t, 1)
	var calls atomic.Int32
	store, err := s3.New(s3.Config{Endpoint: s3Failing(t, &calls), Region: "us-east-1", Bucket: "bucket", AccessKeyID: "k", SecretAccessKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	failing, err := destinations.NewObjects(store, destinations.ObjectsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// A file where the error output's directory belongs: every write fails.
	blocker := filepath.Join(e.out, "errors")
	if err := os.WriteFile(blocker, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	retry := destinations.RetryConfig{Duration: 100 * time.Millisecond, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	logs := &logCounter{counts: map[string]int{}}
	startLogged(t, e, pipeline.Config{
		Buffer:      buffer.Config{Size: 1 << 20, Interval: 10 * time.Millisecond},
		Destination: destinations.Chain(failing, destinations.WithRetry(retry, slog.New(slog.DiscardHandler))),
		Errors:      fileObjects(t, e.out),
		Retry:       retry,
	}, slog.New(logs))
	e.put(t, "{\"user\":\"a\"}\n{\"user\":\"b\"}\n")
	// Retries spent, then the error output tried and failed a few times.
	await.Cond(t, 10*time.Second, "failed error-output writes", func() bool {
		return logs.count("error output failed; the shard waits and retries") >= 3
	})
	first := shards.MakeSequence(1, 0)
	for range 3 {
		if cp, _ := e.store.Checkpoint(context.Background(), "archive", 0); cp >= first {
			t.Fatalf("checkpoint moved to %v while the error output was down", cp)
		}
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	await.Cond(t, 10*time.Second, "both records in the error output", func() bool {
		return destinationtest.CountLines(lines(t, e.out, "errors/delivery-failed")) == 2
	})
	awaitCheckpoint(t, e, shards.MakeSequence(1, 1), "checkpoint past both records")
}

// Partition keys select the buffer and expand in the prefix; records of a
// partition-key set beyond max_active_partitions go to the error output.
func TestDynamicPartitioning(t *testing.T) {
	e := newEnv(t, 1)
	objs, keyed := partitionedByUser(t, e)
	start(t, e, pipeline.Config{
		Buffer:              buffer.Config{Size: 1 << 20, Interval: time.Hour},
		Transform:           keyed,
		Destination:         objs,
		Errors:              objs,
		MaxActivePartitions: 2,
	})
	e.put(t, "{\"user\":\"acme\"}\n{\"user\":\"globex\"}\n{\"user\":\"acme\"}\n{\"user\":\"initech\"}\n{\"user\":\"hooli\"}\n")
	// Two partitions are buffered (an hour's interval); the other two are
	// over the limit and written to the error output at once.
	await.Cond(t, 10*time.Second, "2 records over the partition limit in the error output", func() bool {
		return destinationtest.CountLines(lines(t, e.out, "errors/processing-failed")) == 2
	})
	for _, docs := range lines(t, e.out, "errors/processing-failed") {
		for _, d := range docs {
			if !strings.Contains(d, `"errorCode":"DynamicPartitioning.ActivePartitionsLimitExceeded"`) {
				t.Fatalf("error document %s", d)
			}
		}
	}
}

func TestPartitionedPrefixes(t *testing.T) {
	e := newEnv(t, 1)
	objs, keyed := partitionedByUser(t, e)
	start(t, e, pipeline.Config{
		Buffer:      buffer.Config{Size: 1 << 20, Interval: 20 * time.Millisecond},
		Transform:   keyed,
		Destination: objs,
		Errors:      objs,
	})
	e.put(t, "{\"user\":\"acme\",\"n\":1}\n{\"user\":\"globex\",\"n\":2}\n{\"user\":\"acme\",\"n\":3}\n")
	await.Cond(t, 10*time.Second, "3 records under their customers' prefixes", func() bool {
		return destinationtest.CountLines(lines(t, e.out, "customer=acme")) == 2 &&
			destinationtest.CountLines(lines(t, e.out, "customer=globex")) == 1
	})
	awaitCheckpoint(t, e, shards.MakeSequence(1, 2), "checkpoint past all three")
}
