package shards

import (
	"context"
	"errors"
)

// ErrStoreClosed is returned by appends after the store was closed.
var ErrStoreClosed = errors.New("shard log: store is closed")

// appender is the single writer of one shard. It takes every append that is
// waiting when it becomes free and writes them as one record-batch message,
// so that the cost of a write (and of a sync before the ack) is shared by
// all concurrent puts. It hands the next message to the log while the last
// is still being stored (when the log takes it: the segment log does), so
// that a shard's puts join the log's next group commit instead of waiting
// for their turn; a completer answers the requests in order.
type appender struct {
	store *Store
	// own is its stream's part of the disk budget (nil: not counted).
	own     *diskBudget
	name    string // the shard's log, for errors
	pub     publisher
	reqs    chan *appendReq
	done    chan struct{}
	stopped chan struct{}
	// flights are the batches started, for the completer to answer: one
	// waiting here and one being answered at most, so that a shard has at
	// most two messages in the log's hands.
	flights chan *batchFlight
	bufs    chan []byte // message buffers to reuse
	recs    []Record    // scratch: the records of the message being built
	target  int         // message size at which coalescing stops
}

// publisher stores a shard's record-batch messages.
type publisher interface {
	// start begins storing msg, holding n records, as the shard's next
	// message, and returns a wait for the outcome: its sequence, or an
	// error (it may have been stored all the same; the producer is told to
	// retry). msg stays unchanged until the wait returns, which must be
	// called once. Messages started one after another are stored in that
	// order. closing closes when the store is closing: a publish that is
	// retrying gives up.
	start(msg []byte, n int, closing <-chan struct{}) (wait func() (uint64, error))
}

type appendReq struct {
	recs   []Record
	seqs   []Sequence // filled as messages are stored
	err    error
	result chan struct{}
}

// batchFlight is a batch of requests whose messages were started.
type batchFlight struct {
	reqs []*appendReq
	msgs []*flight
}

// flight is one started message.
type flight struct {
	wait  func() (uint64, error) // nil once waited for
	seq   uint64
	err   error
	buf   []byte
	spans []reqSpan // whose records it holds, in order
}

// reqSpan is n records of one request in a message.
type reqSpan struct {
	req *appendReq
	n   int
}

// result waits for f's outcome once.
func (f *flight) result() (uint64, error) {
	if f.wait != nil {
		f.seq, f.err = f.wait()
		f.wait = nil
	}
	return f.seq, f.err
}

func newAppender(s *Store, name string, pub publisher) *appender {
	a := &appender{
		store:   s,
		name:    name,
		pub:     pub,
		reqs:    make(chan *appendReq, 256),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
		flights: make(chan *batchFlight, 1),
		bufs:    make(chan []byte, 3),
		target:  s.targetBytes,
	}
	go a.run()
	return a
}

func (a *appender) append(ctx context.Context, recs []Record) (seqs []Sequence, err error) {
	if len(recs) == 0 {
		return nil, nil
	}
	// The disk budget counts the records from now, not once stored.
	n := a.store.budget.scaled(storedBytes(recs))
	a.store.budget.reserve(n)
	if a.own != nil {
		a.own.reserve(n)
	}
	defer func() {
		stored := n * int64(len(seqs)) / int64(len(recs))
		a.store.budget.settle(n, stored)
		if a.own != nil {
			a.own.settle(n, stored)
		}
	}()
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
	completed := make(chan struct{})
	go a.complete(completed)
	defer func() {
		close(a.flights)
		<-completed
	}()
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
		a.flights <- a.start(batch)
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

// start starts the messages of batch: its records in as few messages as
// fit the target size, in order. Before each message but the first it waits
// for the one before: after a failure the rest of the batch is not stored,
// so that each request's stored records are a prefix of its records.
func (a *appender) start(batch []*appendReq) *batchFlight {
	bf := &batchFlight{reqs: batch}
	var spans []reqSpan
	size := batchHeaderSize
	flush := func() {
		if len(a.recs) == 0 {
			return
		}
		f := &flight{spans: spans}
		if n := len(bf.msgs); n > 0 {
			_, f.err = bf.msgs[n-1].result()
		}
		if f.err == nil {
			f.buf = AppendBatch(a.getBuf(), a.store.cfg.Now(), a.recs)
			f.wait = a.pub.start(f.buf, len(a.recs), a.done)
		}
		bf.msgs = append(bf.msgs, f)
		clear(a.recs)
		a.recs, spans, size = a.recs[:0], nil, batchHeaderSize
	}
	for _, req := range batch {
		n := 0
		for _, rec := range req.recs {
			es := encodedSize(rec)
			if len(a.recs) > 0 && (size+es > a.target || len(a.recs) == maxBatchRecords) {
				spans = append(spans, reqSpan{req, n})
				flush()
				n = 0
			}
			a.recs = append(a.recs, rec)
			size += es
			n++
		}
		spans = append(spans, reqSpan{req, n})
	}
	flush()
	return bf
}

// complete answers the started batches in order until flights closes.
func (a *appender) complete(done chan<- struct{}) {
	defer close(done)
	for bf := range a.flights {
		a.finish(bf)
	}
}

// finish waits for a batch's messages, gives its requests their sequences
// and answers them.
func (a *appender) finish(bf *batchFlight) {
	var failed error
	for _, f := range bf.msgs {
		seq, err := f.result()
		if failed == nil && err != nil {
			failed = err
		}
		if failed == nil {
			idx := 0
			for _, sp := range f.spans {
				for range sp.n {
					sp.req.seqs = append(sp.req.seqs, MakeSequence(seq, idx))
					idx++
				}
			}
		}
		a.putBuf(f.buf)
	}
	for _, req := range bf.reqs {
		if len(req.seqs) < len(req.recs) {
			req.err = failed
		}
		close(req.result)
	}
}

func (a *appender) getBuf() []byte {
	select {
	case b := <-a.bufs:
		return b[:0]
	default:
		return nil
	}
}

func (a *appender) putBuf(b []byte) {
	if b == nil {
		return
	}
	select {
	case a.bufs <- b:
	default:
	}
}
