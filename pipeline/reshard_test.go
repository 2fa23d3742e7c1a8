package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/shards"
)

// inOrder passes each batch to its destination and, once the destination
// has taken it, notes its records: the order in which the destination
// received them.
type inOrder struct {
	destinations.Destination
	mu   sync.Mutex
	recs []string
}

func (o *inOrder) Deliver(ctx context.Context, b *buffer.Batch) error {
	if err := o.Destination.Deliver(ctx, b); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range b.Records {
		o.recs = append(o.recs, string(r.Data))
	}
	return nil
}

func (o *inOrder) received() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.recs)
}

// failing is a destination that fails every batch while down is set, the
// edge where a destination outage is forced.
type failing struct {
	destinations.Destination
	down  atomic.Bool
	calls atomic.Int32
}

func (f *failing) Deliver(ctx context.Context, b *buffer.Batch) error {
	f.calls.Add(1)
	if f.down.Load() {
		return fmt.Errorf("destination down")
	}
	return f.Destination.Deliver(ctx, b)
}

// gated is a destination that holds every batch while it is paused, so
// that a backlog builds up in the shards.
type gated struct {
	destinations.Destination
	mu   sync.Mutex
	open chan struct{} // closed while batches pass
}

func newGated(d destinations.Destination) *gated {
	g := &gated{Destination: d, open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gated) pause() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = make(chan struct{})
}

func (g *gated) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.open)
}

func (g *gated) Deliver(ctx context.Context, b *buffer.Batch) error {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Destination.Deliver(ctx, b)
}

// keyedPuts puts records of keys k0…k(n−1), each key's numbered 0, 1, 2…
// in the order they are put: {"user":"k17","n":5}.
type keyedPuts struct {
	e    *env
	keys int
	mu   sync.Mutex
	next []int // per key, the number of its next record
	put  atomic.Int64
}

func newKeyedPuts(e *env, keys int) *keyedPuts {
	return &keyedPuts{e: e, keys: keys, next: make([]int, keys)}
}

// round puts the next record of each of keys in one request.
func (p *keyedPuts) round(keys []int) error {
	var b strings.Builder
	p.mu.Lock()
	ns := make([]int, len(keys))
	for i, k := range keys {
		ns[i] = p.next[k]
	}
	p.mu.Unlock()
	for i, k := range keys {
		fmt.Fprintf(&b, "{\"user\":\"k%d\",\"n\":%d}\n", k, ns[i])
	}
	resp, err := http.Post(p.e.ingest.URL+"/v1/streams/events/records", "application/x-ndjson", strings.NewReader(b.String()))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("put: status %d", resp.StatusCode)
	}
	p.mu.Lock()
	for _, k := range keys {
		p.next[k]++
	}
	p.mu.Unlock()
	p.put.Add(int64(len(keys)))
	return nil
}

// all is every key.
func (p *keyedPuts) all() []int {
	keys := make([]int, p.keys)
	for i := range keys {
		keys[i] = i
	}
	return keys
}

// total is the number of records put.
func (p *keyedPuts) total() int { return int(p.put.Load()) }

// check fails the test unless got holds every record put, each once, and
// every key's records in the order they were put.
func (p *keyedPuts) check(t *testing.T, got []string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	next := make(map[string]int)
	for _, line := range got {
		var r struct {
			User string
			N    int
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad record %q: %v", line, err)
		}
		if want := next[r.User]; r.N != want {
			t.Fatalf("key %s: record %d received where %d was due: put order not kept, or a record lost or repeated", r.User, r.N, want)
		}
		next[r.User]++
	}
	for k, n := range p.next {
		if got := next[fmt.Sprintf("k%d", k)]; got != n {
			t.Fatalf("key k%d: %d records received, %d put", k, got, n)
		}
	}
}

// splitInHalf splits shard at the middle of its hash-key range.
func splitInHalf(t *testing.T, e *env, shard int) {
	t.Helper()
	r := e.stream.Lineage().Shards[shard].Range
	mid := new(big.Int).Add(r.Start.Big(), r.End.Big())
	mid.Rsh(mid, 1).Add(mid, big.NewInt(1))
	at, err := shards.ParseHashKey(mid.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SplitShard(context.Background(), "events", shard, at); err != nil {
		t.Fatal(err)
	}
}

// mergeFirstTwo merges the two open shards lowest in the hash-key space.
func mergeFirstTwo(t *testing.T, e *env) {
	t.Helper()
	open := e.stream.Lineage().Open()
	if err := e.store.MergeShards(context.Background(), "events", open[0].ID, open[1].ID); err != nil {
		t.Fatal(err)
	}
}

func scaleTo(t *testing.T, e *env, n int) {
	t.Helper()
	if err := e.store.UpdateShardCount(context.Background(), "events", n, false); err != nil {
		t.Fatal(err)
	}
	if got := e.stream.OpenShards(); got != n {
		t.Fatalf("%d open shards after scaling to %d", got, n)
	}
}

// checkClosedAtEnd fails the test unless delivery archive has checkpointed
// every closed shard that held records at its end.
func checkClosedAtEnd(t *testing.T, e *env) {
	t.Helper()
	for _, sh := range e.stream.Lineage().Shards {
		if sh.IsOpen() || sh.LastMessage == 0 {
			continue
		}
		cp, err := e.store.Checkpoint(context.Background(), "archive", sh.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := shards.LastSequence(sh.LastMessage); cp != want {
			t.Errorf("closed shard %d: checkpoint %v, want its end %v", sh.ID, cp, want)
		}
	}
}

// Producers put 200 keys' records concurrently while the stream is split,
// scaled and merged (4 → 8 → 3 → 6 → 5 → 6 open shards): the destination
// receives every record once, and each key's records in the order they
// were put. Some reshards happen while the delivery keeps up, others while
// the destination holds its batches and the shards build up a backlog.
func TestKeyOrderAcrossReshards(t *testing.T) {
	e := newEnv(t, 4)
	gate := newGated(fileObjects(t, e.out))
	dest := &inOrder{Destination: gate}
	start(t, e, pipeline.Config{
		Buffer:      buffer.Config{Size: 16 << 10, Interval: 50 * time.Millisecond},
		Destination: dest,
		Errors:      fileObjects(t, e.out),
		Retry:       destinations.RetryConfig{Duration: time.Second},
	})
	puts := newKeyedPuts(e, 200)
	const producers, perKey = 8, 60
	stop := make(chan struct{})
	var wg sync.WaitGroup
	stopProducers := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopProducers) // before the delivery stops
	for p := range producers {
		var keys []int
		for k := p; k < puts.keys; k += producers {
			keys = append(keys, k)
		}
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := puts.round(keys); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	began := time.Now()
	step := func(records int, what string, reshard func()) {
		await.Cond(t, 30*time.Second, fmt.Sprintf("%d records put", records), func() bool { return puts.total() >= records })
		reshard()
		t.Logf("%s after %d records put (%v)", what, puts.total(), time.Since(began).Round(time.Millisecond))
	}
	const n = 200 * perKey / 6
	step(n, "4 → 8: every shard split", func() {
		for _, sh := range e.stream.Lineage().Open() {
			splitInHalf(t, e, sh.ID)
		}
	})
	gate.pause()
	step(2*n, "8 → 3: UpdateShardCount (destination paused)", func() { scaleTo(t, e, 3) })
	step(3*n, "3 → 6: UpdateShardCount (destination paused)", func() { scaleTo(t, e, 6) })
	gate.resume()
	step(4*n, "6 → 5: MergeShards", func() { mergeFirstTwo(t, e) })
	gate.pause()
	step(5*n, "5 → 6: SplitShard (destination paused)", func() { splitInHalf(t, e, e.stream.Lineage().Open()[0].ID) })
	await.Cond(t, 30*time.Second, "all records put", func() bool { return puts.total() >= 6*n })
	gate.resume()
	stopProducers()
	if t.Failed() {
		return
	}
	putDone := time.Now()
	await.Cond(t, 30*time.Second, "every record delivered", func() bool { return len(dest.received()) >= puts.total() })
	t.Logf("%d records of %d keys over %d shards (%d open): all delivered %v after the last put",
		puts.total(), puts.keys, e.stream.Shards(), e.stream.OpenShards(), time.Since(putDone).Round(time.Millisecond))
	puts.check(t, dest.received())
	if got := destinationtest.CountLines(lines(t, e.out, "data")); got != puts.total() {
		t.Fatalf("%d records in the destination's files, %d put", got, puts.total())
	}
	checkClosedAtEnd(t, e)
}

// A delivery started after several reshards reads the old closed shards
// first, parents before children, and then the open ones; a restart reads
// none of the closed shards again.
func TestDeliveryStartedAfterReshards(t *testing.T) {
	e := newEnv(t, 4)
	puts := newKeyedPuts(e, 50)
	putRounds := func(n int) {
		t.Helper()
		for range n {
			if err := puts.round(puts.all()); err != nil {
				t.Fatal(err)
			}
		}
	}
	putRounds(5)
	splitInHalf(t, e, 0)
	splitInHalf(t, e, 1)
	putRounds(5)
	scaleTo(t, e, 3)
	putRounds(5)
	scaleTo(t, e, 6)
	putRounds(5)
	mergeFirstTwo(t, e)
	putRounds(5)

	dest := &inOrder{Destination: fileObjects(t, e.out)}
	cfg := pipeline.Config{
		Buffer:      buffer.Config{Size: 1 << 20, Interval: 50 * time.Millisecond},
		Destination: dest,
		Errors:      fileObjects(t, e.out),
	}
	began := time.Now()
	_, stop := start(t, e, cfg)
	await.Cond(t, 30*time.Second, "every record delivered", func() bool { return len(dest.received()) >= puts.total() })
	t.Logf("%d records over %d shards (%d open) delivered in %v", puts.total(), e.stream.Shards(), e.stream.OpenShards(),
		time.Since(began).Round(time.Millisecond))
	puts.check(t, dest.received())
	stop()
	checkClosedAtEnd(t, e)

	// A restart: the closed shards are done, only the open ones are read.
	logs := &logCounter{counts: map[string]int{}}
	startLogged(t, e, cfg, slog.New(logs))
	open := e.stream.OpenShards()
	await.Cond(t, 10*time.Second, "the open shards read", func() bool { return logs.count("delivering shard") == open })
	putRounds(2)
	await.Cond(t, 10*time.Second, "the new records delivered", func() bool { return len(dest.received()) >= puts.total() })
	puts.check(t, dest.received())
	if n := logs.count("delivering shard"); n != open {
		t.Fatalf("after the restart %d shards were read, want the %d open ones", n, open)
	}
}

// recordingOwnership is Solo that notes which shards are acquired, in order.
type recordingOwnership struct {
	pipeline.Solo
	mu       sync.Mutex
	acquired []int
}

func (o *recordingOwnership) Acquire(ctx context.Context, delivery string, shard int) (pipeline.Lease, error) {
	o.mu.Lock()
	o.acquired = append(o.acquired, shard)
	o.mu.Unlock()
	return o.Solo.Acquire(ctx, delivery, shard)
}

func (o *recordingOwnership) shards() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.acquired)
}

// While a closed parent's records cannot be delivered (its destination
// down, retried), its children are neither leased nor read; once the
// destination recovers, the parent is delivered to its end and then the
// children, each key in put order.
func TestChildWaitsForFailingParent(t *testing.T) {
	e := newEnv(t, 1)
	flaky := &failing{Destination: fileObjects(t, e.out)}
	flaky.down.Store(true)
	retry := destinations.RetryConfig{Duration: time.Hour, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
	dest := &inOrder{Destination: destinations.Chain(flaky, destinations.WithRetry(retry, slog.New(slog.DiscardHandler)))}
	own := &recordingOwnership{}
	logs := &logCounter{counts: map[string]int{}}
	startWith(t, e, pipeline.Config{
		Buffer:      buffer.Config{Size: 1 << 20, Interval: 10 * time.Millisecond},
		Destination: dest,
		Errors:      fileObjects(t, e.out),
		Retry:       retry,
	}, pipeline.Settings{Ownership: own, Logger: slog.New(logs)})
	puts := newKeyedPuts(e, 20)
	for range 5 {
		if err := puts.round(puts.all()); err != nil {
			t.Fatal(err)
		}
	}
	await.Cond(t, 10*time.Second, "the parent's destination failing", func() bool { return flaky.calls.Load() >= 3 })
	splitInHalf(t, e, 0)
	for range 5 {
		if err := puts.round(puts.all()); err != nil {
			t.Fatal(err)
		}
	}
	await.Cond(t, 10*time.Second, "the children waiting", func() bool {
		return logs.count("shard waits for its parent to be delivered to its end") == 2
	})
	calls := flaky.calls.Load()
	await.Cond(t, 10*time.Second, "more failed attempts", func() bool { return flaky.calls.Load() >= calls+5 })
	if got := own.shards(); !slices.Equal(got, []int{0}) {
		t.Fatalf("shards acquired while the parent's destination is down: %v, want [0]", got)
	}
	if n := logs.count("delivering shard"); n != 1 {
		t.Fatalf("%d shards read while the parent's destination is down, want 1", n)
	}
	for _, child := range []int{1, 2} {
		if cp, _ := e.store.Checkpoint(context.Background(), "archive", child); cp != 0 {
			t.Fatalf("child %d checkpointed at %v before its parent was delivered", child, cp)
		}
	}
	if got := len(dest.received()); got != 0 {
		t.Fatalf("%d records delivered while the destination is down", got)
	}

	flaky.down.Store(false)
	await.Cond(t, 10*time.Second, "every record delivered", func() bool { return len(dest.received()) >= puts.total() })
	puts.check(t, dest.received())
	got := own.shards()
	slices.Sort(got[1:])
	if !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("shards acquired %v, want 0 and then its children 1 and 2", own.shards())
	}
	checkClosedAtEnd(t, e)
}

// A closed shard's buffers are flushed as soon as it is read to its end,
// not at their hour's interval, and its end checkpointed; the freshness
// then counts only the children's records.
func TestClosedShardFinishesPromptly(t *testing.T) {
	clk := &fakeClock{now: time.Now()}
	e := newEnvOn(t, 1, shards.StoreConfig{DataDir: t.TempDir(), SyncAlways: true, Now: clk.Now})
	m := metrics.NewDelivery(prometheus.NewRegistry())
	dest := &inOrder{Destination: fileObjects(t, e.out)}
	d, _ := startWith(t, e, pipeline.Config{
		Buffer:      buffer.Config{Size: 64 << 20, Interval: time.Hour},
		Destination: dest,
		Errors:      fileObjects(t, e.out),
	}, pipeline.Settings{Metrics: m, Now: clk.Now})
	freshness := func() float64 { return testutil.ToFloat64(m.DataFreshness) }
	puts := newKeyedPuts(e, 10)
	for range 3 {
		if err := puts.round(puts.all()); err != nil {
			t.Fatal(err)
		}
	}
	await.Cond(t, 10*time.Second, "the parent's records buffered", func() bool { return d.Buffered() == 30 })
	clk.Add(30 * time.Second)
	if got := freshness(); got != 30 {
		t.Fatalf("freshness %v with the parent's records buffered 30 s, want 30", got)
	}

	split := time.Now()
	splitInHalf(t, e, 0)
	await.Cond(t, 10*time.Second, "the parent's records delivered", func() bool { return len(dest.received()) == 30 })
	took := time.Since(split)
	end := shards.LastSequence(e.stream.Lineage().Shards[0].LastMessage)
	awaitCheckpoint(t, e, end, "the parent checkpointed at its end")
	t.Logf("closed shard flushed and checkpointed %v after the split (buffer interval 1h)", took.Round(time.Millisecond))
	if got := testutil.ToFloat64(m.Flushes.WithLabelValues("archive", string(buffer.FlushShutdown))); got != 1 {
		t.Errorf("%v flushes of the closed shard's buffer, want 1", got)
	}
	await.Cond(t, 10*time.Second, "nothing pending", func() bool { return freshness() == 0 && d.Buffered() == 0 })

	// The children (shards 1 and 2, beyond the stream's first shard count).
	for range 2 {
		if err := puts.round(puts.all()); err != nil {
			t.Fatal(err)
		}
	}
	await.Cond(t, 10*time.Second, "the children's records buffered", func() bool { return d.Buffered() == 20 })
	clk.Add(10 * time.Second)
	if got := freshness(); got != 10 {
		t.Fatalf("freshness %v with the children's records buffered 10 s, want 10", got)
	}
	if got := len(dest.received()); got != 30 {
		t.Fatalf("%d records delivered, want the parent's 30: the children's wait for their interval", got)
	}
}
