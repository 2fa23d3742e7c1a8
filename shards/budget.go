package shards

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// ErrDiskBudget is the error of a record refused because the shard log holds
// as many bytes as its disk budget allows. It is a kind of ErrThrottled: the
// APIs answer it with their throttling error, and the producer retries once
// deliveries have caught up and trimming has made room.
var ErrDiskBudget = fmt.Errorf("%w: the shard log is at its disk budget (storage.disk_budget); deliveries must catch up", ErrThrottled)

// diskBudget tracks the bytes the shard log holds against its limit. used is
// read from the log (the segment and store files' sizes, or JetStream's
// account usage) every check interval and after each trim, and grows by each message written in between, so that a burst
// cannot overshoot by more than the messages in flight.
type diskBudget struct {
	limit int64 // 0: no limit
	used  atomic.Int64
}

// full reports whether puts must be refused.
func (b *diskBudget) full() bool { return b.limit > 0 && b.used.Load() >= b.limit }

// DiskUsage returns the bytes the shard log holds (as of the last check
// plus what was written since) and its budget (0: none). Embedded, it is the
// size of the log's files on disk, whole segments that wait for the last of
// their entries to be trimmed included. On a cluster it is
// one copy's worth: the account's JetStream storage, which counts every
// replica, divided by the replicas; the servers report it about once a
// second.
func (s *Store) DiskUsage() (used, budget int64) {
	return s.budget.used.Load(), s.budget.limit
}

// StreamDiskUsage returns the bytes stream's shards hold (as of the last
// check plus what was written since) and its own budget (0: none).
func (s *Store) StreamDiskUsage(stream string) (used, budget int64) {
	s.mu.Lock()
	st, ok := s.streams[stream]
	s.mu.Unlock()
	if !ok {
		return 0, 0
	}
	return st.own.used.Load(), st.ownLimit()
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
	if b.limit == 0 || n < 2 || b.used.Load() < b.limit/2 {
		return 0
	}
	return b.limit / n
}

// ownFull reports whether the stream is at its own budget.
func (st *Stream) ownFull() bool {
	limit := st.ownLimit()
	return limit > 0 && st.own.used.Load() >= limit
}

// refreshUsage reads the log's size, and that of each stream with a budget.
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
	total, bytes, err := s.log.usage(ctx, streams)
	if err != nil {
		return err
	}
	s.budget.used.Store(total)
	for name, st := range own {
		st.own.used.Store(bytes[name])
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
