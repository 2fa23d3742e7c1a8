package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/cluster"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/internal/testnats"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/shards"
)

// leases hands out shards through a cluster coordinator, as hydrant serve
// does on a NATS cluster.
type leases struct{ c *cluster.Coordinator }

func (o leases) Acquire(ctx context.Context, delivery string, shard int) (pipeline.Lease, error) {
	l, err := o.c.Acquire(ctx, delivery, shard)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// newNATSEnv is newEnv on a shard log on a NATS server, which leases need.
func newNATSEnv(t *testing.T, nShards int) *env {
	t.Helper()
	nc := testnats.StartOne(t)
	return newEnvOn(t, nShards, shards.StoreConfig{NATS: &shards.NATSConfig{URL: nc.URL(), Replicas: 1}})
}

// joinCluster opens a coordinator for node on e's shard log (on NATS) and runs it
// until the test ends.
func joinCluster(t *testing.T, e *env, node string) *cluster.Coordinator {
	t.Helper()
	c, err := cluster.Open(context.Background(), e.store.JetStream(), cluster.Config{Node: node, TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

// held counts the leases each node holds.
func held(t *testing.T, c *cluster.Coordinator) map[string]int {
	t.Helper()
	ls, err := c.Leases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, l := range ls {
		out[l.HolderName]++
	}
	return out
}

// TestShardsHandedOverToAJoiningNode runs one delivery on two nodes sharing
// a shard log: the first delivers every shard alone, the second joins and
// takes half of them. The first hands them over by flushing what it holds
// for them (long before its 10 s buffer interval) and checkpointing, so the
// second starts after those records: every record is delivered, none by
// both nodes, and the second delivers only records put after it joined.
func TestShardsHandedOverToAJoiningNode(t *testing.T) {
	e := newNATSEnv(t, 4)
	outA, outB := t.TempDir(), t.TempDir()
	run := func(node, out string) *cluster.Coordinator {
		c := joinCluster(t, e, node)
		startWith(t, e, pipeline.Config{
			Buffer:      buffer.Config{Size: 1 << 20, Interval: 10 * time.Second},
			Destination: fileObjects(t, out),
			Errors:      fileObjects(t, out),
			Retry:       destinations.RetryConfig{Duration: time.Second},
		}, pipeline.Settings{Ownership: leases{c}})
		return c
	}
	n := 0
	putSome := func() {
		var b strings.Builder
		for range 200 {
			fmt.Fprintf(&b, "{\"user\":\"u%d\",\"n\":%d}\n", n%37, n)
			n++
		}
		e.put(t, b.String())
	}
	delivered := func(out string) map[int]int {
		m := map[int]int{}
		for _, recs := range lines(t, out, "data") {
			for _, line := range recs {
				var r struct{ N int }
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					t.Fatalf("bad line %q: %v", line, err)
				}
				m[r.N]++
			}
		}
		return m
	}

	a := run("a", outA)
	await.Cond(t, 10*time.Second, "node a to hold the 4 shards", func() bool { return held(t, a)["a"] == 4 })
	for range 3 {
		putSome()
	}
	beforeB := n
	run("b", outB)
	await.Cond(t, 20*time.Second, "the shards to spread 2 and 2", func() bool {
		h := held(t, a)
		return h["a"] == 2 && h["b"] == 2
	})
	for range 3 {
		putSome()
	}
	await.Cond(t, 30*time.Second, "every record delivered by one node or the other", func() bool {
		return len(delivered(outA))+len(delivered(outB)) >= n
	})
	inA, inB := delivered(outA), delivered(outB)
	if len(inB) == 0 {
		t.Fatal("node b delivered nothing after it took its shards")
	}
	for rec, k := range inB {
		if rec < beforeB {
			t.Errorf("node b delivered record %d, put before it joined: node a did not hand it over", rec)
		}
		if k > 1 || inA[rec] > 0 {
			t.Errorf("record %d delivered %d times by b and %d by a", rec, k, inA[rec])
		}
	}
	for rec, k := range inA {
		if k > 1 {
			t.Errorf("record %d delivered %d times by a", rec, k)
		}
	}
}

// countingLeases counts the leases a delivery asks for.
type countingLeases struct {
	leases
	acquired *atomic.Int32
}

func (o countingLeases) Acquire(ctx context.Context, delivery string, shard int) (pipeline.Lease, error) {
	o.acquired.Add(1)
	return o.leases.Acquire(ctx, delivery, shard)
}

// TestFailingShardBacksOffUnderLeases checks that a shard whose loop fails
// (here: its shard log is gone from the cluster) is restarted after a
// backoff, as on a single node, and not taken for a lost lease and retried
// at once.
func TestFailingShardBacksOffUnderLeases(t *testing.T) {
	e := newNATSEnv(t, 1)
	if err := e.store.JetStream().DeleteStream(context.Background(), "hydrant-events-0"); err != nil {
		t.Fatal(err)
	}
	c := joinCluster(t, e, "a")
	var acquired atomic.Int32
	counter := &logCounter{counts: map[string]int{}}
	d := pipeline.New(pipeline.Config{Name: "archive", Stream: "events",
		Buffer: buffer.Config{Size: 1 << 20, Interval: time.Second}, Destination: fileObjects(t, t.TempDir()),
		Errors: fileObjects(t, t.TempDir())}, e.store,
		pipeline.Settings{Ownership: countingLeases{leases{c}, &acquired}, Logger: slog.New(counter)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	await.Cond(t, 10*time.Second, "the failing shard to be restarted once", func() bool {
		return counter.count("shard delivery failed; restarting from the checkpoint") >= 2
	})
	if n := acquired.Load(); n > 3 {
		t.Errorf("the lease was acquired %d times for 2 failures: failures are not backed off", n)
	}
	if n := counter.count("lease lost: stopped delivering the shard; its next holder reads on from the checkpoint"); n > 0 {
		t.Errorf("a failing shard was logged %d times as a lost lease", n)
	}
}

// recordingLeases are leases that note which shards were asked for and,
// when e is set, whether their parents were checkpointed at their ends by
// then.
type recordingLeases struct {
	leases
	e        *env
	mu       sync.Mutex
	acquired []int
	early    []int // shards asked for before their parents were delivered
	late     []int // shards granted after they were delivered to their end
}

func (o *recordingLeases) Acquire(ctx context.Context, delivery string, shard int) (pipeline.Lease, error) {
	o.mu.Lock()
	o.acquired = append(o.acquired, shard)
	if o.e != nil {
		for _, p := range o.e.stream.Lineage().Shards[shard].Parents() {
			if !deliveredToEnd(ctx, o.e, delivery, p) {
				o.early = append(o.early, shard)
			}
		}
	}
	o.mu.Unlock()
	l, err := o.leases.Acquire(ctx, delivery, shard)
	if err == nil && o.e != nil && deliveredToEnd(ctx, o.e, delivery, shard) {
		o.mu.Lock()
		o.late = append(o.late, shard)
		o.mu.Unlock()
	}
	return l, err
}

// deliveredToEnd reports whether delivery has checkpointed shard, and
// every shard it came from, at its end (a shard closed empty has none).
func deliveredToEnd(ctx context.Context, e *env, delivery string, shard int) bool {
	sh := e.stream.Lineage().Shards[shard]
	if sh.IsOpen() {
		return false
	}
	if sh.LastMessage > 0 {
		if cp, err := e.store.Checkpoint(ctx, delivery, shard); err != nil || cp != shards.LastSequence(sh.LastMessage) {
			return false
		}
	}
	for _, p := range sh.Parents() {
		if !deliveredToEnd(ctx, e, delivery, p) {
			return false
		}
	}
	return true
}

func (o *recordingLeases) askedEarly() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.early)
}

func (o *recordingLeases) grantedLate() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.late)
}

func (o *recordingLeases) shards() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Sorted(slices.Values(o.acquired))
}

// heldShards returns the shards whose lease node holds.
func heldShards(t *testing.T, c *cluster.Coordinator, node string) []int {
	t.Helper()
	ls, err := c.Leases(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, l := range ls {
		if l.HolderName == node {
			out = append(out, l.Shard)
		}
	}
	slices.Sort(out)
	return out
}

// Under leases, a shard closed by a split is delivered to its end and its
// lease released at once (a buffer interval of an hour notwithstanding);
// its children are leased only then. A restart leases only the open shards.
func TestFinishedShardReleasesItsLease(t *testing.T) {
	e := newNATSEnv(t, 2)
	c := joinCluster(t, e, "a")
	dest := &inOrder{Destination: fileObjects(t, e.out)}
	own := &recordingLeases{leases: leases{c}, e: e}
	cfg := pipeline.Config{
		Buffer:      buffer.Config{Size: 1 << 20, Interval: time.Hour},
		Destination: dest,
		Errors:      fileObjects(t, e.out),
	}
	d, stop := startWith(t, e, cfg, pipeline.Settings{Ownership: own})
	await.Cond(t, 10*time.Second, "node a to hold shards 0 and 1", func() bool {
		return slices.Equal(heldShards(t, c, "a"), []int{0, 1})
	})
	puts := newKeyedPuts(e, 20)
	for range 3 {
		if err := puts.round(puts.all()); err != nil {
			t.Fatal(err)
		}
	}
	await.Cond(t, 10*time.Second, "the records buffered", func() bool { return d.Buffered() == int64(puts.total()) })
	if info, err := e.store.ShardInfo(context.Background(), "events", 0); err != nil || info.Messages == 0 {
		t.Fatalf("shard 0 holds %+v, %v: want records", info, err)
	}
	splitInHalf(t, e, 0)
	await.Cond(t, 10*time.Second, "shard 0 released, its children 2 and 3 leased", func() bool {
		return slices.Equal(heldShards(t, c, "a"), []int{1, 2, 3})
	})
	inShard0 := len(dest.received())
	if inShard0 == 0 || d.Buffered() != int64(puts.total()-inShard0) {
		t.Fatalf("%d records delivered, %d buffered of %d: want shard 0's delivered and shard 1's buffered",
			inShard0, d.Buffered(), puts.total())
	}
	if got := own.shards(); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Fatalf("shards acquired %v, want each of 0…3 once", got)
	}
	if early := own.askedEarly(); len(early) > 0 {
		t.Fatalf("shards %v asked for before their parents were delivered", early)
	}
	for range 2 {
		if err := puts.round(puts.all()); err != nil {
			t.Fatal(err)
		}
	}
	stop() // flushes what the open shards read

	own = &recordingLeases{leases: leases{c}}
	d, stopAll := startWith(t, e, cfg, pipeline.Settings{Ownership: own})
	await.Cond(t, 10*time.Second, "the open shards leased again", func() bool {
		return slices.Equal(heldShards(t, c, "a"), []int{1, 2, 3})
	})
	await.Cond(t, 10*time.Second, "every record read", func() bool {
		return len(dest.received())+int(d.Buffered()) == puts.total()
	})
	stopAll() // flushes them
	puts.check(t, dest.received())
	if got := own.shards(); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("after a restart shards %v acquired, want the open 1, 2 and 3", got)
	}
}

// Two nodes deliver one stream while it is split and scaled: a child may
// be leased by the node that did not deliver its parent, which learns that
// the parent is done from the checkpoints in the store. Each key's records
// reach the destination once and in put order; no node asks for a child
// before its parents are delivered, keeps a closed shard's lease, or takes
// it again once it is delivered to its end.
func TestKeyOrderAcrossNodes(t *testing.T) {
	e := newNATSEnv(t, 2)
	dest := &inOrder{Destination: fileObjects(t, e.out)} // both nodes': one order of arrival
	var (
		coords []*cluster.Coordinator
		owns   []*recordingLeases
	)
	for _, node := range []string{"a", "b"} {
		c := joinCluster(t, e, node)
		own := &recordingLeases{leases: leases{c}, e: e}
		coords, owns = append(coords, c), append(owns, own)
		startWith(t, e, pipeline.Config{
			Buffer:      buffer.Config{Size: 1 << 20, Interval: 50 * time.Millisecond},
			Destination: dest,
			Errors:      fileObjects(t, e.out),
		}, pipeline.Settings{Ownership: own})
	}
	leased := func() (all []int) {
		for i, node := range []string{"a", "b"} {
			all = append(all, heldShards(t, coords[i], node)...)
		}
		slices.Sort(all)
		return all
	}
	openIDs := func() (ids []int) {
		for _, sh := range e.stream.Lineage().Open() {
			ids = append(ids, sh.ID)
		}
		slices.Sort(ids)
		return ids
	}
	await.Cond(t, 20*time.Second, "a shard on each node", func() bool {
		return len(heldShards(t, coords[0], "a")) == 1 && len(heldShards(t, coords[1], "b")) == 1
	})
	puts := newKeyedPuts(e, 40)
	putRounds := func(n int) {
		t.Helper()
		for range n {
			if err := puts.round(puts.all()); err != nil {
				t.Fatal(err)
			}
		}
	}
	putRounds(10)
	splitInHalf(t, e, 0)
	splitInHalf(t, e, 1)
	putRounds(10)
	scaleTo(t, e, 3)
	putRounds(10)
	began := time.Now()
	await.Cond(t, 30*time.Second, "every record delivered", func() bool { return len(dest.received()) >= puts.total() })
	t.Logf("%d records over %d shards delivered by 2 nodes %v after the last put", puts.total(), e.stream.Shards(),
		time.Since(began).Round(time.Millisecond))
	puts.check(t, dest.received())
	await.Cond(t, 20*time.Second, "only the open shards leased", func() bool { return slices.Equal(leased(), openIDs()) })
	checkClosedAtEnd(t, e)
	for i, own := range owns {
		if early := own.askedEarly(); len(early) > 0 {
			t.Errorf("node %d asked for shards %v before their parents were delivered", i, early)
		}
		if late := own.grantedLate(); len(late) > 0 {
			t.Errorf("node %d took the leases of shards %v after they were delivered to their end", i, late)
		}
	}
}
