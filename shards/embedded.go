package shards

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/hydrant-dev/hydrant/shards/kv"
	"github.com/hydrant-dev/hydrant/shards/seglog"
)

// The embedded log's files under StoreConfig.DataDir (see doc.go).
const (
	logDir      = "log"
	segmentsDir = "segments"
	dbFile      = "hydrant.db"
)

// openEmbedded opens the node's own log in cfg.DataDir: the segment log of
// every shard, and the bbolt store of checkpoints, catalog and streams.
// A data directory written by the embedded JetStream of earlier versions is
// carried over first (see migrate.go).
func (s *Store) openEmbedded(ctx context.Context) error {
	cfg := s.cfg
	if err := checkStoreKey(cfg.DataDir, cfg.EncryptionKey); err != nil {
		return err
	}
	aead, err := storeAEAD(cfg.EncryptionKey)
	if err != nil {
		return err
	}
	s.maxPayload = max(8<<20, cfg.MaxRecordSize+(64<<10))
	if s.maxPayload > seglog.MaxPayload {
		return fmt.Errorf("shard log: records of %d bytes do not fit the log's %d-byte entries", cfg.MaxRecordSize, seglog.MaxPayload)
	}
	dir := filepath.Join(cfg.DataDir, logDir)
	if err := s.migrateJetStream(ctx, dir, aead); err != nil {
		return err
	}
	s.segOpts = seglog.Options{
		Dir:          filepath.Join(dir, segmentsDir),
		SegmentBytes: segmentBytes(cfg.DiskBudget),
		SyncAlways:   cfg.SyncAlways,
		SyncInterval: cfg.SyncInterval,
		AEAD:         aead,
		Now:          cfg.Now,
		Logger:       s.logger,
	}
	l, err := seglog.Open(s.segOpts)
	if err != nil {
		return fmt.Errorf("shard log: %w", err)
	}
	db, err := kv.Open(filepath.Join(dir, dbFile), kv.Options{Logger: s.logger})
	if err != nil {
		l.Close()
		return fmt.Errorf("shard log: %w", err)
	}
	s.db, s.seg = db, newSegRef(l)
	buckets := make([]*kv.Bucket, 3)
	for i, name := range []string{checkpointBucket, metaBucket, streamsBucket} {
		if buckets[i], err = db.Bucket(name); err != nil {
			return fmt.Errorf("shard log: %w", err)
		}
	}
	s.cps, s.meta = newKVBucket(buckets[0], aead), newKVBucket(buckets[1], aead)
	s.lineages = newKVBucket(buckets[2], nil) // no secrets: names, hash keys, times
	s.log = segBackend{s: s, log: s.seg}
	return nil
}

// segmentBytes is the size of the log's segments: the default, or under a
// disk budget a sixteenth of it (at least 64 KiB), so that trimming frees
// space in steps small against the budget (space returns only with whole
// segments).
func segmentBytes(budget int64) int64 {
	if budget <= 0 {
		return seglog.DefaultSegmentBytes
	}
	return min(max(budget/16, 64<<10), seglog.DefaultSegmentBytes)
}

// storeAEAD derives the log's AES-256-GCM key from storage.encryption_key
// (nil without one).
func storeAEAD(key string) (cipher.AEAD, error) {
	if key == "" {
		return nil, nil
	}
	k, err := hkdf.Key(sha256.New, []byte(key), nil, "hydrant shard log AES-256-GCM", 32)
	if err != nil {
		return nil, fmt.Errorf("shard log: derive the encryption key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("shard log: %w", err)
	}
	return cipher.NewGCM(block)
}

// segRef is the open segment log, replaced when the log is opened again
// after a failed fsync.
type segRef struct {
	mu       sync.Mutex
	log      *seglog.Log
	replaced chan struct{} // closed when log is replaced
	failure  atomic.Pointer[error]
}

func newSegRef(l *seglog.Log) *segRef { return &segRef{log: l, replaced: make(chan struct{})} }

func (r *segRef) current() *seglog.Log {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log
}

// currentAndNext returns the log and a channel closed once it is replaced.
func (r *segRef) currentAndNext() (*seglog.Log, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log, r.replaced
}

func (r *segRef) swap(l *seglog.Log) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = l
	close(r.replaced)
	r.replaced = make(chan struct{})
}

// segFailed records that the segment log failed an fsync: it refuses
// appends until opened again, which checkHealth does.
func (s *Store) segFailed(err error) {
	if s.seg.failure.CompareAndSwap(nil, &err) {
		s.markDown("the shard log failed to sync a write: " + err.Error())
	}
}

// reopenSegments closes the failed segment log and opens it again, which
// reads what is on disk back; appenders then go on where it ends.
func (s *Store) reopenSegments() {
	old := s.seg.current()
	if err := old.Close(); err != nil {
		s.logger.Warn("shard log: close the failed log", "error", err)
	}
	l, err := seglog.Open(s.segOpts)
	if err != nil {
		s.logger.Error("shard log: open the log again (tried again in a moment)", "error", err)
		return
	}
	s.seg.swap(l)
	s.seg.failure.Store(nil)
	s.health.epoch.Add(1)
	s.logger.Warn("shard log: opened again after a failed sync")
}
