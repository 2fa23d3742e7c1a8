package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
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
// (here: its stream does not exist) is restarted after a backoff, as on a
// single node, and not taken for a lost lease and retried at once.
func TestFailingShardBacksOffUnderLeases(t *testing.T) {
	e := newNATSEnv(t, 1)
	c := joinCluster(t, e, "a")
	var acquired atomic.Int32
	counter := &logCounter{counts: map[string]int{}}
	d := pipeline.New(pipeline.Config{Name: "archive", Stream: "no-such-stream", Shards: 1,
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
