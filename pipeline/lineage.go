package pipeline

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/shards"
)

// A delivery follows its stream's lineage: it supervises every shard the
// stream has had, and each new one a reshard makes. A shard is read only
// once every parent it came from has been delivered to its end and
// checkpointed there by this delivery (on this node or another), so that
// the records of a partition key reach the destination in the order they
// were put, across any number of splits and merges. A closed shard read to
// its end is flushed, checkpointed at its end, and is done: its lease is
// released and not taken again.

// finishPoll is how often a node waiting for a shard's lease reads the
// shard's checkpoint in the store, to learn whether the node that holds it
// has delivered it to its end. A shard this node finishes wakes its
// children at once; one another node finishes, within finishPoll.
const finishPoll = time.Second

// errShardFinished ends a wait for a lease that is no longer needed.
var errShardFinished = errors.New("shard delivered to its end")

// shardState is what a delivery knows of one shard of its stream's lineage.
type shardState struct {
	id    int
	shard atomic.Pointer[shards.Shard] // as the lineage last showed it
	// closing ends when the lineage shows the shard closed; by then shard
	// holds its LastMessage.
	closing    context.Context
	markClosed context.CancelFunc
	// done is closed once this delivery has delivered the closed shard to
	// its end.
	done     chan struct{}
	doneOnce sync.Once
	// pending is the arrival time (Unix nanoseconds) of the oldest record
	// the shard's loop has read and not yet delivered — in a buffer or in
	// the batch being delivered; 0 when there is none. A loop that failed
	// leaves its value: the records are read again when it restarts.
	pending atomic.Int64
}

func newShardState(sh shards.Shard) *shardState {
	s := &shardState{id: sh.ID, done: make(chan struct{})}
	s.closing, s.markClosed = context.WithCancel(context.Background())
	s.update(sh)
	return s
}

// update records the shard as a lineage shows it.
func (s *shardState) update(sh shards.Shard) {
	s.shard.Store(&sh)
	if !sh.IsOpen() {
		s.markClosed() // after the store: whoever sees closing ended sees the closed shard
	}
}

// current returns the shard as the lineage last showed it.
func (s *shardState) current() shards.Shard { return *s.shard.Load() }

// finish records that the delivery has delivered the shard to its end.
func (s *shardState) finish() {
	s.doneOnce.Do(func() {
		s.pending.Store(0)
		close(s.done)
	})
}

// follow supervises every shard of st's lineage, and each new one as
// reshards add it, until ctx ends.
func (d *Delivery) follow(ctx context.Context, st *shards.Stream, supervise func(*shardState)) {
	for {
		changed := st.Changed() // before the lineage: no change falls between
		for _, s := range d.track(st.Lineage()) {
			supervise(s)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// track records lin's shards: it marks closed those it closed, and returns
// the states of the shards it had not seen, parents before children.
func (d *Delivery) track(lin *shards.Lineage) []*shardState {
	d.mu.Lock()
	defer d.mu.Unlock()
	var fresh []*shardState
	for _, sh := range lin.Shards {
		if s, ok := d.shards[sh.ID]; ok {
			s.update(sh)
			continue
		}
		s := newShardState(sh)
		d.shards[sh.ID] = s
		fresh = append(fresh, s)
	}
	return fresh
}

// state returns the state of shard id; nil when the lineage has not shown it.
func (d *Delivery) state(id int) *shardState {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.shards[id]
}

// finished reports whether the delivery, at checkpoint cp, has delivered
// all of shard sh: sh is closed and nothing of it lies after cp — cp is at
// its end, it never held a record, or what it held after cp is gone
// (trimmed by retention).
func (d *Delivery) finished(ctx context.Context, sh shards.Shard, cp shards.Sequence) (bool, error) {
	if sh.IsOpen() {
		return false, nil
	}
	if sh.LastMessage == 0 || cp >= shards.LastSequence(sh.LastMessage) {
		return true, nil
	}
	lag, err := d.store.Lag(ctx, d.cfg.Stream, sh.ID, cp)
	if err != nil {
		return false, err
	}
	return lag.Records == 0, nil
}

// finishedInStore is finished at the checkpoint the store holds, whoever
// wrote it.
func (d *Delivery) finishedInStore(ctx context.Context, s *shardState) (bool, error) {
	sh := s.current()
	if sh.IsOpen() {
		return false, nil
	}
	cp, err := d.store.Checkpoint(ctx, d.cfg.Name, sh.ID)
	if err != nil {
		return false, err
	}
	return d.finished(ctx, sh, cp)
}

// awaitParents returns once every parent of s is done (see shardState.done),
// or returns ctx's error when ctx ends first. A parent's own supervisor
// says when it is done: it waits for its parents in turn — a shard that
// never held a record is not done before them — and then learns it from
// its own loop, or from the store's checkpoints when another node (or an
// earlier run) delivered it (see superviseShard and acquire).
func (d *Delivery) awaitParents(ctx context.Context, s *shardState) error {
	for _, id := range s.current().Parents() {
		p := d.state(id)
		if p == nil {
			continue // cannot happen: a lineage holds a shard's parents
		}
		select {
		case <-p.done:
			continue
		default:
		}
		d.logger.Info("shard waits for its parent to be delivered to its end", "shard", shards.ShardID(s.id),
			"parent", shards.ShardID(id))
		select {
		case <-p.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// acquire waits for the shard's lease, and gives up with errShardFinished
// when, meanwhile, the store's checkpoints show the shard delivered to its
// end (by the node that held it): a finished shard's lease is not taken
// again.
func (d *Delivery) acquire(ctx context.Context, s *shardState) (Lease, error) {
	actx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(finishPoll)
		defer t.Stop()
		for {
			select {
			case <-actx.Done():
				return
			case <-t.C:
			}
			if fin, _ := d.finishedInStore(actx, s); fin {
				cancel(errShardFinished)
				return
			}
		}
	})
	lease, err := d.own.Acquire(actx, d.cfg.Name, s.id)
	cancel(nil)
	wg.Wait()
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(actx), errShardFinished) {
		return nil, errShardFinished
	}
	return lease, err
}

// finishLinger is how long a node keeps the lease of a shard it has
// delivered to its end before it releases it: long enough for the other
// nodes, which read the store every finishPoll while they wait for the
// lease, to see the end and stop asking, so that none takes the lease of a
// finished shard again.
const finishLinger = 2 * finishPoll

// linger holds a finished shard's lease for finishLinger, unless ctx ends,
// or the lease is lost or asked to yield. A node alone (Solo) has nobody to
// wait for.
func (d *Delivery) linger(ctx context.Context, lease Lease) {
	if _, alone := d.own.(Solo); alone {
		return
	}
	t := time.NewTimer(finishLinger)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-lease.Lost():
	case <-lease.Yield():
	}
}

// superviseShard delivers one shard of the lineage until it is delivered
// to its end or ctx ends. It first waits for the shard's parents; then,
// unless the shard is finished already, for its lease: it delivers while
// it holds, hands the shard over when asked to yield and stops at once when
// the lease is lost, then waits for the lease again. A loop that fails (its
// log or checkpoint store erring) is restarted from the checkpoint after a
// backoff.
func (d *Delivery) superviseShard(ctx, wctx context.Context, s *shardState) {
	if d.awaitParents(ctx, s) != nil {
		return // ctx ended
	}
	backoff := destinations.Backoff{Initial: time.Second, Max: time.Minute}
	for attempt := 1; ; {
		fin, err := d.finishedInStore(ctx, s)
		if err != nil && ctx.Err() == nil {
			d.logger.Warn("reading whether the shard is delivered", "shard", shards.ShardID(s.id), "error", err)
		}
		if fin {
			s.finish()
			return
		}
		lease, err := d.acquire(ctx, s)
		if errors.Is(err, errShardFinished) {
			s.finish()
			return
		}
		if err != nil {
			return // ctx ended
		}
		done, err := d.holdShard(ctx, wctx, s, lease)
		if done {
			s.finish()
			return
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			attempt = 1 // handed over or lost: wait for the lease again
			continue
		}
		wait := backoff.Delay(attempt, err)
		d.logger.Error("shard delivery failed; restarting from the checkpoint", "shard", shards.ShardID(s.id),
			"error", err, "restart_in", wait)
		if destinations.Sleep(ctx, wait) != nil {
			return
		}
		attempt++
	}
}
