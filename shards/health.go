package shards

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
)

// ErrUnavailable is the error of a record the embedded log cannot store now:
// its disk is (nearly) full, or a write failed (and after a failed fsync
// the log is being opened again). Nothing was stored; the APIs answer their service-unavailable
// error and the producer retries, which succeeds once the log is writable
// again (Store.Writable).
var ErrUnavailable = errors.New("shard log: cannot store records now (disk full or a failed write); retry later")

// health tracks whether the embedded log can store records. A store on a
// NATS cluster is always writable as far as health knows: the cluster's
// servers answer for their disks.
type health struct {
	down atomic.Bool
	// epoch counts the reopens of the embedded log after a failed fsync.
	epoch atomic.Uint64

	mu sync.Mutex
	// lost ends when the log goes down, so that publishes in flight fail
	// at once instead of waiting for an answer a failed store never sends;
	// a fresh one replaces it when the log is back.
	lost   context.Context
	loseIt context.CancelFunc
	reason string // why the log is down, for the log lines
}

func newHealth() *health {
	h := &health{}
	h.lost, h.loseIt = context.WithCancel(context.Background())
	return h
}

// context returns the context that ends when the log goes down (at once if
// it is down).
func (h *health) context() context.Context {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lost
}

// setDown marks the log down for reason and says whether it was up.
func (h *health) setDown(reason string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reason = reason
	if h.down.Swap(true) {
		return false
	}
	h.loseIt()
	return true
}

// setUp marks the log writable again and says whether it was down, and why.
func (h *health) setUp() (was bool, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down.Load() {
		return false, ""
	}
	h.lost, h.loseIt = context.WithCancel(context.Background())
	h.down.Store(false)
	return true, h.reason
}

// Writable reports whether puts can be stored now: false while the embedded
// log's disk is (nearly) full or a failed write has it reopening. Puts then
// fail at once with ErrUnavailable; the store recovers by itself once space
// is free again.
func (s *Store) Writable() bool { return !s.health.down.Load() }

// minFreeDisk is the free space below which the embedded log refuses puts
// unless StoreConfig.MinFreeDisk says otherwise: two of the largest
// messages, so that a message in flight and the checkpoints written
// meanwhile still fit.
func (s *Store) minFreeDisk() int64 {
	switch {
	case s.cfg.MinFreeDisk > 0:
		return s.cfg.MinFreeDisk
	case s.cfg.MinFreeDisk < 0:
		return 0
	}
	return 2 * int64(s.maxPayload)
}

// checkHealth marks the embedded log down while its filesystem has less
// than minFreeDisk free or the log failed an fsync (it then refuses every
// append until opened again), and brings it back once there is room: after
// a failed fsync, by opening the log again, which reads it back from disk.
func (s *Store) checkHealth() {
	if s.seg == nil {
		return
	}
	free, statErr := diskFree(s.cfg.DataDir)
	low := statErr == nil && free < s.minFreeDisk()
	var failed string
	if err := s.seg.failure.Load(); err != nil {
		failed = (*err).Error()
	}
	switch {
	case failed != "" && low:
		s.markDown("the shard log failed a write and its disk is full: " + failed)
	case failed != "":
		s.markDown("the shard log failed a write: " + failed)
		s.reopenSegments()
	case low:
		s.markDown(fmt.Sprintf("the shard log's disk is full: %d bytes free, puts need %d", free, s.minFreeDisk()))
	default:
		if was, reason := s.health.setUp(); was {
			s.logger.Warn("shard log writable again: puts are taken", "was", reason, "bytes_free", free)
		}
	}
}

func (s *Store) markDown(reason string) {
	if s.health.setDown(reason) {
		s.logger.Error("shard log not writable: puts are refused (503) until it is", "reason", reason)
	}
}

// diskFree returns the bytes an unprivileged writer may still use on dir's
// filesystem.
func diskFree(dir string) (int64, error) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return 0, err
	}
	return int64(fs.Bavail) * int64(fs.Bsize), nil
}
