package kv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

var (
	// ErrKeyNotFound: the key is absent (never written, or deleted). An
	// answer; asking again helps only once someone has written the key.
	ErrKeyNotFound = errors.New("kv: key not found")
	// ErrConflict is what ErrKeyExists and ErrRevisionMismatch both are: the
	// key was not as the write required. Nothing was written. An answer:
	// read the key again and decide.
	ErrConflict = errors.New("kv: conflict")
	// ErrKeyExists: Create found the key present.
	ErrKeyExists error = conflictError("kv: key exists")
	// ErrRevisionMismatch: Update found the key at another revision than the
	// one it was given, or absent.
	ErrRevisionMismatch error = conflictError("kv: revision mismatch")
	// ErrInvalidKey: a key or bucket name is empty or longer than
	// MaxKeyLen bytes, or a value is longer than MaxValueLen. Never retry.
	ErrInvalidKey = errors.New("kv: invalid key or value")
	// ErrClosed: the DB was closed. Never retry on this DB.
	ErrClosed = errors.New("kv: closed")
	// ErrLocked: Open waited Options.LockTimeout for the file, which another
	// DB holds, in this process or another. Retrying helps only once that
	// one has closed it (or exited).
	ErrLocked = errors.New("kv: file in use")
)

// conflictError is an error that is ErrConflict.
type conflictError string

func (e conflictError) Error() string        { return string(e) }
func (e conflictError) Is(target error) bool { return target == ErrConflict }

const (
	// MaxKeyLen is the longest key or bucket name, in bytes.
	MaxKeyLen = bolt.MaxKeySize
	// MaxValueLen is the longest value, in bytes.
	MaxValueLen = bolt.MaxValueSize - revLen

	// DefaultLockTimeout is how long Open waits for a file another DB holds
	// when Options.LockTimeout is 0.
	DefaultLockTimeout = 2 * time.Second
)

// Options tunes Open. The zero value is what a server wants.
type Options struct {
	// NoSync skips the fsync of each write: a write is then lost if the
	// machine (not only the process) stops before the kernel writes it
	// back. For tests.
	NoSync bool
	// LockTimeout bounds how long Open waits for the file while another DB
	// holds it; 0 means DefaultLockTimeout. Open then fails with ErrLocked.
	LockTimeout time.Duration
	// Logger gets the DB's lifecycle events (opened, closed); nil discards.
	Logger *slog.Logger

	_ struct{} // keyed literals only
}

// DB is one bbolt file holding named buckets. Safe for concurrent use.
type DB struct {
	bolt   *bolt.DB
	path   string
	logger *slog.Logger

	// writer is held by the one write in progress. bbolt serialises writes
	// itself, but its wait cannot be cancelled; this one can.
	writer chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// Bucket names and the format version in the file.
var (
	metaName    = []byte("meta")
	bucketsName = []byte("buckets")
	formatKey   = []byte("format")
	formatV1    = []byte("hydrant-kv 1")
)

// Open opens the DB in the file at path, creating the file (mode 0600, in a
// directory that must exist) when it is absent. The file is locked for as
// long as the DB is open: a second Open of it, in this process or another,
// waits up to opts.LockTimeout and fails with ErrLocked.
func Open(path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("kv: open: empty path")
	}
	if opts.LockTimeout < 0 {
		return nil, fmt.Errorf("kv: open %s: lock timeout %s: must be 0 (the default, %s) or more", path, opts.LockTimeout, DefaultLockTimeout)
	}
	timeout := opts.LockTimeout
	if timeout == 0 {
		timeout = DefaultLockTimeout
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoSync: opts.NoSync})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("kv: open %s: still locked by another open DB after %s: %w", path, timeout, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("kv: open %s: %w", path, err)
	}
	if err := b.Update(initFormat); err != nil {
		b.Close()
		return nil, fmt.Errorf("kv: open %s: %w", path, err)
	}
	db := &DB{bolt: b, path: path, logger: logger, writer: make(chan struct{}, 1)}
	size, _ := db.Size()
	logger.Info("kv opened", "path", path, "bytes", size, "took", time.Since(start))
	return db, nil
}

// initFormat marks a new file as this package's, or checks that an existing
// one is.
func initFormat(tx *bolt.Tx) error {
	if meta := tx.Bucket(metaName); meta != nil {
		if v := meta.Get(formatKey); string(v) != string(formatV1) {
			return fmt.Errorf("format %q, want %q", v, formatV1)
		}
		if tx.Bucket(bucketsName) == nil {
			return fmt.Errorf("format %q without a %q bucket", formatV1, bucketsName)
		}
		return nil
	}
	empty := true
	_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
	if !empty {
		return errors.New("a bbolt file that is not a kv DB (no format mark)")
	}
	meta, err := tx.CreateBucket(metaName)
	if err != nil {
		return err
	}
	if err := meta.Put(formatKey, formatV1); err != nil {
		return err
	}
	_, err = tx.CreateBucket(bucketsName)
	return err
}

// Close closes the file, after the reads and the write in progress. It is
// idempotent: later calls return what the first returned.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.closeErr = db.bolt.Close()
		if db.closeErr != nil {
			db.closeErr = fmt.Errorf("kv: close %s: %w", db.path, db.closeErr)
		}
		db.logger.Info("kv closed", "path", db.path, "error", db.closeErr)
	})
	return db.closeErr
}

// Path returns the file's path as given to Open.
func (db *DB) Path() string { return db.path }

// Size returns the length of the file in bytes. The file grows in steps
// ahead of what it holds and never shrinks (freed pages are reused).
func (db *DB) Size() (int64, error) {
	fi, err := os.Stat(db.path)
	if err != nil {
		return 0, fmt.Errorf("kv: size: %w", err)
	}
	return fi.Size(), nil
}

// Bucket returns the bucket called name, creating it (durably) if it is
// missing. Names follow the rules of keys.
func (db *DB) Bucket(name string) (*Bucket, error) {
	if err := checkKey(name); err != nil {
		return nil, err
	}
	b := &Bucket{db: db, name: name, bname: []byte(name)}
	var exists bool
	err := db.bolt.View(func(tx *bolt.Tx) error {
		exists = tx.Bucket(bucketsName).Bucket(b.bname) != nil
		return nil
	})
	if err == nil && !exists {
		err = db.update(context.Background(), func(tx *bolt.Tx) error {
			_, err := tx.Bucket(bucketsName).CreateBucketIfNotExists(b.bname)
			return err
		})
	}
	if err != nil {
		return nil, db.fail(err, "bucket "+name)
	}
	return b, nil
}

// update runs fn in a write transaction once ctx lets it start: the wait
// for the write in progress ends when ctx is done, the transaction does not.
func (db *DB) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case db.writer <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-db.writer }()
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.Update(fn)
}

// fail turns an error from bbolt into the package's: answers and context
// errors as they are, a closed DB as ErrClosed, anything else wrapped with
// the file and what was being done.
func (db *DB) fail(err error, what string) error {
	switch {
	case errors.Is(err, ErrKeyNotFound), errors.Is(err, ErrConflict), errors.Is(err, ErrInvalidKey),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, bolterrors.ErrDatabaseNotOpen):
		return fmt.Errorf("kv: %s: %s: %w", db.path, what, ErrClosed)
	}
	return fmt.Errorf("kv: %s: %s: %w", db.path, what, err)
}

func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key of %d bytes, over %d", ErrInvalidKey, len(key), MaxKeyLen)
	}
	return nil
}
