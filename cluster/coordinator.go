package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrClosed is returned by Acquire once Run has ended or is leaving: the node
// takes no more leases.
var ErrClosed = errors.New("cluster: coordinator closed")

// ErrDuplicateAcquire is returned by Acquire for a key that this node is
// already acquiring or holding: one holder per key and node.
var ErrDuplicateAcquire = errors.New("cluster: already acquiring or holding this lease")

// Member is one live node of the cluster.
type Member struct {
	Instance string    // unique per run of a node: its name, a dash and 8 random hex digits
	Name     string    // Config.Node
	Listen   string    // Config.Listen
	Started  time.Time // when this instance opened its coordinator (its own clock)
	Leases   int       // leases it holds
	// Report is what the node's SetReport function gave at its last
	// heartbeat (nil without one); Heartbeat is when that heartbeat was
	// stored (the server's clock), at most TTL ago for a live member.
	Report    json.RawMessage
	Heartbeat time.Time
}

// LeaseInfo describes one lease in the leases bucket: of a delivery's
// shard, or of an application (Application set; Delivery "", Shard 0).
type LeaseInfo struct {
	Delivery    string
	Shard       int
	Application string
	Holder      string    // holder's instance id
	HolderName  string    // holder's node name
	Revision    uint64    // the key's current revision: it changes at every renewal
	Acquired    time.Time // when the holder created the key (its own clock)
	Renewed     time.Time // when the key was last written (the server's clock)
}

// memberRecord is the value of a key in the nodes bucket.
type memberRecord struct {
	Instance string    `json:"instance"`
	Name     string    `json:"name"`
	Listen   string    `json:"listen,omitempty"`
	Started  time.Time `json:"started"`
	Wanted   int       `json:"wanted"` // keys it is acquiring or holding: only a member that wants more is yielded to
	// Report is the node's own report (SetReport), rewritten at each heartbeat.
	Report json.RawMessage `json:"report,omitempty"`
}

// leaseRecord is the value of a key in the leases bucket. Renewals rewrite
// the same value; Nonce tells this instance's successive leases of one key apart.
type leaseRecord struct {
	Instance string    `json:"instance"`
	Name     string    `json:"name"`
	Nonce    uint64    `json:"nonce"`
	Acquired time.Time `json:"acquired"`
}

// memberView and leaseView are this node's view of the buckets, kept by the
// watchers in Run; seen is the local time of the last write seen.
type memberView struct {
	rec  memberRecord
	seen time.Time
}

type leaseView struct {
	holder string // instance id; "" when only known to exist (a Create failed on it)
	rev    uint64
	seen   time.Time
}

// want is one Acquire call waiting for, or holding, a lease.
type want struct {
	key       string
	delivery  string
	shard     int
	ready     chan *Lease // buffered 1: the lease, once granted
	lease     *Lease
	freeSince time.Time // when acquireFree first saw the key free; zero while taken
}

// Coordinator holds this node's membership and leases. Open it, run Run in a
// goroutine, and Acquire a lease for every (delivery, shard) this node could
// deliver. Its methods are safe for concurrent use.
type Coordinator struct {
	cfg    Config
	tm     timing
	log    *slog.Logger
	nodes  jetstream.KeyValue
	leases jetstream.KeyValue
	self   memberRecord // Wanted is filled in at each heartbeat

	life     context.Context // renewals and heartbeats; ends when Run has finished
	stopLife context.CancelFunc
	wg       sync.WaitGroup // renewal goroutines

	wake      chan struct{} // buffered 1: Run should look at the wants again
	beat      chan struct{} // buffered 1: heartbeat now (what this node wants changed)
	closed    chan struct{} // closed when Run leaves or crashes: Acquire returns ErrClosed
	crashed   chan struct{} // closed by crash
	crashOnce sync.Once
	settle    time.Time // no lease is taken before: one heartbeat period after registering

	mu           sync.Mutex
	started      bool
	closing      bool
	synced       bool // both watchers have delivered their initial values
	wants        map[string]*want
	held         map[string]*Lease
	releasing    int                   // Release calls still deleting their key
	members      map[string]memberView // by instance id
	owners       map[string]leaseView  // by lease key; only keys with a value
	live         int
	onMembership []func(live int)
	report       func() json.RawMessage
	nonce        uint64
}

// Open creates (or opens) the two buckets and registers this node under a new
// instance id. It reads the membership before returning, so LiveNodes counts
// the nodes already running. The coordinator does nothing more until Run runs;
// if Run never runs, the registration expires after the TTL.
//
// A bucket that exists already must have been made with the same TTL (every node
// must use the same, or a holder's idea of when its lease expires is wrong);
// Open refuses one that was not. Its replicas are left as they are.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	cfg = cfg.withDefaults()
	nodes, err := openBucket(ctx, js, NodesBucket, "hydrant nodes: one key per running instance, rewritten every TTL/4", cfg)
	if err != nil {
		return nil, err
	}
	leases, err := openBucket(ctx, js, LeasesBucket, "hydrant leases: one key per (delivery, shard), held by the node delivering it", cfg)
	if err != nil {
		return nil, err
	}
	c := &Coordinator{
		cfg:     cfg,
		tm:      newTiming(cfg.TTL),
		log:     cfg.Logger.With("component", "cluster"),
		nodes:   nodes,
		leases:  leases,
		self:    memberRecord{Instance: newInstanceID(cfg.Node), Name: cfg.Node, Listen: cfg.Listen, Started: time.Now().UTC()},
		wake:    make(chan struct{}, 1),
		beat:    make(chan struct{}, 1),
		closed:  make(chan struct{}),
		crashed: make(chan struct{}),
		wants:   make(map[string]*want),
		held:    make(map[string]*Lease),
		members: make(map[string]memberView),
		owners:  make(map[string]leaseView),
		live:    1,
	}
	c.life, c.stopLife = context.WithCancel(context.WithoutCancel(ctx))
	if err := c.heartbeat(ctx); err != nil {
		c.stopLife()
		return nil, fmt.Errorf("cluster: register %s in %s: %w", c.self.Instance, NodesBucket, err)
	}
	c.settle = time.Now().Add(c.tm.period)
	entries, err := snapshot(ctx, nodes)
	if err != nil {
		c.deregister()
		c.stopLife()
		return nil, fmt.Errorf("cluster: read %s: %w", NodesBucket, err)
	}
	now := time.Now()
	for _, e := range entries {
		var rec memberRecord
		if json.Unmarshal(e.Value(), &rec) == nil {
			c.members[e.Key()] = memberView{rec: rec, seen: now}
		}
	}
	c.live = c.liveLocked()
	c.log.Info("cluster: registered", "instance", c.self.Instance, "live", c.live, "ttl", cfg.TTL)
	return c, nil
}

// openBucket creates bucket or opens it and checks that its TTL is cfg.TTL.
func openBucket(ctx context.Context, js jetstream.JetStream, bucket, description string, cfg Config) (jetstream.KeyValue, error) {
	kcfg := jetstream.KeyValueConfig{
		Bucket:         bucket,
		Description:    description,
		History:        1,
		TTL:            cfg.TTL,
		LimitMarkerTTL: cfg.TTL, // the server writes a marker when it expires a key, so watchers see it
		Replicas:       cfg.Replicas,
		Storage:        jetstream.FileStorage,
	}
	kv, err := js.CreateKeyValue(ctx, kcfg)
	if errors.Is(err, jetstream.ErrLimitMarkerTTLNotSupported) { // a server before 2.11: expiries are noticed by the prune instead
		cfg.Logger.Warn("cluster: the server cannot mark expired keys; a dead node's leases are taken over up to TTL/4 later", "bucket", bucket)
		kcfg.LimitMarkerTTL = 0
		kv, err = js.CreateKeyValue(ctx, kcfg)
	}
	if errors.Is(err, jetstream.ErrBucketExists) { // made with another config: use it if its TTL is ours
		kv, err = js.KeyValue(ctx, bucket)
		if err == nil {
			var st jetstream.KeyValueStatus
			if st, err = kv.Status(ctx); err == nil && st.TTL() != cfg.TTL {
				return nil, fmt.Errorf("cluster: bucket %s expires keys after %v but this node's TTL is %v: every node must use the same TTL (delete the bucket to change it)", bucket, st.TTL(), cfg.TTL)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: open bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// Acquire registers interest in (delivery, shard) and blocks until this node
// holds its lease, ctx ends (it returns ctx.Err()) or the coordinator closes (it
// returns ErrClosed). The node takes a free lease only while it holds fewer than
// its exact share of the wanted keys (see Balance in the package doc), so it
// may wait while other nodes hold the key or while this node has its share. Nothing is taken before Run runs.
//
// A node has at most one Acquire or Lease per key: a second Acquire while the
// first waits or its lease is held returns ErrDuplicateAcquire. Once the lease
// is released or lost, Acquire may be called again for the key.
func (c *Coordinator) Acquire(ctx context.Context, delivery string, shard int) (*Lease, error) {
	if !validDelivery(delivery) {
		return nil, fmt.Errorf("cluster: delivery %q: must be 1 to %d of [a-zA-Z0-9_.-]", delivery, maxDeliveryLen)
	}
	if shard < 0 {
		return nil, fmt.Errorf("cluster: delivery %q: shard %d must not be negative", delivery, shard)
	}
	return c.acquire(ctx, leaseKey(delivery, shard), delivery, shard)
}

// AcquireApplication is Acquire for a SQL application, which runs on one
// node at a time: its lease is one more key to share among the nodes, and
// moves like a shard's on node loss, yield and leave. Its holder must stop
// the application at once when Lost closes.
func (c *Coordinator) AcquireApplication(ctx context.Context, name string) (*Lease, error) {
	if !validDelivery(name) {
		return nil, fmt.Errorf("cluster: application %q: must be 1 to %d of [a-zA-Z0-9_.-]", name, maxDeliveryLen)
	}
	return c.acquire(ctx, appLeaseKey(name), "analytics:"+name, 0)
}

// acquire waits for the lease on key; delivery and shard name it in logs.
func (c *Coordinator) acquire(ctx context.Context, key, delivery string, shard int) (*Lease, error) {
	w := &want{key: key, delivery: delivery, shard: shard, ready: make(chan *Lease, 1)}
	c.mu.Lock()
	switch {
	case c.closing:
		c.mu.Unlock()
		return nil, ErrClosed
	case c.wants[key] != nil:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: delivery %q shard %d", ErrDuplicateAcquire, delivery, shard)
	}
	c.wants[key] = w
	c.mu.Unlock()
	signal(c.wake)
	signal(c.beat)

	var err error
	select {
	case l := <-w.ready:
		return l, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-c.closed:
		err = ErrClosed
	}
	c.mu.Lock()
	l := w.lease // granted while giving up: nobody will hold it, so give it back
	if l == nil && c.wants[key] == w {
		delete(c.wants, key)
	}
	c.mu.Unlock()
	if l != nil {
		l.Release(ctx)
	}
	signal(c.beat)
	return nil, err
}

// Self describes this node as the others see it, with the leases it holds now.
func (c *Coordinator) Self() Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Member{Instance: c.self.Instance, Name: c.self.Name, Listen: c.self.Listen, Started: c.self.Started, Leases: len(c.held)}
}

// LiveNodes is the last known number of live members, this node included, so
// at least 1. It is read at Open and kept up to date by Run.
func (c *Coordinator) LiveNodes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

// OnMembership registers f to be called with the new LiveNodes whenever it
// changes. f is called from Run's goroutine and must return quickly; call
// OnMembership before Run.
func (c *Coordinator) OnMembership(f func(live int)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onMembership = append(c.onMembership, f)
}

// SetReport makes every heartbeat carry f's report of this node (its
// deliveries' counts, say), which every node reads in Members. f is called
// from the heartbeat goroutine every TTL/4 and must return quickly; a
// report past MaxReport, or past the servers' max_payload, is left out of
// the heartbeat. Call SetReport before Run.
func (c *Coordinator) SetReport(f func() json.RawMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.report = f
}

// Members reads the live members from the nodes bucket, with the number of
// leases each holds in the leases bucket, sorted by name and instance.
func (c *Coordinator) Members(ctx context.Context) ([]Member, error) {
	nodes, err := snapshot(ctx, c.nodes)
	if err != nil {
		return nil, fmt.Errorf("cluster: read %s: %w", NodesBucket, err)
	}
	leases, err := c.Leases(ctx)
	if err != nil {
		return nil, err
	}
	held := make(map[string]int)
	for _, l := range leases {
		held[l.Holder]++
	}
	out := make([]Member, 0, len(nodes))
	for _, e := range nodes {
		var rec memberRecord
		if json.Unmarshal(e.Value(), &rec) != nil {
			continue
		}
		out = append(out, Member{Instance: e.Key(), Name: rec.Name, Listen: rec.Listen, Started: rec.Started, Leases: held[e.Key()],
			Report: rec.Report, Heartbeat: e.Created()})
	}
	slices.SortFunc(out, func(a, b Member) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Instance, b.Instance)) })
	return out, nil
}

// Leases reads every lease in the leases bucket, sorted by application (the
// deliveries' first), delivery and shard.
func (c *Coordinator) Leases(ctx context.Context) ([]LeaseInfo, error) {
	entries, err := snapshot(ctx, c.leases)
	if err != nil {
		return nil, fmt.Errorf("cluster: read %s: %w", LeasesBucket, err)
	}
	out := make([]LeaseInfo, 0, len(entries))
	for _, e := range entries {
		name, shard, app, ok := parseLeaseKey(e.Key())
		var rec leaseRecord
		if !ok || json.Unmarshal(e.Value(), &rec) != nil {
			continue
		}
		info := LeaseInfo{Delivery: name, Shard: shard, Holder: rec.Instance, HolderName: rec.Name,
			Revision: e.Revision(), Acquired: rec.Acquired, Renewed: e.Created()}
		if app {
			info.Delivery, info.Application = "", name
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b LeaseInfo) int {
		return cmp.Or(cmp.Compare(a.Application, b.Application), cmp.Compare(a.Delivery, b.Delivery), cmp.Compare(a.Shard, b.Shard))
	})
	return out, nil
}

// snapshot reads the current values of a bucket (no delete markers).
func snapshot(ctx context.Context, kv jetstream.KeyValue) ([]jetstream.KeyValueEntry, error) {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer stopWatcher(w)
	var out []jetstream.KeyValueEntry
	for {
		select {
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return nil, errors.New("watcher closed")
			case e == nil:
				return out, nil
			}
			out = append(out, e)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// stopWatcher unsubscribes w and drains what it still delivers, so that its
// delivery goroutine, which blocks on a full Updates channel, can end.
func stopWatcher(w jetstream.KeyWatcher) {
	_ = w.Stop()
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case _, ok := <-w.Updates():
			if !ok {
				return
			}
		case <-timeout.C:
			return
		}
	}
}

// MaxReport is the largest report (SetReport) a heartbeat carries: one
// larger is left out, so that the heartbeat — the node's membership —
// never fails for its size.
const MaxReport = 64 << 10

// heartbeat writes this node's membership record. A report past MaxReport,
// or one the server refuses for its size (its max_payload), is left out
// (logged): the membership is what must not lapse.
func (c *Coordinator) heartbeat(ctx context.Context) error {
	c.mu.Lock()
	rec := c.self
	rec.Wanted = len(c.wants)
	report := c.report
	c.mu.Unlock()
	if report != nil {
		rec.Report = report()
	}
	if len(rec.Report) > MaxReport {
		c.log.Warn("cluster: this node's report is too large for its heartbeat; sent without it", "bytes", len(rec.Report), "max", MaxReport)
		rec.Report = nil
	}
	err := c.putMember(ctx, rec)
	if errors.Is(err, nats.ErrMaxPayload) && rec.Report != nil {
		c.log.Warn("cluster: the server refused this node's heartbeat for its size (max_payload); sent without its report",
			"bytes", len(rec.Report))
		rec.Report = nil
		err = c.putMember(ctx, rec)
	}
	return err
}

// putMember writes rec to the nodes bucket.
func (c *Coordinator) putMember(ctx context.Context, rec memberRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.tm.request)
	defer cancel()
	_, err = c.nodes.Put(ctx, rec.Instance, b)
	return err
}

// deregister deletes this node's membership record.
func (c *Coordinator) deregister() {
	ctx, cancel := context.WithTimeout(c.life, c.tm.request)
	defer cancel()
	if err := c.nodes.Delete(ctx, c.self.Instance); err != nil {
		c.log.Warn("cluster: deregister failed; the registration expires within the TTL", "instance", c.self.Instance, "err", err)
	}
}

// liveLocked counts the members, this node included.
func (c *Coordinator) liveLocked() int {
	n := len(c.members)
	if _, ok := c.members[c.self.Instance]; !ok {
		n++
	}
	return n
}

// signal wakes whoever waits on ch (buffered 1) without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
