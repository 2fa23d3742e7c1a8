package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

type leaseState int

const (
	leaseHeld     leaseState = iota // renewed; Yield may be closed
	leaseLost                       // Lost closed, not renewed; Release not called yet
	leaseReleased                   // Release called
)

// Lease is this node's hold on one (delivery, shard). The holder delivers
// while neither channel is closed, stops at once when Lost closes, finishes and
// checkpoints when Yield closes, and calls Release in both cases.
type Lease struct {
	c        *Coordinator
	key      string
	delivery string
	shard    int
	rev      uint64 // revision of the acquiring Create: the fencing token
	nonce    uint64
	// orphan: taken above the target because nobody took it for a TTL
	// (other nodes do not want it); rebalancing never yields it, or it
	// would go back and forth between free and taken.
	orphan bool
	value  []byte // what the Create and every renewal write

	lost      chan struct{}
	yield     chan struct{}
	stop      chan struct{} // closed when renewing must stop
	renewDone chan struct{} // closed when the renewal goroutine has ended

	// guarded by c.mu
	state    leaseState
	lostShut bool      // lost is closed
	yielded  bool      // yield is closed
	cur      uint64    // revision of the last acknowledged write
	sent     time.Time // when that write was sent (monotonic)
	deadline *time.Timer
}

// Lost is closed when this node can no longer be sure it holds the lease: its
// renewals have not been acknowledged for 3/4 TTL (the server expires it after
// TTL), a renewal found the key's revision changed, the key was rewritten or
// deleted by someone else, or a graceful leave gave the lease up because it was
// not released in time. The holder must stop delivering AT ONCE, without
// flushing: another node may hold the lease TTL/4 later. Release closes it too.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Yield is closed when the node should hand the lease over, to rebalance or
// because it is leaving: the holder finishes what it is doing (flush,
// checkpoint) and calls Release. The lease is renewed until then; Lost may
// still close first.
func (l *Lease) Yield() <-chan struct{} { return l.yield }

// Revision is the KV revision of the write that acquired the lease. It is a
// fencing token: every later holder of the same key has a larger one.
func (l *Lease) Revision() uint64 { return l.rev }

// Release stops renewing the lease and deletes its key with a compare-and-set
// on the last revision this node wrote, so it never deletes a successor's
// lease; the other nodes see the delete and take the key over at once. It
// closes Lost if still open, is idempotent, and may follow Lost (the holder has
// stopped by then, so deleting a key it still held only frees it sooner). The
// delete uses ctx, or a short timeout of its own when ctx has already ended,
// since a holder typically releases while shutting down. Acquire may be called
// for the same key once Release has begun.
func (l *Lease) Release(ctx context.Context) {
	c := l.c
	c.mu.Lock()
	if l.state == leaseReleased {
		c.mu.Unlock()
		return
	}
	if l.state == leaseHeld {
		l.endLocked()
	}
	l.state = leaseReleased
	if !l.lostShut {
		l.lostShut = true
		close(l.lost)
	}
	c.releasing++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.releasing--
		c.mu.Unlock()
		signal(c.wake)
		signal(c.beat)
	}()
	<-l.renewDone // a renewal in flight would otherwise make the delete's revision stale
	c.mu.Lock()
	rev := l.cur
	c.mu.Unlock()

	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), c.tm.request)
		defer cancel()
	}
	err := c.leases.Delete(ctx, l.key, jetstream.LastRevision(rev))
	switch {
	case err == nil:
		c.log.Info("cluster: lease released", "delivery", l.delivery, "shard", l.shard, "revision", l.rev)
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		c.log.Info("cluster: lease released; its key had already expired or changed hands", "delivery", l.delivery, "shard", l.shard, "revision", l.rev)
	default:
		c.log.Warn("cluster: lease release failed; the key expires within the TTL", "delivery", l.delivery, "shard", l.shard, "revision", l.rev, "err", err)
	}
}

// endLocked stops renewing a held lease and forgets it: the key is no longer
// held nor wanted by this node. c.mu is held.
func (l *Lease) endLocked() {
	c := l.c
	l.deadline.Stop()
	close(l.stop)
	if c.held[l.key] == l {
		delete(c.held, l.key)
	}
	if w := c.wants[l.key]; w != nil && w.lease == l {
		delete(c.wants, l.key)
	}
}

// loseLocked closes Lost on a held lease; c.mu is held.
func (l *Lease) loseLocked(reason string) {
	if l.state != leaseHeld {
		return
	}
	l.endLocked()
	l.state = leaseLost
	l.lostShut = true
	close(l.lost)
	l.c.log.Warn("cluster: lease lost", "delivery", l.delivery, "shard", l.shard, "revision", l.rev, "reason", reason)
	signal(l.c.wake)
	signal(l.c.beat)
}

// yieldLocked closes Yield on a held lease; c.mu is held.
func (l *Lease) yieldLocked(reason string) {
	if l.state != leaseHeld || l.yielded {
		return
	}
	l.yielded = true
	close(l.yield)
	l.c.log.Info("cluster: lease yielded", "delivery", l.delivery, "shard", l.shard, "revision", l.rev, "reason", reason)
}

// expiresLocked reports whether the lease's own deadline has passed: 3/4 TTL
// after the send of its last acknowledged write. c.mu is held.
func (l *Lease) expiredLocked(now time.Time) bool {
	return !now.Before(l.sent.Add(l.c.tm.lostAfter))
}

// onDeadline runs when the deadline timer fires.
func (l *Lease) onDeadline() {
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.state == leaseHeld && l.expiredLocked(time.Now()) { // else a renewal moved the deadline
		l.loseLocked(fmt.Sprintf("no renewal acknowledged within %v of being sent", c.tm.lostAfter))
	}
}

// renew rewrites the key every TTL/4 (sooner after a failure) until the lease ends.
func (l *Lease) renew() {
	c := l.c
	defer c.wg.Done()
	defer close(l.renewDone)
	t := time.NewTimer(c.tm.period)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-c.life.Done():
			return
		case <-t.C:
		}
		next := c.tm.period
		if !l.renewOnce() {
			next = c.tm.period / 2
		}
		t.Reset(next)
	}
}

// renewOnce sends one renewal; false when it failed but the lease is not lost.
func (l *Lease) renewOnce() bool {
	c := l.c
	c.mu.Lock()
	if l.state != leaseHeld {
		c.mu.Unlock()
		return true
	}
	rev := l.cur
	c.mu.Unlock()

	sent := time.Now()
	ctx, cancel := context.WithTimeout(c.life, c.tm.request)
	newRev, err := c.leases.Update(ctx, l.key, l.value, rev)
	cancel()
	switch {
	case err == nil:
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case l.state != leaseHeld: // stopped meanwhile: Release must delete this revision
			l.cur = newRev
		case l.expiredLocked(time.Now()):
			l.cur = newRev // for Release; the deadline stays passed
			l.loseLocked("renewal acknowledged after the deadline")
		default:
			l.cur, l.sent = newRev, sent
			l.deadline.Reset(time.Until(sent.Add(c.tm.lostAfter)))
		}
		return true
	case c.life.Err() != nil:
		return true
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		l.conflict(rev)
		return true
	default:
		c.log.Warn("cluster: lease renewal failed", "delivery", l.delivery, "shard", l.shard, "revision", l.rev, "err", err)
		return false
	}
}

// conflict handles a renewal whose compare-and-set on rev failed: the lease is
// lost, unless the key holds a later write of this very lease (a renewal that
// timed out but was stored), which it adopts without moving the deadline, as
// it does not know when that write was sent.
func (l *Lease) conflict(rev uint64) {
	c := l.c
	ctx, cancel := context.WithTimeout(c.life, c.tm.request)
	e, err := c.leases.Get(ctx, l.key)
	cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.state != leaseHeld {
		return
	}
	var rec leaseRecord
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		l.loseLocked("renewal found the key gone (expired or deleted)")
	case err != nil:
		l.loseLocked(fmt.Sprintf("renewal found revision %d replaced, and reading the key failed: %v", rev, err))
	case json.Unmarshal(e.Value(), &rec) == nil && rec.Instance == c.self.Instance && rec.Nonce == l.nonce && e.Revision() > l.cur:
		l.cur = e.Revision()
	default:
		l.loseLocked(fmt.Sprintf("renewal found revision %d replaced by %d of %s", rev, e.Revision(), rec.Instance))
	}
}
