package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hydrant-dev/hydrant/internal/await"
)

const (
	testTTL      = 2 * time.Second
	converge     = 5 * testTTL    // bound on what takes a few periods: generous, as the machine may be loaded
	testDelivery = "orders.s3_v2" // has both characters that need escaping
	testShards   = 12
)

// ownership is what the holders say they hold, shared by every node of a test.
// It fails the test the moment a holder takes a key another holder has not
// dropped: the safety property.
type ownership struct {
	t      *testing.T
	mu     sync.Mutex
	holder map[string]string // key -> node name
	events []event
}

type event struct {
	at   time.Time
	key  string
	node string
	take bool // false: dropped (Lost, Yield or shutdown)
}

func newOwnership(t *testing.T) *ownership {
	return &ownership{t: t, holder: make(map[string]string)}
}

func (o *ownership) take(key, node string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if h, ok := o.holder[key]; ok {
		o.t.Errorf("%s acquired %s while %s still holds it", node, key, h)
	}
	o.holder[key] = node
	o.events = append(o.events, event{at: time.Now(), key: key, node: node, take: true})
}

func (o *ownership) drop(key, node string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.holder[key] == node {
		delete(o.holder, key)
	}
	o.events = append(o.events, event{at: time.Now(), key: key, node: node})
}

// counts is how many keys each node holds.
func (o *ownership) counts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := make(map[string]int)
	for _, h := range o.holder {
		n[h]++
	}
	return n
}

// keysOf lists the keys node holds.
func (o *ownership) keysOf(node string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var keys []string
	for k, h := range o.holder {
		if h == node {
			keys = append(keys, k)
		}
	}
	return keys
}

// since returns the events after t0.
func (o *ownership) since(t0 time.Time) []event {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []event
	for _, e := range o.events {
		if !e.at.Before(t0) {
			out = append(out, e)
		}
	}
	return out
}

// awaitCounts waits until the holders hold exactly want (node -> keys).
func (o *ownership) awaitCounts(t *testing.T, timeout time.Duration, want map[string]int) {
	t.Helper()
	await.Cond(t, timeout, fmt.Sprintf("holdings %v", want), func() bool {
		return maps.Equal(o.counts(), want)
	})
}

// testNode is a hydrant node as far as leases go: a coordinator and one
// holder goroutine per shard, each looping Acquire, hold, Release.
type testNode struct {
	name        string
	c           *Coordinator
	stopRun     context.CancelFunc
	runDone     chan struct{}
	stopHolders context.CancelFunc
	holders     sync.WaitGroup
	crashed     atomic.Bool
	stopOnce    sync.Once
}

func startNode(t *testing.T, s *server.Server, name string, own *ownership) *testNode {
	t.Helper()
	return startNodeWanting(t, s, name, own, testShards)
}

// startNodeWanting starts a node with holders for shards 0..shards-1 only.
func startNodeWanting(t *testing.T, s *server.Server, name string, own *ownership, shards int) *testNode {
	t.Helper()
	c, err := Open(t.Context(), connect(t, s), Config{Node: name, Listen: name + ":4195", TTL: testTTL, Logger: testLogger(t).With("node", name)})
	if err != nil {
		t.Fatal(err)
	}
	n := &testNode{name: name, c: c, runDone: make(chan struct{})}
	runCtx, stopRun := context.WithCancel(context.Background())
	n.stopRun = stopRun
	go func() {
		defer close(n.runDone)
		c.Run(runCtx)
	}()
	hctx, stopHolders := context.WithCancel(context.Background())
	n.stopHolders = stopHolders
	for shard := range shards {
		n.holders.Add(1)
		go n.hold(hctx, shard, own)
	}
	t.Cleanup(func() { n.stop(t) })
	return n
}

// hold is one shard's loop on one node.
func (n *testNode) hold(ctx context.Context, shard int, own *ownership) {
	defer n.holders.Done()
	key := leaseKey(testDelivery, shard)
	for {
		l, err := n.c.Acquire(ctx, testDelivery, shard)
		if err != nil {
			return // ctx ended or the coordinator closed
		}
		own.take(key, n.name)
		select {
		case <-l.Lost():
			own.drop(key, n.name) // at once
			if n.crashed.Load() {
				return // a dead node writes nothing more
			}
		case <-l.Yield():
			own.drop(key, n.name) // "flush, checkpoint", then release
		case <-ctx.Done():
			own.drop(key, n.name)
		}
		l.Release(ctx)
	}
}

// leave ends Run gracefully and waits for it.
func (n *testNode) leave() {
	n.stopRun()
	<-n.runDone
}

// crash kills the node abruptly: nothing is released or deregistered, and its
// holders stop only when their leases' Lost closes.
func (n *testNode) crash() {
	n.crashed.Store(true)
	n.c.crash()
	<-n.runDone
}

func (n *testNode) stop(t *testing.T) {
	n.stopOnce.Do(func() {
		n.stopRun()
		<-n.runDone
		if n.crashed.Load() { // its deadline timers must have fired before the test ends
			await.Cond(t, testTTL, n.name+"'s leases to be lost", func() bool { return n.c.Self().Leases == 0 })
		}
		n.stopHolders()
		n.holders.Wait()
	})
}

func startNodes(t *testing.T, s *server.Server, own *ownership, names ...string) []*testNode {
	var nodes []*testNode
	for _, name := range names {
		nodes = append(nodes, startNode(t, s, name, own))
	}
	return nodes
}

func TestSpreadEvenly(t *testing.T) {
	t.Parallel()
	s, own := startServer(t), newOwnership(t)
	t0 := time.Now()
	nodes := startNodes(t, s, own, "a", "b", "c")
	own.awaitCounts(t, converge, map[string]int{"a": 4, "b": 4, "c": 4})
	t.Logf("3 nodes spread 12 leases 4/4/4 in %v", time.Since(t0).Round(time.Millisecond))
	for _, n := range nodes {
		if got := n.c.Self().Leases; got != 4 {
			t.Errorf("%s: Self().Leases = %d, want 4", n.name, got)
		}
		if got := n.c.LiveNodes(); got != 3 {
			t.Errorf("%s: LiveNodes() = %d, want 3", n.name, got)
		}
	}
}

func TestCrashTakeover(t *testing.T) {
	t.Parallel()
	s, own := startServer(t), newOwnership(t)
	nodes := startNodes(t, s, own, "a", "b", "c")
	own.awaitCounts(t, converge, map[string]int{"a": 4, "b": 4, "c": 4})
	dead := own.keysOf("c")

	t0 := time.Now()
	nodes[2].crash()
	own.awaitCounts(t, 2*testTTL, map[string]int{"a": 6, "b": 6})

	// Each of the dead node's keys: dropped by c (Lost) before anyone took it.
	lost := make(map[string]time.Time)
	var first, last time.Duration
	for _, e := range own.since(t0) {
		switch {
		case e.node == "c" && !e.take:
			lost[e.key] = e.at
		case e.take && slices.Contains(dead, e.key):
			l, ok := lost[e.key]
			if !ok || !l.Before(e.at) {
				t.Errorf("%s took %s at %v; c's Lost closed at %v", e.node, e.key, e.at.Sub(t0), l.Sub(t0))
			}
			d := e.at.Sub(t0)
			if first == 0 || d < first {
				first = d
			}
			last = max(last, d)
			t.Logf("%s: c lost it at +%v, %s took it at +%v (margin %v)", e.key, l.Sub(t0).Round(time.Millisecond),
				e.node, d.Round(time.Millisecond), e.at.Sub(l).Round(time.Millisecond))
		}
	}
	t.Logf("crash of 1 of 3 nodes (TTL %v): its 4 leases taken over %v to %v after", testTTL, first.Round(time.Millisecond), last.Round(time.Millisecond))
	if got := nodes[0].c.LiveNodes(); got != 2 {
		t.Errorf("a: LiveNodes() = %d after c died, want 2", got)
	}
}

func TestGracefulLeave(t *testing.T) {
	t.Parallel()
	s, own := startServer(t), newOwnership(t)
	nodes := startNodes(t, s, own, "a", "b", "c")
	own.awaitCounts(t, converge, map[string]int{"a": 4, "b": 4, "c": 4})
	var changes atomic.Int32
	nodes[0].c.OnMembership(func(live int) {
		if live == 2 {
			changes.Add(1)
		}
	})

	t0 := time.Now()
	nodes[2].leave()
	left := time.Since(t0)
	own.awaitCounts(t, testTTL, map[string]int{"a": 6, "b": 6}) // before the TTL: nothing has to expire
	t.Logf("graceful leave of 1 of 3 nodes (TTL %v): Run returned after %v, its 4 leases taken over after %v",
		testTTL, left.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	if ls, err := nodes[0].c.Leases(t.Context()); err != nil || len(ls) != testShards {
		t.Errorf("Leases() = %d leases, %v; want %d", len(ls), err, testShards)
	}
	await.Cond(t, testTTL, "a's OnMembership(2)", func() bool { return changes.Load() == 1 })
}

func TestJoinTakesShare(t *testing.T) {
	t.Parallel()
	s, own := startServer(t), newOwnership(t)
	startNodes(t, s, own, "a", "b", "c")
	own.awaitCounts(t, converge, map[string]int{"a": 4, "b": 4, "c": 4})

	t0 := time.Now()
	startNode(t, s, "d", own)
	own.awaitCounts(t, converge, map[string]int{"a": 3, "b": 3, "c": 3, "d": 3})
	moved := 0
	for _, e := range own.since(t0) {
		if e.take {
			moved++
		}
	}
	if moved != 3 {
		t.Errorf("%d leases changed hands when d joined, want 3", moved)
	}
	t.Logf("a 4th node joining (TTL %v) had its 3 leases after %v", testTTL, time.Since(t0).Round(time.Millisecond))
}

// TestJoinExactShares: a 5th node joining four that hold 12 leases 3/3/3/3
// takes 2 of them (3/3/2/2/2: the ceiling of 12/5 is 3, so a target of 3
// would leave it none), and gives them back when it leaves.
func TestJoinExactShares(t *testing.T) {
	t.Parallel()
	s, own := startServer(t), newOwnership(t)
	startNodes(t, s, own, "a", "b", "c", "d")
	own.awaitCounts(t, converge, map[string]int{"a": 3, "b": 3, "c": 3, "d": 3})

	t0 := time.Now()
	e := startNode(t, s, "e", own)
	own.awaitCounts(t, converge, map[string]int{"a": 3, "b": 3, "c": 2, "d": 2, "e": 2})
	if moved := takes(own.since(t0)); moved != 2 {
		t.Errorf("%d leases changed hands when e joined, want 2", moved)
	}
	t.Logf("a 5th node joining 3/3/3/3 (TTL %v) had its 2 leases after %v", testTTL, time.Since(t0).Round(time.Millisecond))

	t1 := time.Now()
	e.leave()
	own.awaitCounts(t, converge, map[string]int{"a": 3, "b": 3, "c": 3, "d": 3})
	if moved := takes(own.since(t1)); moved != 2 {
		t.Errorf("%d leases changed hands when e left, want 2", moved)
	}
}

// takes counts the acquisitions among events.
func takes(events []event) int {
	n := 0
	for _, e := range events {
		if e.take {
			n++
		}
	}
	return n
}

// TestShareOfOneWantingNothing: a member that wants no key (here b) has
// no share, so a node that wants them takes them all as its own share,
// without waiting a TTL for them to be orphans, and keeps them.
func TestShareOfOneWantingNothing(t *testing.T) {
	t.Parallel()
	s, own := startServer(t), newOwnership(t)
	startNodeWanting(t, s, "b", own, 0)
	t0 := time.Now()
	startNode(t, s, "a", own)
	own.awaitCounts(t, converge, map[string]int{"a": 12})
	t.Logf("a took the 12 keys %v after it started, b wanting none (TTL %v)", time.Since(t0).Round(time.Millisecond), testTTL)
	for _, e := range own.since(t0) {
		if !e.take {
			t.Errorf("%s dropped %s", e.node, e.key)
		}
	}
}

// TestDifferentWantsSettle runs two nodes that want different keys (a all
// 12, b the first 8: a delivery b has not opened yet): once every key is
// held, the holdings stay put. Keys only a wants are orphans on a and are
// never yielded, or they would go free, wait a TTL and come back forever.
func TestDifferentWantsSettle(t *testing.T) {
	t.Parallel()
	s, own := startServer(t), newOwnership(t)
	startNode(t, s, "a", own)
	startNodeWanting(t, s, "b", own, 8)
	await.Cond(t, converge, "all 12 keys held", func() bool {
		c := own.counts()
		return c["a"]+c["b"] == testShards
	})
	// Settling may move keys for a few periods: a key only a wants, taken
	// below the target, may be yielded once and comes back as an orphan.
	// After that, nothing moves.
	await.Cond(t, 2*converge+3*testTTL, "no key moved for 3 TTLs", func() bool {
		return len(own.since(time.Now().Add(-3*testTTL))) == 0
	})
	t0 := time.Now()
	await.Cond(t, converge+3*testTTL, "3 more TTLs without a key moving", func() bool {
		if moved := own.since(t0); len(moved) > 0 {
			t.Fatalf("keys still move after settling: %v", moved)
		}
		return time.Since(t0) >= 3*testTTL
	})
	t.Logf("settled at %v", own.counts())
}

// holdOne opens a single-node coordinator that holds (testDelivery, 0).
func holdOne(t *testing.T, js jetstream.JetStream) (*Coordinator, *Lease) {
	t.Helper()
	c, err := Open(t.Context(), js, Config{Node: "solo", TTL: testTTL, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	l, err := c.Acquire(t.Context(), testDelivery, 0)
	if err != nil {
		t.Fatal(err)
	}
	return c, l
}

func TestLostWhenOverwritten(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	_, l := holdOne(t, connect(t, s))
	kv, err := connect(t, s).KeyValue(t.Context(), LeasesBucket)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	intruder, err := kv.Put(t.Context(), leaseKey(testDelivery, 0), []byte(`{"instance":"intruder"}`))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
		t.Logf("Lost closed %v after the key was overwritten", time.Since(t0).Round(time.Microsecond))
	case <-time.After(testTTL / 4): // its own deadline would close it only at 3/4 TTL
		t.Fatal("Lost not closed within TTL/4 of the key being overwritten")
	}
	select {
	case <-l.Yield():
		t.Error("Yield closed on a lost lease")
	default:
	}
	l.Release(t.Context()) // must not delete the intruder's value
	e, err := kv.Get(t.Context(), leaseKey(testDelivery, 0))
	if err != nil || e.Revision() != intruder {
		t.Fatalf("after Release the key is %v, %v; want the intruder's revision %d", e, err, intruder)
	}
}

func TestRenewalConflict(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c, l := holdOne(t, connect(t, s))
	kv, err := connect(t, s).KeyValue(t.Context(), LeasesBucket)
	if err != nil {
		t.Fatal(err)
	}
	key := leaseKey(testDelivery, 0)

	// A write of this very lease that the holder never saw acknowledged (a
	// renewal that timed out but was stored) is adopted, not a loss.
	e, err := kv.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	stray, err := kv.Update(t.Context(), key, e.Value(), e.Revision())
	if err != nil {
		t.Fatal(err)
	}
	l.renewOnce() // fails its compare-and-set, finds the stray write and adopts it
	l.renewOnce() // succeeds on the adopted revision
	select {
	case <-l.Lost():
		t.Fatal("Lost closed after a write of the lease's own")
	default:
	}
	c.mu.Lock()
	cur := l.cur
	c.mu.Unlock()
	if cur <= stray {
		t.Fatalf("after the stray write at revision %d the lease renewed to %d", stray, cur)
	}

	// A renewal whose compare-and-set fails on someone else's write loses the lease.
	if _, err := kv.Put(t.Context(), key, []byte(`{"instance":"intruder"}`)); err != nil {
		t.Fatal(err)
	}
	l.renewOnce() // the watcher may have been first; either way, Lost closes
	select {
	case <-l.Lost():
	case <-time.After(testTTL / 4):
		t.Fatal("Lost not closed within TTL/4 of a failed renewal")
	}
}

func TestLostWhenNotRenewed(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c, l := holdOne(t, connect(t, s))
	c.crash() // renewals stop, as when the server cannot be reached
	c.mu.Lock()
	sent := l.sent // Run has returned: no renewal is in flight
	c.mu.Unlock()
	select {
	case <-l.Lost():
		d := time.Since(sent)
		if d < c.tm.lostAfter || d > testTTL {
			t.Fatalf("Lost closed %v after the last renewal was sent; want between %v and the TTL %v", d, c.tm.lostAfter, testTTL)
		}
		t.Logf("unrenewed, Lost closed %v after the last renewal was sent (TTL %v)", d.Round(time.Millisecond), testTTL)
	case <-time.After(testTTL):
		t.Fatal("Lost not closed within the TTL of the last renewal")
	}
}

func TestMembersAndLeases(t *testing.T) {
	t.Parallel()
	s, own := startServer(t), newOwnership(t)
	nodes := startNodes(t, s, own, "b", "a")
	own.awaitCounts(t, converge, map[string]int{"a": 6, "b": 6})

	members, err := nodes[0].c.Members(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 2 {
		t.Fatalf("Members() = %+v, want 2", members)
	}
	for i, name := range []string{"a", "b"} { // sorted by name
		m, self := members[i], nodes[1-i].c.Self()
		if m.Name != name || m.Listen != name+":4195" || m.Leases != 6 || !strings.HasPrefix(m.Instance, name+"-") ||
			m.Instance != self.Instance || !m.Started.Equal(self.Started) {
			t.Errorf("Members()[%d] = %+v; Self() = %+v", i, m, self)
		}
	}

	leases, err := nodes[1].c.Leases(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(leases) != testShards {
		t.Fatalf("Leases() has %d leases, want %d", len(leases), testShards)
	}
	holders := map[string]string{"a": nodes[1].c.Self().Instance, "b": nodes[0].c.Self().Instance}
	own.mu.Lock()
	defer own.mu.Unlock()
	for i, l := range leases {
		name := own.holder[leaseKey(testDelivery, i)]
		if l.Delivery != testDelivery || l.Shard != i || l.HolderName != name || l.Holder != holders[name] || l.Revision == 0 ||
			time.Since(l.Renewed) > testTTL || l.Acquired.After(l.Renewed.Add(time.Second)) {
			t.Errorf("Leases()[%d] = %+v; held by %s", i, l, name)
		}
	}
}

// TestReportInMembers: what a node's SetReport gives rides its heartbeats,
// and every node reads it in Members, with when it was written.
func TestReportInMembers(t *testing.T) {
	t.Parallel()
	s, own := startServer(t), newOwnership(t)
	nodes := startNodes(t, s, own, "a", "b")
	var n atomic.Int64
	nodes[1].c.SetReport(func() json.RawMessage { return fmt.Appendf(nil, `{"delivered":%d}`, n.Add(1)) })
	var got Member
	await.Cond(t, testTTL, "b's report in a's Members", func() bool {
		members, err := nodes[0].c.Members(t.Context())
		if err != nil || len(members) != 2 {
			return false
		}
		got = members[1]
		return got.Name == "b" && len(got.Report) > 0
	})
	var rep struct{ Delivered int64 }
	if err := json.Unmarshal(got.Report, &rep); err != nil || rep.Delivered < 1 {
		t.Errorf("b's report %s: %v", got.Report, err)
	}
	if age := time.Since(got.Heartbeat); age < 0 || age > testTTL {
		t.Errorf("b's heartbeat %v ago, want within the TTL", age)
	}
}

func TestAcquireErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	c, _ := holdOne(t, connect(t, s))

	if _, err := c.Acquire(t.Context(), testDelivery, 0); !errors.Is(err, ErrDuplicateAcquire) {
		t.Errorf("second Acquire of a held key: %v, want ErrDuplicateAcquire", err)
	}
	for _, bad := range []string{"", "a b", strings.Repeat("x", 65)} {
		if _, err := c.Acquire(t.Context(), bad, 0); err == nil {
			t.Errorf("Acquire(%q) succeeded", bad)
		}
	}
	if _, err := c.Acquire(t.Context(), testDelivery, -1); err == nil {
		t.Error("Acquire of shard -1 succeeded")
	}

	// A key another node holds: Acquire waits until ctx ends.
	other, err := Open(t.Context(), connect(t, s), Config{Node: "other", TTL: testTTL})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		other.Run(runCtx)
	}()
	ctx, cancel := context.WithTimeout(t.Context(), testTTL/2)
	defer cancel()
	if _, err := other.Acquire(ctx, testDelivery, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire of a key another node holds: %v, want context.DeadlineExceeded", err)
	}
	stop()
	<-done
	if _, err := other.Acquire(t.Context(), testDelivery, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Acquire after Run ended: %v, want ErrClosed", err)
	}
}

func TestOpenRefusesAnotherTTL(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	js := connect(t, s)
	if _, err := Open(t.Context(), js, Config{Node: "a", TTL: testTTL}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), js, Config{Node: "b", TTL: testTTL + time.Second}); err == nil || !strings.Contains(err.Error(), "same TTL") {
		t.Fatalf("Open with another TTL: %v, want an error about the TTL", err)
	}
	if _, err := Open(t.Context(), js, Config{Node: "c", TTL: 500 * time.Millisecond}); err == nil {
		t.Fatal("Open with a TTL below the minimum succeeded")
	}
}

// TestOversizedReport: a report past MaxReport is left out of the
// heartbeat, which still renews the node's membership.
func TestOversizedReport(t *testing.T) {
	t.Parallel()
	s, own := startServer(t), newOwnership(t)
	nodes := startNodes(t, s, own, "a", "b")
	big := json.RawMessage(`"` + strings.Repeat("x", MaxReport) + `"`)
	var calls atomic.Int64
	nodes[1].c.SetReport(func() json.RawMessage { calls.Add(1); return big })
	await.Cond(t, testTTL, "b to build its report", func() bool { return calls.Load() > 0 })
	since := time.Now()
	await.Cond(t, 2*testTTL, "b's heartbeat after its report grew, without it", func() bool {
		members, err := nodes[0].c.Members(t.Context())
		return err == nil && len(members) == 2 && members[1].Name == "b" && members[1].Heartbeat.After(since) &&
			len(members[1].Report) == 0
	})
}
