package shards

import (
	"context"
	"fmt"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/hydrant-dev/hydrant/shards/seglog"
)

// ErrDiskBudget is the error of a record refused because the shard log holds
// as many bytes as its disk budget allows. It is a kind of ErrThrottled: the
// APIs answer it with their throttling error, and the producer retries once
// deliveries have caught up and trimming has made room.
var ErrDiskBudget = fmt.Errorf("%w: the shard log is at its disk budget (storage.disk_budget); deliveries must catch up", ErrThrottled)

// diskBudget tracks the bytes the shard log occupies against its limit.
//
// used is what the log occupies on disk (embedded: its files' allocated
// blocks — segments, indexes, state and store files, directories; on a
// cluster JetStream's account usage), read every UsageInterval, plus what
// was stored since. pending is what puts taken in are adding: an append
// reserves its records' bytes with their framing and index when it is
// handed to its shard, not once stored.
//
// A put is admitted only while there is room for it. The put path does not
// say how large a put is before admitting it, so the check keeps room for
// the average put of the last interval (bytes reserved per put with
// records admitted), held in pending from the check on. Once its shards' quotas have admitted some of its
// records, a put takes a ticket of their size into pending at once, which
// its appends use up: puts admitted together see each other's tickets
// rather than all fitting in the same room. A put its quotas refused
// whole takes none and is not counted. Tickets not used up are dropped at
// the next read; together they never exceed a quarter of the limit.
type diskBudget struct {
	limit   int64 // 0: no limit
	used    atomic.Int64
	pending atomic.Int64 // reserved by appends not yet answered, and tickets
	tickets atomic.Int64 // taken by puts admitted, not yet used by their appends
	perPut  atomic.Int64 // the average put of the last interval with puts
	// admitted and reserved are this interval's puts admitted and bytes
	// their appends reserved.
	admitted, reserved atomic.Int64
	// perByte is what a byte of entries occupied on disk at the last read
	// (segments' headers, index tables, blocks), in perByteUnit: puts are
	// counted at it. 0: not read yet, 1. The log's budget's only.
	perByte atomic.Int64
}

// perByteUnit is diskBudget.perByte's 1.
const perByteUnit = 1 << 10

// logUsage is what the log occupies, as read from the disk (or a
// cluster's account).
type logUsage struct {
	total   int64            // the whole log's bytes (a cluster: one copy's worth)
	streams map[string]int64 // the streams' parts asked for
	perByte float64          // what a byte of entries occupies (0: unknown)
}

// scaled returns what n bytes of entries occupy on disk, at the ratio
// read last.
func (b *diskBudget) scaled(n int64) int64 {
	if p := b.perByte.Load(); p > perByteUnit {
		return n * p / perByteUnit
	}
	return n
}

// hold checks a put against limit (0: none binds): when what the log
// occupies and what puts are adding leave room for a put (putSize), it
// holds that room in pending and returns its bytes and true; else false.
// The check and the hold are one step: puts checked at once see each
// other's. The put releases the hold once its records are admitted
// (Stream.admitted).
func (b *diskBudget) hold(limit int64) (int64, bool) {
	if limit <= 0 {
		return 0, true
	}
	n := b.putSize()
	for {
		p := b.pending.Load()
		if b.used.Load()+p+n >= limit {
			return 0, false
		}
		if b.pending.CompareAndSwap(p, p+n) {
			return n, true
		}
	}
}

// putSize is what a put is expected to add: the average of the last
// interval with puts, or of this one when larger.
func (b *diskBudget) putSize() int64 {
	n := b.perPut.Load()
	if a := b.admitted.Load(); a > 0 {
		n = max(n, b.reserved.Load()/a)
	}
	return n
}

// take counts a put whose records are admitted against limit (0: none
// binds), taking a ticket of n bytes, what its appends will reserve. The
// tickets are bounded by a quarter of limit: past it a ticket is cut short.
func (b *diskBudget) take(limit, n int64) {
	b.admitted.Add(1)
	if limit <= 0 {
		return
	}
	for {
		t := b.tickets.Load()
		add := min(n, limit/4-t)
		if add <= 0 {
			return
		}
		if b.tickets.CompareAndSwap(t, t+add) {
			b.pending.Add(add)
			return
		}
	}
}

// total returns what the log occupies and what puts are adding to it.
func (b *diskBudget) total() int64 { return b.used.Load() + b.pending.Load() }

// reserve counts n bytes an append is adding, using up tickets first.
func (b *diskBudget) reserve(n int64) {
	b.reserved.Add(n)
	for {
		t := b.tickets.Load()
		use := min(t, n)
		if use <= 0 || b.tickets.CompareAndSwap(t, t-use) {
			b.pending.Add(n - max(use, 0))
			return
		}
	}
}

// settle moves an append's reservation of n bytes to what the log holds:
// stored of them were stored, the rest not.
func (b *diskBudget) settle(n, stored int64) {
	b.used.Add(stored)
	b.pending.Add(-n)
}

// observe makes onDisk, read from the filesystem when used was before,
// what the log holds (what was stored while it was read stays counted),
// drops the tickets left, and starts the next interval.
func (b *diskBudget) observe(before, onDisk int64) {
	b.used.Add(onDisk - before)
	b.pending.Add(-b.tickets.Swap(0))
	if a := b.admitted.Swap(0); a > 0 {
		b.perPut.Store(b.reserved.Swap(0) / a)
	}
}

// storedBytes is what recs occupy in the log once stored in one message of
// their own: their record-batch encoding, its header, and the log's
// framing and index of an entry. Appends coalesced into one message
// occupy less; the next read of the disk corrects the count.
func storedBytes(recs []Record) int64 {
	n := int64(batchHeaderSize + seglog.EntryOverhead)
	for _, r := range recs {
		n += recordBytes(r)
	}
	return n
}

// recordBytes is what r occupies in a record batch's encoding.
func recordBytes(r Record) int64 {
	return int64(uvarintLen(len(r.PartitionKey)) + len(r.PartitionKey) + uvarintLen(len(r.Data)) + len(r.Data))
}

// uvarintLen is the length of n's uvarint encoding.
func uvarintLen(n int) int { return (bits.Len64(uint64(n)|1) + 6) / 7 }

// DiskUsage returns the bytes the shard log occupies (as of the last check
// plus what puts have added since) and its budget (0: none). Embedded, it is
// what the log's files occupy on disk — their allocated blocks: segments,
// whole ones that wait for the last of their entries to be trimmed
// included, their indexes, the state and store files and the directories. On a cluster it is
// one copy's worth: the account's JetStream storage, which counts every
// replica, divided by the replicas; the servers report it about once a
// second.
func (s *Store) DiskUsage() (used, budget int64) {
	return s.budget.total(), s.budget.limit
}

// StreamDiskUsage returns the bytes stream's shards occupy (as of the last
// check plus what puts have added since; embedded, its entries' share of
// what the segments occupy on disk, see segBackend.usage) and its own
// budget (0: none).
func (s *Store) StreamDiskUsage(stream string) (used, budget int64) {
	s.mu.Lock()
	st, ok := s.streams[stream]
	s.mu.Unlock()
	if !ok {
		return 0, 0
	}
	return st.own.total(), st.ownLimit()
}

// ownLimit is the stream's own budget as it binds now: its DiskBudget when
// set; else, once the log holds half its budget and other streams are open,
// its fair share: the log's budget divided by the open streams. Below half
// the budget any stream may write; past it, none can keep another from its
// share, and streams that hold less than theirs may write until the budget
// is full. 0: none binds.
func (st *Stream) ownLimit() int64 {
	if st.spec.DiskBudget > 0 {
		return st.spec.DiskBudget
	}
	n, b := int64(st.open.Load()), st.budget
	if b.limit == 0 || n < 2 || b.total() < b.limit/2 {
		return 0
	}
	return b.limit / n
}

// budgetHold is the room a put holds in the log's budget and its
// stream's from its check until its records are admitted.
type budgetHold struct {
	log, own int64
	ownLimit int64 // the stream's budget as it bound at the check
}

// hold checks a put against the log's budget, then the stream's own, and
// holds room for it in both (see diskBudget.hold). full: either has no
// room, and the put must be refused with ErrDiskBudget; nothing is held.
func (st *Stream) hold() (h budgetHold, full bool) {
	var ok bool
	h.ownLimit = st.ownLimit() // before the log holds this put's room
	if h.log, ok = st.budget.hold(st.budget.limit); !ok {
		return budgetHold{}, true
	}
	if h.own, ok = st.own.hold(h.ownLimit); !ok {
		st.budget.pending.Add(-h.log)
		return budgetHold{}, true
	}
	return h, false
}

// admitted counts a put that held h and of which the records at
// perShard's indexes (by open shard) were admitted: when there are any,
// the put takes a ticket in each budget of the size its appends will
// reserve (see diskBudget), then releases h.
func (st *Stream) admitted(h budgetHold, recs []Record, perShard [][]int) {
	var n int64
	for _, idx := range perShard {
		if len(idx) == 0 {
			continue
		}
		n += batchHeaderSize + seglog.EntryOverhead
		for _, i := range idx {
			n += recordBytes(recs[i])
		}
	}
	if n > 0 {
		n = st.budget.scaled(n)
		st.budget.take(st.budget.limit, n)
		st.own.take(h.ownLimit, n)
	}
	st.budget.pending.Add(-h.log)
	st.own.pending.Add(-h.own)
}

// refreshUsage reads what the log occupies on disk, and each stream with a
// budget its part of it.
func (s *Store) refreshUsage(ctx context.Context) error {
	s.mu.Lock()
	streams := make(map[string]int)
	own := make(map[string]*Stream)
	for _, st := range s.streams {
		if st.spec.DiskBudget > 0 || s.budget.limit > 0 {
			streams[st.spec.Name] = st.Shards()
			own[st.spec.Name] = st
		}
	}
	s.mu.Unlock()
	before, ownBefore := s.budget.used.Load(), make(map[string]int64, len(own))
	for name, st := range own {
		ownBefore[name] = st.own.used.Load()
	}
	u, err := s.log.usage(ctx, streams)
	if err != nil {
		return err
	}
	s.budget.observe(before, u.total)
	s.budget.perByte.Store(int64(max(u.perByte, 1) * perByteUnit))
	for name, st := range own {
		st.own.observe(ownBefore[name], u.streams[name])
	}
	return nil
}

// watchUsage checks the embedded log's health and refreshes the disk usage
// every interval until stop closes.
func (s *Store) watchUsage(interval time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.checkHealth()
			if !s.Writable() {
				continue // the usage is read again once the log is back
			}
			ctx, cancel := context.WithTimeout(context.Background(), interval)
			if err := s.refreshUsage(ctx); err != nil {
				s.logger.Warn("disk budget: cannot read the shard log's size", "error", err)
			}
			s.refreshLineages(ctx)
			cancel()
		}
	}
}
