package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Run keeps this node's membership and leases until ctx ends: it rewrites the
// membership record every TTL/4, renews every held lease every TTL/4, watches
// both buckets, takes free leases this node wants while it is below its target
// and yields its excess once per TTL/4. Call it once, in its own goroutine.
//
// When ctx ends it leaves gracefully: Acquire calls still waiting return
// ErrClosed, the membership record is deleted, Yield closes on every held lease,
// and Run waits up to TTL/2 for their holders to Release; a lease not released
// by then is given up (Lost closes, renewal stops) and left to expire. Run
// returns when this is done.
func (c *Coordinator) Run(ctx context.Context) {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return
	}
	c.started = true
	c.mu.Unlock()

	hbDone := make(chan struct{})
	go c.heartbeats(hbDone)
	w := &watchers{c: c}
	tick := time.NewTicker(c.tm.period)
	defer tick.Stop()
	settle := time.NewTimer(time.Until(c.settle))
	defer settle.Stop()
	for {
		w.ensure()
		acquire := false
		select {
		case <-ctx.Done():
			w.stop()
			c.leave(hbDone)
			return
		case <-c.crashed:
			w.stop()
			c.abandon(hbDone)
			return
		case e, ok := <-w.nodeUpdates():
			acquire = w.onNode(e, ok)
		case e, ok := <-w.leaseUpdates():
			acquire = w.onLease(e, ok)
		case <-c.wake:
			acquire = true
		case <-settle.C:
			acquire = true
		case <-tick.C:
			c.prune()
			c.rebalance()
			acquire = true
		}
		if acquire {
			c.acquireFree()
		}
	}
}

// heartbeats rewrites the membership record every TTL/4, and at once when
// what this node wants changes, until the coordinator closes.
func (c *Coordinator) heartbeats(done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(c.tm.period)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
		case <-c.beat:
		}
		if err := c.heartbeat(c.life); err != nil && c.life.Err() == nil {
			c.log.Warn("cluster: heartbeat failed", "instance", c.self.Instance, "err", err)
		}
	}
}

// leave is Run's graceful end.
func (c *Coordinator) leave(hbDone <-chan struct{}) {
	c.mu.Lock()
	c.closeLocked()
	c.mu.Unlock()
	<-hbDone
	c.deregister() // first, so the others count one node fewer and take each lease as it is released

	c.mu.Lock()
	for _, l := range c.held {
		l.yieldLocked("this node is leaving")
	}
	n := len(c.held) + c.releasing
	c.mu.Unlock()
	grace := time.NewTimer(c.tm.grace)
	defer grace.Stop()
wait:
	for n > 0 {
		select {
		case <-c.wake: // a Release or a loss
		case <-grace.C:
			break wait
		}
		c.mu.Lock()
		n = len(c.held) + c.releasing
		c.mu.Unlock()
	}
	c.mu.Lock()
	for _, l := range c.held {
		l.loseLocked(fmt.Sprintf("not released within %v of leaving; left to expire", c.tm.grace))
	}
	c.mu.Unlock()
	c.stopLife()
	c.wg.Wait()
	c.log.Info("cluster: left", "instance", c.self.Instance)
}

// abandon is Run's end after crash: it stops renewing and heartbeating and
// writes nothing more, as a node cut off from the server would. Held leases
// stay so until their deadlines close Lost.
func (c *Coordinator) abandon(hbDone <-chan struct{}) {
	c.mu.Lock()
	c.closeLocked()
	c.mu.Unlock()
	c.stopLife()
	<-hbDone
	c.wg.Wait()
}

// closeLocked makes Acquire return ErrClosed and drops the waiting wants.
func (c *Coordinator) closeLocked() {
	c.closing = true
	close(c.closed)
	for k, w := range c.wants {
		if w.lease == nil {
			delete(c.wants, k)
		}
	}
}

// crash simulates the abrupt death of this node (or its partition from the
// server) for tests: Run returns without releasing or deregistering.
func (c *Coordinator) crash() {
	c.crashOnce.Do(func() { close(c.crashed) })
}

// prune forgets members and lease keys not rewritten for TTL+TTL/4: the server
// has expired them, even if its marker has not arrived.
func (c *Coordinator) prune() {
	now := time.Now()
	c.mu.Lock()
	for id, m := range c.members {
		if id != c.self.Instance && now.Sub(m.seen) > c.tm.stale {
			delete(c.members, id)
		}
	}
	for k, o := range c.owners {
		if now.Sub(o.seen) > c.tm.stale {
			delete(c.owners, k)
		}
	}
	fs, live := c.updateLiveLocked()
	c.mu.Unlock()
	notify(fs, live)
}

// updateLiveLocked recounts the live members; when the count changed it returns
// the callbacks to call (without c.mu) with it.
func (c *Coordinator) updateLiveLocked() ([]func(int), int) {
	live := c.liveLocked()
	if live == c.live {
		return nil, live
	}
	c.log.Info("cluster: membership changed", "live", live, "was", c.live)
	c.live = live
	return slices.Clone(c.onMembership), live
}

func notify(fs []func(int), live int) {
	for _, f := range fs {
		f(live)
	}
}

// watchers keeps this node's view of both buckets current; it belongs to Run's
// goroutine.
type watchers struct {
	c            *Coordinator
	nodes        jetstream.KeyWatcher
	leases       jetstream.KeyWatcher
	nodesSynced  bool
	leasesSynced bool
	nodesSince   time.Time // when the current watcher started: older view entries are gone once it is synced
	leasesSince  time.Time
	retryAt      time.Time
}

// ensure starts the watchers that are not running (at most once per period).
func (w *watchers) ensure() {
	c := w.c
	now := time.Now()
	if w.nodes != nil && w.leases != nil || now.Before(w.retryAt) {
		return
	}
	var err error
	if w.nodes == nil {
		if w.nodes, err = c.nodes.WatchAll(c.life); err == nil {
			w.nodesSince, w.nodesSynced = now, false
		}
	}
	if err == nil && w.leases == nil {
		if w.leases, err = c.leases.WatchAll(c.life); err == nil {
			w.leasesSince, w.leasesSynced = now, false
		}
	}
	if err != nil {
		c.log.Warn("cluster: watching the buckets failed", "err", err)
		w.retryAt = now.Add(c.tm.period)
	}
	w.setSynced()
}

func (w *watchers) setSynced() {
	w.c.mu.Lock()
	w.c.synced = w.nodesSynced && w.leasesSynced
	w.c.mu.Unlock()
}

func (w *watchers) stop() {
	for _, kw := range []jetstream.KeyWatcher{w.nodes, w.leases} {
		if kw != nil {
			stopWatcher(kw)
		}
	}
	w.nodes, w.leases = nil, nil
}

func (w *watchers) nodeUpdates() <-chan jetstream.KeyValueEntry {
	if w.nodes == nil {
		return nil
	}
	return w.nodes.Updates()
}

func (w *watchers) leaseUpdates() <-chan jetstream.KeyValueEntry {
	if w.leases == nil {
		return nil
	}
	return w.leases.Updates()
}

// onNode applies one update of the nodes bucket; it reports whether to look
// for leases to take.
func (w *watchers) onNode(e jetstream.KeyValueEntry, ok bool) bool {
	c := w.c
	if !ok {
		c.log.Warn("cluster: the nodes watcher closed; restarting it")
		w.nodes, w.nodesSynced = nil, false
		w.setSynced()
		return false
	}
	now := time.Now()
	c.mu.Lock()
	switch {
	case e == nil:
		for id, m := range c.members {
			if m.seen.Before(w.nodesSince) {
				delete(c.members, id)
			}
		}
		w.nodesSynced = true
		c.synced = w.nodesSynced && w.leasesSynced
	case e.Operation() == jetstream.KeyValuePut:
		var rec memberRecord
		if json.Unmarshal(e.Value(), &rec) == nil {
			c.members[e.Key()] = memberView{rec: rec, seen: now}
		}
	default:
		delete(c.members, e.Key())
	}
	fs, live := c.updateLiveLocked()
	c.mu.Unlock()
	notify(fs, live)
	return true
}

// onLease applies one update of the leases bucket, closing Lost on a held lease
// that someone else rewrote or deleted (or the server expired); it reports
// whether to look for leases to take.
func (w *watchers) onLease(e jetstream.KeyValueEntry, ok bool) bool {
	c := w.c
	if !ok {
		c.log.Warn("cluster: the leases watcher closed; restarting it")
		w.leases, w.leasesSynced = nil, false
		w.setSynced()
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e == nil {
		for k, o := range c.owners {
			if o.seen.Before(w.leasesSince) {
				delete(c.owners, k)
			}
		}
		w.leasesSynced = true
		c.synced = w.nodesSynced && w.leasesSynced
		return true
	}
	key := e.Key()
	if o, ok := c.owners[key]; ok && e.Revision() < o.rev {
		return false // older than what this node wrote since
	}
	l := c.held[key]
	if e.Operation() != jetstream.KeyValuePut {
		delete(c.owners, key)
		if l != nil && e.Revision() > l.cur {
			l.loseLocked(fmt.Sprintf("key %s at revision %d", e.Operation(), e.Revision()))
		}
		return c.wants[key] != nil
	}
	var rec leaseRecord
	_ = json.Unmarshal(e.Value(), &rec) // a value not ours leaves rec empty: someone else's
	c.owners[key] = leaseView{holder: rec.Instance, rev: e.Revision(), seen: time.Now()}
	if l != nil && e.Revision() > l.cur && (rec.Instance != c.self.Instance || rec.Nonce != l.nonce) {
		l.loseLocked(fmt.Sprintf("key rewritten at revision %d by %q", e.Revision(), rec.Instance))
	}
	return false
}
