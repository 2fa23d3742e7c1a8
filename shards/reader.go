package shards

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// readAheadBytes bounds what a reader buffers ahead of its caller; it is
// raised to fit two of the largest messages, since a pull for fewer bytes
// than a message never receives it.
const readAheadBytes = 8 << 20

// stuckAfter is how long Next may go on after its ctx ended before the
// reader is stopped as stuck.
const stuckAfter = 5 * time.Second

// ErrReaderStuck is returned by a Reader's Next that did not return within
// 5 s of its ctx ending (the client kept recreating a consumer the cluster
// lost): the reader is closed; open a new one. Retryable.
var ErrReaderStuck = errors.New("reader stuck: closed")

// Reader reads one shard in order, from just after a sequence.
// It is not safe for concurrent use.
type Reader struct {
	stream string // stream/shard, for errors
	after  Sequence
	iter   msgIter
	recs   []StoredRecord
}

// msgIter yields one shard's messages in order, from where it was opened.
type msgIter interface {
	// next blocks until the next message is stored and returns it. It
	// returns ctx's error when ctx ends first (the iterator stays usable).
	next(ctx context.Context) (seq uint64, data []byte, err error)
	stop()
}

// OpenReader returns a reader of shard i of stream that yields the records
// after sequence after (0: from the oldest record kept).
func (s *Store) OpenReader(ctx context.Context, stream string, shard int, after Sequence) (*Reader, error) {
	// From the message holding after, skipping what was delivered.
	iter, err := s.log.iterate(ctx, stream, shard, after.Message())
	if err != nil {
		return nil, err
	}
	return &Reader{stream: stream + "/" + strconv.Itoa(shard), after: after, iter: iter}, nil
}

// CorruptMessageError is returned by Next for a message of the shard log
// that is not a record batch. The reader has moved past it; the caller
// keeps Data (e.g. in its error output) and may go on reading, so that one
// bad message never blocks the shard.
type CorruptMessageError struct {
	Stream string // the shard: stream/shard
	// Last is the sequence past which the reader now reads: the message's
	// last possible record.
	Last Sequence
	Data []byte // the message as stored
	Err  error
}

func (e *CorruptMessageError) Error() string {
	return fmt.Sprintf("shard log %s: message %d: %v", e.Stream, e.Last.Message(), e.Err)
}
func (e *CorruptMessageError) Unwrap() error { return e.Err }

// Next blocks until records after the last returned one are stored, and
// returns them in order. It returns ctx's error when ctx ends first (the
// reader stays usable), and a *CorruptMessageError for a message that does
// not decode (the reader skips it). The returned slice is valid until the
// next call.
func (r *Reader) Next(ctx context.Context) ([]StoredRecord, error) {
	for {
		seq, data, err := r.iter.next(ctx)
		if err != nil {
			return nil, err
		}
		r.recs, err = DecodeBatch(r.recs[:0], seq, data)
		if err != nil {
			if seq <= r.after.Message() {
				continue // skipped before
			}
			r.after = MakeSequence(seq, maxBatchRecords-1)
			return nil, &CorruptMessageError{Stream: r.stream, Last: r.after, Data: data, Err: err}
		}
		recs := r.recs
		for len(recs) > 0 && recs[0].Sequence <= r.after {
			recs = recs[1:]
		}
		if len(recs) == 0 {
			continue
		}
		r.after = recs[len(recs)-1].Sequence
		return recs, nil
	}
}

// Close stops the reader.
func (r *Reader) Close() { r.iter.stop() }

// jsIter reads a shard's JetStream stream through an ordered consumer.
type jsIter struct {
	name string
	iter jetstream.MessagesContext
}

func (it jsIter) next(ctx context.Context) (uint64, []byte, error) {
	// The client's ordered consumer recreates its consumer inside Next when
	// the cluster loses it, and does so without regard to ctx, retrying
	// until it succeeds. A reader still inside Next stuckAfter after ctx
	// ended is stopped, so that Next returns and the caller reopens it
	// (and meanwhile flushes what its buffers hold).
	returned := make(chan struct{})
	defer close(returned)
	var stuck atomic.Bool
	stopWatchdog := context.AfterFunc(ctx, func() {
		select {
		case <-returned:
		case <-time.After(stuckAfter):
			stuck.Store(true)
			it.iter.Stop()
		}
	})
	defer stopWatchdog()
	msg, err := it.iter.Next(jetstream.NextContext(ctx))
	if err != nil {
		if stuck.Load() {
			return 0, nil, fmt.Errorf("shard log %s: read: %w (%v past its deadline: %w)", it.name, ErrReaderStuck, stuckAfter, err)
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return 0, nil, ctxErr
		}
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return 0, nil, err
		}
		return 0, nil, fmt.Errorf("shard log %s: read: %w", it.name, err)
	}
	meta, err := msg.Metadata()
	if err != nil {
		return 0, nil, fmt.Errorf("shard log %s: read: %w", it.name, err)
	}
	return meta.Sequence.Stream, msg.Data(), nil
}

func (it jsIter) stop() { it.iter.Stop() }
