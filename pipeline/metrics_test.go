package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/robfig/cron/v3"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/shards"
)

// scripted is a destination that answers each batch with what answer
// returns, the edge where a destination's outcome is chosen.
type scripted struct{ answer func(*buffer.Batch) error }

func (s scripted) Deliver(_ context.Context, b *buffer.Batch) error { return s.answer(b) }
func (s scripted) Close(context.Context) error                      { return nil }

// flushesText is hydrant_delivery_flushes_total of delivery archive with
// one flush for reason and none for the others.
func flushesText(reason buffer.FlushReason) string {
	var b strings.Builder
	b.WriteString("# HELP hydrant_delivery_flushes_total Buffers flushed, by reason: size, interval, schedule, shutdown, memory.\n")
	b.WriteString("# TYPE hydrant_delivery_flushes_total counter\n")
	for _, r := range []buffer.FlushReason{"interval", "memory", "schedule", "shutdown", "size"} { // sorted, as exposed
		n := 0
		if r == reason {
			n = 1
		}
		fmt.Fprintf(&b, "hydrant_delivery_flushes_total{delivery=%q,reason=%q} %d\n", "archive", r, n)
	}
	return b.String()
}

// Every flush is counted under its reason; the delivered batch empties the
// buffer-bytes gauge again.
func TestFlushesCountedByReason(t *testing.T) {
	tests := map[string]struct {
		buffer buffer.Config
		memory int64 // buffer.Memory bound; 0: none
		stop   bool  // flushed by the shutdown
		want   buffer.FlushReason
	}{
		"size":     {buffer: buffer.Config{Size: 10, Interval: time.Hour}, want: buffer.FlushSize},
		"interval": {buffer: buffer.Config{Size: 1 << 20, Interval: 20 * time.Millisecond}, want: buffer.FlushInterval},
		"schedule": {buffer: buffer.Config{Size: 1 << 20, Interval: buffer.NoInterval, Schedule: cron.Every(time.Second)}, want: buffer.FlushSchedule},
		"shutdown": {buffer: buffer.Config{Size: 1 << 20, Interval: time.Hour}, stop: true, want: buffer.FlushShutdown},
		"memory":   {buffer: buffer.Config{Size: 1 << 20, Interval: time.Hour}, memory: 10, want: buffer.FlushMemory},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, 1)
			m := metrics.NewDelivery(prometheus.NewRegistry())
			d, stop := startWith(t, e, pipeline.Config{Buffer: tt.buffer, Destination: fileObjects(t, e.out), Errors: fileObjects(t, e.out)},
				pipeline.Settings{Metrics: m, Memory: buffer.NewMemory(tt.memory)})
			e.put(t, "{\"user\":\"a\",\"pad\":\"0123456789\"}\n")
			if tt.stop {
				await.Cond(t, 10*time.Second, "the record buffered", func() bool { return d.Buffered() == 1 })
				if got := testutil.ToFloat64(m.BufferBytes.WithLabelValues("archive")); got != 31 {
					t.Fatalf("buffer bytes = %v while the record is buffered, want 31", got)
				}
				stop()
			}
			await.Cond(t, 10*time.Second, "a batch delivered", func() bool {
				return testutil.ToFloat64(m.Batches.WithLabelValues("archive", metrics.ResultOK)) == 1
			})
			if err := testutil.CollectAndCompare(m.Flushes, strings.NewReader(flushesText(tt.want))); err != nil {
				t.Error(err)
			}
			if got := testutil.ToFloat64(m.BufferBytes.WithLabelValues("archive")); got != 0 {
				t.Errorf("buffer bytes = %v after the flush, want 0", got)
			}
		})
	}
}

// histogramCount returns the number of observations of a histogram on reg.
func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var n uint64
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
			return n
		}
	}
	return 0
}

// A batch is ok when the destination took it all, partial when some of its
// records went to the error output, failed when all of them did; each is
// timed once.
func TestBatchesCountedByResult(t *testing.T) {
	tests := map[string]struct {
		answer      func(*buffer.Batch) error
		want        string // result
		delivered   float64
		errorOutput float64
		errorType   string
	}{
		"ok": {answer: func(*buffer.Batch) error { return nil }, want: metrics.ResultOK, delivered: 2},
		"partial: one record refused": {
			answer: func(*buffer.Batch) error {
				return &destinations.RecordErrors{Type: destinations.ErrorTypeFormatConversionFailed, Code: "Bad",
					Failed: map[int]error{1: errors.New("does not convert")}}
			},
			want: metrics.ResultPartial, delivered: 1, errorOutput: 1, errorType: destinations.ErrorTypeFormatConversionFailed,
		},
		"failed: every record refused": {
			answer: func(*buffer.Batch) error {
				return &destinations.RecordErrors{Type: destinations.ErrorTypeFormatConversionFailed, Code: "Bad",
					Failed: map[int]error{0: errors.New("no"), 1: errors.New("no")}}
			},
			want: metrics.ResultFailed, errorOutput: 2, errorType: destinations.ErrorTypeFormatConversionFailed,
		},
		"failed: the destination gave up": {
			answer: func(*buffer.Batch) error { return destinations.Permanent(errors.New("access denied")) },
			want:   metrics.ResultFailed, errorOutput: 2, errorType: destinations.ErrorTypeDeliveryFailed,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, 1)
			reg := prometheus.NewRegistry()
			m := metrics.NewDelivery(reg)
			startWith(t, e, pipeline.Config{Buffer: buffer.Config{Size: 1 << 20, Interval: 20 * time.Millisecond},
				Destination: scripted{tt.answer}, Errors: fileObjects(t, e.out)}, pipeline.Settings{Metrics: m})
			e.put(t, "{\"user\":\"a\"}\n{\"user\":\"b\"}\n")
			await.Cond(t, 10*time.Second, "the batch done", func() bool {
				return testutil.ToFloat64(m.Batches.WithLabelValues("archive", tt.want)) == 1
			})
			for _, r := range []string{metrics.ResultOK, metrics.ResultPartial, metrics.ResultFailed} {
				if got := testutil.ToFloat64(m.Batches.WithLabelValues("archive", r)); r != tt.want && got != 0 {
					t.Errorf("batches{result=%s} = %v, want 0", r, got)
				}
			}
			if got := testutil.ToFloat64(m.Records.WithLabelValues("archive")); got != tt.delivered {
				t.Errorf("delivered records = %v, want %v", got, tt.delivered)
			}
			if tt.errorOutput > 0 {
				if got := testutil.ToFloat64(m.ErrorOutputRecords.WithLabelValues("archive", tt.errorType)); got != tt.errorOutput {
					t.Errorf("error output records = %v, want %v", got, tt.errorOutput)
				}
			}
			if n := histogramCount(t, reg, "hydrant_delivery_duration_seconds"); n != 1 {
				t.Errorf("%d delivery durations observed, want 1", n)
			}
		})
	}
}

// fakeClock is a settable clock for the store (arrival times) and the
// delivery (buffers, freshness).
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Data freshness is the age of the oldest record read and not yet
// delivered, over all shards, at scrape time; buffer bytes what the buffers
// hold. Both fall as batches are delivered, to 0 when nothing is pending.
func TestBufferBytesAndDataFreshness(t *testing.T) {
	ctx := context.Background()
	// The real time, so that buffer deadlines (real timers) lie ahead.
	clk := &fakeClock{now: time.Now()}
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: t.TempDir(), SyncAlways: true, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	st, err := store.CreateStream(ctx, shards.StreamSpec{Name: "events", Shards: 2, Limits: generous})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: store, stream: st, out: t.TempDir()}
	m := metrics.NewDelivery(prometheus.NewRegistry())
	d, stop := startWith(t, e, pipeline.Config{Buffer: buffer.Config{Size: 100, Interval: time.Hour},
		Destination: fileObjects(t, e.out), Errors: fileObjects(t, e.out)}, pipeline.Settings{Metrics: m, Now: clk.Now})
	put := func(shard int, data string) {
		t.Helper()
		h := st.Lineage().Shards[shard].Range.Start
		if res := st.Put(ctx, clk.Now(), []shards.Record{{PartitionKey: "k", HashKey: &h, Data: []byte(data)}}); res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
	// check waits for the delivery to hold buffered records of bufferBytes
	// bytes, batches delivered, then reads the freshness as a scrape would.
	check := func(what string, buffered int64, bufferBytes, batches, freshness float64) {
		t.Helper()
		await.Cond(t, 10*time.Second, what, func() bool {
			return d.Buffered() == buffered && testutil.ToFloat64(m.BufferBytes.WithLabelValues("archive")) == bufferBytes &&
				testutil.ToFloat64(m.Batches.WithLabelValues("archive", metrics.ResultOK)) == batches &&
				testutil.CollectAndCount(m.DataFreshness) == 1 // Run has started
		})
		if got := testutil.ToFloat64(m.DataFreshness); got != freshness {
			t.Fatalf("%s: data freshness = %v, want %v", what, got, freshness)
		}
	}
	check("nothing read", 0, 0, 0, 0)
	put(0, `{"n":1}`)
	check("shard 0's record buffered", 1, 7, 0, 0)
	clk.Add(30 * time.Second)
	put(1, `{"n":2}`)
	check("shard 1's record buffered", 2, 14, 0, 30) // shard 0's record is 30 s old
	clk.Add(60 * time.Second)
	check("a minute later", 2, 14, 0, 90)
	put(0, `{"pad":"`+strings.Repeat("x", 100)+`"}`) // shard 0's buffer reaches its size
	check("shard 0 delivered", 1, 7, 1, 60)          // shard 1's record, put 60 s ago, is the oldest
	put(1, `{"pad":"`+strings.Repeat("x", 100)+`"}`)
	check("shard 1 delivered", 0, 0, 2, 0)
	if got := testutil.ToFloat64(m.Flushes.WithLabelValues("archive", "size")); got != 2 {
		t.Errorf("%v size flushes, want 2", got)
	}
	stop()
	if n := testutil.CollectAndCount(m.DataFreshness); n != 0 {
		t.Errorf("a stopped delivery still has %d freshness series", n)
	}
}
