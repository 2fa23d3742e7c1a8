package shards

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/nats-io/nats-server/v2/server"
)

// ErrUnavailable is the error of a record the embedded log cannot store now:
// its disk is (nearly) full, or a write failed and the log is being
// reopened. Nothing was stored; the APIs answer their service-unavailable
// error and the producer retries, which succeeds once the log is writable
// again (Store.Writable).
var ErrUnavailable = errors.New("shard log: cannot store records now (disk full or a failed write); retry later")

// health tracks whether the embedded log can store records. A store on a
// NATS cluster is always writable as far as health knows: the cluster's
// servers answer for their disks.
type health struct {
	down atomic.Bool
	// epoch counts the reopens of the embedded JetStream: an appender
	// reads its shard's count again after one.
	epoch atomic.Uint64

	mu sync.Mutex
	// lost ends when the log goes down, so that publishes in flight fail
	// at once instead of waiting for an answer a failed store never sends;
	// a fresh one replaces it when the log is back.
	lost     context.Context
	loseIt   context.CancelFunc
	reason   string // why the log is down, for the log lines
	reopened bool   // JetStream was reopened since the log went down
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
	h.reopened = false
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
// than minFreeDisk free or a JetStream stream has failed a write (JetStream
// then answers no publish to it, until it is reopened), and brings it back
// once there is room: after a failed write, by reopening JetStream, which
// loads every stream from disk again.
func (s *Store) checkHealth() {
	if s.srv == nil {
		return
	}
	free, statErr := diskFree(s.jsConfig.StoreDir)
	low := statErr == nil && free < s.minFreeDisk()
	failed := storeFailure(s.srv)
	switch {
	case failed != "" && low:
		s.markDown("the shard log failed a write and its disk is full: " + failed)
	case failed != "":
		s.markDown("the shard log failed a write: " + failed)
		s.reopen()
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

// reopen restarts the embedded JetStream with the config it started with.
// Its streams are loaded from disk again, without the write error that made
// them refuse every publish; appenders read their shard's count again.
func (s *Store) reopen() {
	if s.srv.JetStreamEnabled() {
		if err := s.srv.ShutdownJetStream(); err != nil {
			s.logger.Error("shard log: stop JetStream to reopen it", "error", err)
			return
		}
	}
	cfg := s.jsConfig
	// EnableJetStream puts its own "jetstream" directory under StoreDir.
	cfg.StoreDir = filepath.Dir(cfg.StoreDir)
	if err := s.srv.EnableJetStream(&cfg); err != nil {
		s.logger.Error("shard log: reopen JetStream (tried again in a moment)", "error", err)
		return
	}
	s.health.epoch.Add(1)
	s.logger.Warn("shard log: JetStream reopened after a failed write")
}

// storeFailure returns why the embedded JetStream cannot store messages
// now: it is not running, or one of its streams failed a write; "" when it
// can.
func storeFailure(srv *server.Server) string {
	if !srv.JetStreamEnabled() {
		return "JetStream is not running"
	}
	st := srv.Healthz(&server.HealthzOptions{Details: true})
	for _, e := range st.Errors {
		if e.Type == server.HealthzErrorJetStream || strings.Contains(e.Error, "write error") {
			return e.Error
		}
	}
	return ""
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
