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
// was stored since. pending is what puts taken in occupy before the log has
// stored them: an append reserves its records' bytes with their framing
// and index when it is handed to its shard, not once stored, so that
// concurrent puts see each other at once.
//
// A put is admitted only while the log has room for it; the put path does
// not say how large a put is before admitting it, so the budget keeps room
// for one step: the most bytes reserved between two admission checks in
// this interval and the last one puts were taken in, which is what puts
// admitted together add. It is never more than a quarter of the limit.
type diskBudget struct {
	limit   int64 // 0: no limit
	used    atomic.Int64
	pending atomic.Int64
	burst   atomic.Int64    // reserved since the last admission check
	step    [2]atomic.Int64 // the most burst seen this interval and the last with any
}

// full reports whether puts must be refused: whether what the log occupies
// and what puts are adding leave less room than a step. It is an
// admission check, called once per put.
func (b *diskBudget) full() bool { return b.fullAt(b.limit) }

// fullAt is full against limit (0: none binds).
func (b *diskBudget) fullAt(limit int64) bool {
	if n := b.burst.Swap(0); n > b.step[0].Load() {
		b.step[0].Store(n) // racing checks may keep the smaller: a step is an estimate
	}
	if limit <= 0 {
		return false
	}
	return b.total()+min(max(b.step[0].Load(), b.step[1].Load()), limit/4) >= limit
}

// total returns what the log occupies and what puts are adding to it.
func (b *diskBudget) total() int64 { return b.used.Load() + b.pending.Load() }

// reserve counts n bytes an append is adding.
func (b *diskBudget) reserve(n int64) {
	b.pending.Add(n)
	b.burst.Add(n)
}

// settle moves an append's reservation of n bytes to what the log holds:
// stored of them were stored, the rest not.
func (b *diskBudget) settle(n, stored int64) {
	b.used.Add(stored)
	b.pending.Add(-n)
}

// observe makes onDisk, read from the filesystem when used was before,
// what the log holds. What was stored while it was read stays counted.
func (b *diskBudget) observe(before, onDisk int64) {
	b.used.Add(onDisk - before)
	if n := b.step[0].Swap(0); n > 0 { // while puts are refused, the step is kept
		b.step[1].Store(n)
	}
}

// storedBytes is what recs occupy in the log once stored in one message of
// their own: their record-batch encoding, its header, and the log's
// framing and index of an entry. Appends coalesced into one message
// occupy less; the next read of the disk corrects the count.
func storedBytes(recs []Record) int64 {
	n := int64(batchHeaderSize + seglog.EntryOverhead)
	for _, r := range recs {
		n += int64(uvarintLen(len(r.PartitionKey)) + len(r.PartitionKey) + uvarintLen(len(r.Data)) + len(r.Data))
	}
	return n
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

// ownFull reports whether the stream is at its own budget.
func (st *Stream) ownFull() bool {
	return st.own.fullAt(st.ownLimit())
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
	total, bytes, err := s.log.usage(ctx, streams)
	if err != nil {
		return err
	}
	s.budget.observe(before, total)
	for name, st := range own {
		st.own.observe(ownBefore[name], bytes[name])
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
