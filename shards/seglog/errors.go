package seglog

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed: the log was closed. Never retry on this Log.
	ErrClosed = errors.New("seglog: closed")
	// ErrTrimmed: a Read started below the key's first kept entry. An
	// answer: read again from Info(key).First.
	ErrTrimmed = errors.New("seglog: entries trimmed")
	// ErrNotFound: Get asked for an entry that was trimmed or not yet
	// appended. An answer: asking again helps only once it is appended.
	ErrNotFound = errors.New("seglog: entry not found")
	// ErrInvalid: Append was given an empty key or one over MaxKeyLen
	// bytes, or a payload over MaxPayload bytes. Never retry.
	ErrInvalid = errors.New("seglog: invalid key or payload")
	// ErrFailed: an fsync failed (or a failed write could not be undone),
	// so what the active segment holds on disk is no longer known. Every
	// later Append fails with it until the log is closed and opened again,
	// which reads the active segment back from disk. Appends that failed
	// may or may not be on disk.
	ErrFailed = errors.New("seglog: log failed; close and open it again")
	// ErrWrongKey: Open found a segment sealed with another key than
	// Options.AEAD, or a sealed segment while Options.AEAD is nil. Retry
	// only with the right key.
	ErrWrongKey = errors.New("seglog: wrong encryption key")
	// ErrLocked: Open found the directory held by another open Log, in this
	// process or another. Retrying helps only once that one is closed.
	ErrLocked = errors.New("seglog: directory in use")
)

// CorruptError says that bytes on disk are not what the log wrote: a
// checksum, length or field does not hold. Retrying never helps. A Read
// that meets it in a segment serves nothing of that segment from Offset on;
// the key's entries from Next on (when Next is not 0) may still be read.
type CorruptError struct {
	Path    string // the file
	Segment uint64 // the segment's number, 0 when Path is not a segment's or index's
	Offset  int64  // where in Path the bad bytes start
	Key     string // the key being read, when there is one
	Next    uint64 // the key's first sequence past the unreadable part; 0: none known
	Reason  string
}

func (e *CorruptError) Error() string {
	msg := fmt.Sprintf("seglog: %s at offset %d is corrupt: %s", e.Path, e.Offset, e.Reason)
	if e.Key != "" {
		msg += fmt.Sprintf(" (reading %q; it goes on at sequence %d)", e.Key, e.Next)
	}
	return msg
}
