package seglog

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

const (
	// MaxKeyLen is the longest key, in bytes.
	MaxKeyLen = 1024
	// MaxPayload is the largest entry payload, in bytes.
	MaxPayload = 64 << 20

	// DefaultSegmentBytes is Options.SegmentBytes when it is 0.
	DefaultSegmentBytes = 128 << 20
	// DefaultSegmentAge is Options.SegmentAge when it is 0.
	DefaultSegmentAge = time.Hour
	// DefaultSyncInterval is Options.SyncInterval when it is 0.
	DefaultSyncInterval = time.Second

	minSegmentBytes = 512
	// maxSegmentBytes keeps every offset inside a segment, and a
	// segment's size, within the 32 bits of an index record.
	maxSegmentBytes = 1 << 30
	// maxSealOverhead bounds an AEAD's nonce plus tag.
	maxSealOverhead = 64
)

// Options tunes Open. Only Dir is required.
type Options struct {
	// Dir holds the log's files; it is created when missing.
	Dir string
	// SegmentBytes: the active segment is sealed and a new one begun once
	// it holds this many bytes (512 B to 1 GiB; 0: DefaultSegmentBytes).
	// A segment exceeds it by at most one entry.
	SegmentBytes int64
	// SegmentAge: a non-empty active segment older than this is sealed
	// (0: DefaultSegmentAge).
	SegmentAge time.Duration
	// SyncAlways fsyncs every write before the appends it holds are
	// acknowledged. Without it an acknowledged append survives a crash of
	// the process but not of the machine until the next fsync.
	SyncAlways bool
	// SyncInterval: without SyncAlways, written appends are fsynced at
	// least this often (0: DefaultSyncInterval). It is also how often the
	// age of the active segment is checked while no appends come. Close
	// always syncs.
	SyncInterval time.Duration
	// AEAD, when set, seals every entry payload (a random nonce per entry,
	// stored with it). Keys, sequences, times and record counts stay
	// plaintext. Open refuses a log sealed with another key (ErrWrongKey).
	AEAD cipher.AEAD
	// Now is the clock (nil: time.Now): entry times when Entry.Time is 0,
	// segment ages.
	Now func() time.Time
	// Logger gets lifecycle events (recoveries, rolls that failed,
	// segments deleted); nil discards.
	Logger *slog.Logger

	// wrapFile, in tests, wraps every file the log writes, to count or
	// fail writes and syncs.
	wrapFile func(*os.File) file

	_ struct{} // keyed literals only
}

// file is what the log writes through: an *os.File, or in tests one that
// counts or fails.
type file interface {
	io.WriterAt
	Truncate(size int64) error
	Sync() error
	Close() error
}

// withDefaults validates o and fills in its defaults.
func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("seglog: open: Options.Dir is empty")
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.SegmentBytes < minSegmentBytes || o.SegmentBytes > maxSegmentBytes {
		return o, fmt.Errorf("seglog: open %s: segment bytes %d: must be %d to %d (0: %d)",
			o.Dir, o.SegmentBytes, minSegmentBytes, maxSegmentBytes, DefaultSegmentBytes)
	}
	if o.SegmentAge < 0 || o.SyncInterval < 0 {
		return o, fmt.Errorf("seglog: open %s: segment age %s, sync interval %s: must not be negative", o.Dir, o.SegmentAge, o.SyncInterval)
	}
	if o.SegmentAge == 0 {
		o.SegmentAge = DefaultSegmentAge
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.AEAD != nil && o.AEAD.NonceSize()+o.AEAD.Overhead() > maxSealOverhead {
		return o, fmt.Errorf("seglog: open %s: the AEAD's nonce and tag take %d bytes: at most %d",
			o.Dir, o.AEAD.NonceSize()+o.AEAD.Overhead(), maxSealOverhead)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.wrapFile == nil {
		o.wrapFile = func(f *os.File) file { return f }
	}
	return o, nil
}
