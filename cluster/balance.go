package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// share is one member as shares sees it.
type share struct {
	instance string
	held     int // leases it holds, as the leases watcher shows
	wanted   int // keys it wants, from its last heartbeat
}

// shares gives each member its exact share of wanted leases, water-filled:
// a member that wants no more than an even share (floor(wanted / n)) gets
// what it wants — a delivery that failed to start there, an older binary —
// and the rest is shared likewise among the others, until every one left
// wants more than its even share q of what is left: each of them gets q,
// and r = the rest mod their number of them one more. Who gets the r extra
// ones is what moves fewest leases: members already holding more than q
// first (they keep what they have), then by instance id, so that every
// node, from the same view, picks the same ones. 12 leases on 5 nodes are
// 3/3/2/2/2, never 3/3/3/3/0; 12 on 3 where one wants 2 are 5/5/2.
func shares(wanted int, members []share) map[string]int {
	out := make(map[string]int, len(members))
	left := slices.Clone(members)
	for len(left) > 0 {
		q := wanted / len(left)
		capped := false
		left = slices.DeleteFunc(left, func(m share) bool {
			if m.wanted > q {
				return false
			}
			out[m.instance] = max(m.wanted, 0)
			wanted -= max(m.wanted, 0)
			capped = true
			return true
		})
		if !capped {
			break
		}
	}
	if len(left) == 0 {
		return out
	}
	q, r := wanted/len(left), wanted%len(left)
	slices.SortFunc(left, func(a, b share) int {
		return cmp.Or(-cmp.Compare(boolInt(a.held > q), boolInt(b.held > q)), cmp.Compare(a.instance, b.instance))
	})
	for i, m := range left {
		out[m.instance] = q + boolInt(i < r)
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sharesLocked is shares over this node's view of the members and leases;
// this node counts what it wants now. c.mu is held.
func (c *Coordinator) sharesLocked() map[string]int {
	held := make(map[string]int)
	for _, o := range c.owners {
		held[o.holder]++
	}
	members := make([]share, 0, len(c.members)+1)
	for id, m := range c.members {
		if id != c.self.Instance {
			members = append(members, share{instance: id, held: held[id], wanted: m.rec.Wanted})
		}
	}
	members = append(members, share{instance: c.self.Instance, held: held[c.self.Instance], wanted: len(c.wants)})
	return shares(len(c.wants), members)
}

// readyLocked reports whether this node may take leases: it is not leaving,
// its view of both buckets is complete, and it has waited a heartbeat period
// since registering, so it knows the other members.
func (c *Coordinator) readyLocked(now time.Time) bool {
	return !c.closing && c.synced && !now.Before(c.settle)
}

// acquireFree tries to Create the lease of each wanted key that looks free,
// in random order (so nodes racing for the same keys collide less), while this
// node holds fewer than its target — or the key has been free for a whole TTL.
// It runs on Run's goroutine.
func (c *Coordinator) acquireFree() {
	now := time.Now()
	c.mu.Lock()
	if !c.readyLocked(now) {
		c.mu.Unlock()
		return
	}
	var free []*want
	for _, w := range c.wants {
		if w.lease != nil {
			continue
		}
		if _, taken := c.owners[w.key]; taken {
			w.freeSince = time.Time{}
			continue
		}
		if w.freeSince.IsZero() {
			w.freeSince = now
		}
		free = append(free, w)
	}
	c.mu.Unlock()
	rand.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
	for _, w := range free {
		c.mu.Lock()
		below := len(c.held) < c.sharesLocked()[c.self.Instance]
		ok := c.readyLocked(now) && c.wants[w.key] == w && w.lease == nil && (below || now.Sub(w.freeSince) >= c.tm.orphan)
		c.mu.Unlock()
		if !ok {
			continue
		}
		if err := c.create(w, !below); err != nil {
			c.log.Warn("cluster: acquiring a lease failed", "delivery", w.delivery, "shard", w.shard, "err", err)
			return // the server is in trouble: try again at the next tick
		}
	}
}

// create tries to take w's key, as an orphan when above the target; a key
// someone else holds is not an error.
func (c *Coordinator) create(w *want, orphan bool) error {
	c.mu.Lock()
	c.nonce++
	rec := leaseRecord{Instance: c.self.Instance, Name: c.self.Name, Nonce: c.nonce, Acquired: time.Now().UTC()}
	c.mu.Unlock()
	value, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	sent := time.Now() // before the request: the server stamps the write later
	ctx, cancel := context.WithTimeout(c.life, c.tm.request)
	rev, err := c.leases.Create(ctx, w.key, value)
	cancel()
	if err != nil {
		if !taken(err) {
			return err
		}
		c.mu.Lock()
		if _, ok := c.owners[w.key]; !ok { // the watcher will say who; until then, not free
			c.owners[w.key] = leaseView{seen: time.Now()}
		}
		c.mu.Unlock()
		return nil
	}

	c.mu.Lock()
	if c.closing || c.wants[w.key] != w || w.lease != nil || !time.Now().Before(sent.Add(c.tm.lostAfter)) {
		c.mu.Unlock() // given up meanwhile, or acknowledged too late to be safe: give it back
		ctx, cancel := context.WithTimeout(c.life, c.tm.request)
		defer cancel()
		_ = c.leases.Delete(ctx, w.key, jetstream.LastRevision(rev))
		return nil
	}
	l := &Lease{c: c, key: w.key, delivery: w.delivery, shard: w.shard, rev: rev, nonce: rec.Nonce, value: value, orphan: orphan,
		lost: make(chan struct{}), yield: make(chan struct{}), stop: make(chan struct{}), renewDone: make(chan struct{}),
		cur: rev, sent: sent}
	l.deadline = time.AfterFunc(time.Until(sent.Add(c.tm.lostAfter)), l.onDeadline)
	c.held[w.key] = l
	c.owners[w.key] = leaseView{holder: c.self.Instance, rev: rev, seen: time.Now()}
	w.lease = l
	w.ready <- l
	c.wg.Add(1)
	go l.renew()
	held := len(c.held)
	c.mu.Unlock()
	c.log.Info("cluster: lease acquired", "delivery", w.delivery, "shard", w.shard, "revision", rev, "held", held)
	return nil
}

// taken reports whether a Create failed because the key has a value. nats.go
// returns ErrKeyExists when the key has a value, but a plain wrong-last-sequence
// error when it lost a race for a key that had a delete or expiry marker.
func taken(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, jetstream.ErrKeyExists) || errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// rebalance is one rebalance step, once per period on Run's goroutine: when this
// node holds more than its target and another member holds fewer and wants more,
// it yields its excess (at most what the others lack), most recently acquired
// first. Leases already yielding count as given; orphans (taken because no other
// node wanted them) are kept.
func (c *Coordinator) rebalance() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.readyLocked(time.Now()) {
		return
	}
	tgts := c.sharesLocked()
	tgt := tgts[c.self.Instance]
	var keep []*Lease
	yielding := 0
	for _, l := range c.held {
		switch {
		case l.yielded:
			yielding++
		case !l.orphan:
			keep = append(keep, l)
		}
	}
	n := min(len(c.held)-yielding-tgt, c.deficitLocked(tgts))
	if n <= 0 {
		return
	}
	slices.SortFunc(keep, func(a, b *Lease) int { return cmp.Compare(b.rev, a.rev) })
	reason := fmt.Sprintf("holding %d leases, above this node's share %d of %d wanted over %d live nodes", len(c.held), tgt, len(c.wants), c.live)
	for _, l := range keep[:min(n, len(keep))] {
		l.yieldLocked(reason)
	}
}

// deficitLocked is how many leases the other members lack to reach their
// shares (tgts), each counted only up to what it wants. c.mu is held.
func (c *Coordinator) deficitLocked(tgts map[string]int) int {
	held := make(map[string]int)
	for _, o := range c.owners {
		held[o.holder]++
	}
	deficit := 0
	for id, m := range c.members {
		tgt := tgts[id]
		if h := held[id]; id != c.self.Instance && h < tgt && m.rec.Wanted > h {
			deficit += min(tgt-h, m.rec.Wanted-h)
		}
	}
	return deficit
}
