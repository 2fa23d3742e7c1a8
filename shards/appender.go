package shards

import (
	"context"
	"errors"
	"sync/atomic"
)

// ErrStoreClosed is returned by appends after the store was closed.
var ErrStoreClosed = errors.New("shard log: store is closed")

// appender is the single writer of one shard. It takes every append that is
// waiting when it becomes free and writes them as one record-batch message,
// so that the cost of a write (and of a sync before the ack) is shared by
// all concurrent puts.
type appender struct {
	store *Store
	// streamUsed counts the bytes its stream holds (nil: not counted).
	streamUsed *atomic.Int64
	name       string // the shard's log, for errors
	pub        publisher
	reqs       chan *appendReq
	done       chan struct{}
	stopped    chan struct{}
	buf        []byte
	target     int // message size at which coalescing stops
}

// publisher stores a shard's record-batch messages.
type publisher interface {
	// publish stores msg, holding n records, as the shard's next message
	// and returns its sequence. On error it may have been stored all the
	// same; the producer is told to retry. closing closes when the store
	// is closing: a publish that is retrying gives up.
	publish(msg []byte, n int, closing <-chan struct{}) (uint64, error)
}

type appendReq struct {
	recs   []Record
	seqs   []Sequence // filled as messages are stored
	err    error
	result chan struct{}
}

func newAppender(s *Store, name string, pub publisher) *appender {
	a := &appender{
		store:   s,
		name:    name,
		pub:     pub,
		reqs:    make(chan *appendReq, 256),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
		target:  s.targetBytes,
	}
	go a.run()
	return a
}

func (a *appender) append(ctx context.Context, recs []Record) ([]Sequence, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	req := &appendReq{recs: recs, seqs: make([]Sequence, 0, len(recs)), result: make(chan struct{})}
	select {
	case a.reqs <- req:
	case <-a.done:
		return nil, ErrStoreClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Once queued, wait for the outcome whatever ctx does: the appender may
	// be reading recs, and callers reuse that memory when Append returns.
	// A publish is bounded by publishTimeout; a closing store fails the rest.
	select {
	case <-req.result:
	case <-a.stopped:
		select {
		case <-req.result:
		default:
			return nil, ErrStoreClosed // never taken up: recs are not in use
		}
	}
	return req.seqs, req.err
}

func (a *appender) close() {
	select {
	case <-a.done:
	default:
		close(a.done)
	}
	<-a.stopped
}

func (a *appender) run() {
	defer close(a.stopped)
	var carry *appendReq
	for {
		var first *appendReq
		if carry != nil {
			first, carry = carry, nil
		} else {
			select {
			case first = <-a.reqs:
			case <-a.done:
				a.failPending()
				return
			}
		}
		batch := []*appendReq{first}
		size := requestSize(first)
	coalesce:
		for size < a.target {
			select {
			case r := <-a.reqs:
				if size+requestSize(r) > a.target {
					carry = r
					break coalesce
				}
				batch = append(batch, r)
				size += requestSize(r)
			default:
				break coalesce
			}
		}
		a.write(batch)
	}
}

func (a *appender) failPending() {
	for {
		select {
		case r := <-a.reqs:
			r.err = ErrStoreClosed
			close(r.result)
		default:
			return
		}
	}
}

func requestSize(r *appendReq) int {
	n := 0
	for _, rec := range r.recs {
		n += encodedSize(rec)
	}
	return n
}

// write stores the records of batch in as few messages as fit the target
// size, in order, and completes every request.
func (a *appender) write(batch []*appendReq) {
	type span struct {
		req        *appendReq
		start, end int
	}
	var (
		msgRecs []Record
		spans   []span
		size    = batchHeaderSize
		failed  error
	)
	flush := func() {
		if len(msgRecs) == 0 {
			return
		}
		if failed == nil {
			var msgSeq uint64
			msgSeq, failed = a.publish(msgRecs)
			if failed == nil {
				idx := 0
				for _, s := range spans {
					for range s.end - s.start {
						s.req.seqs = append(s.req.seqs, MakeSequence(msgSeq, idx))
						idx++
					}
				}
			}
		}
		msgRecs, spans, size = msgRecs[:0], spans[:0], batchHeaderSize
	}
	for _, req := range batch {
		start := 0
		for i, rec := range req.recs {
			es := encodedSize(rec)
			if len(msgRecs) > 0 && (size+es > a.target || len(msgRecs) == maxBatchRecords) {
				spans = append(spans, span{req, start, i})
				flush()
				start = i
			}
			msgRecs = append(msgRecs, rec)
			size += es
		}
		spans = append(spans, span{req, start, len(req.recs)})
	}
	flush()
	for _, req := range batch {
		if len(req.seqs) < len(req.recs) {
			req.err = failed
		}
		close(req.result)
	}
}

// publish stores recs as the shard's next message and returns its
// sequence.
func (a *appender) publish(recs []Record) (uint64, error) {
	a.buf = AppendBatch(a.buf[:0], a.store.cfg.Now(), recs)
	seq, err := a.pub.publish(a.buf, len(recs), a.done)
	if err != nil {
		return 0, err
	}
	a.store.budget.used.Add(int64(len(a.buf)))
	if a.streamUsed != nil {
		a.streamUsed.Add(int64(len(a.buf)))
	}
	return seq, nil
}
