package seglog

import (
	"context"
	"fmt"
)

// Pending is an append the writer has taken in and not yet answered.
type Pending struct {
	l *Log
	r *appendReq
}

// AppendAsync hands e to the writer as Append does, and returns once the
// writer has taken it in, without waiting for its write: Wait returns what
// Append would have. It lets a caller hand over its next entry while the
// last one is being written, so that it joins the next group commit instead
// of missing it. Entries handed over one after another by one goroutine are
// stored in that order, with consecutive sequences unless one fails.
// e.Payload must stay unchanged until Wait returns, and Wait must be
// called exactly once.
func (l *Log) AppendAsync(ctx context.Context, key string, e Entry) (Pending, error) {
	if err := checkAppend(key, e); err != nil {
		return Pending{}, err
	}
	r := l.reqs.Get().(*appendReq)
	r.key, r.e = key, e
	if err := l.enqueue(ctx, r); err != nil {
		l.putReq(r)
		return Pending{}, err
	}
	return Pending{l: l, r: r}, nil
}

// Wait returns the entry's sequence once it is written (and with
// SyncAlways, fsynced), or why it is not stored, as Append.
func (p Pending) Wait() (uint64, error) {
	<-p.r.done
	seq, err := p.r.seq, p.r.err
	p.l.putReq(p.r)
	if err != nil {
		return 0, err
	}
	return seq, nil
}

func (l *Log) putReq(r *appendReq) {
	*r = appendReq{done: r.done}
	l.reqs.Put(r)
}

// checkAppend refuses what no append may store.
func checkAppend(key string, e Entry) error {
	if key == "" || len(key) > MaxKeyLen || len(e.Payload) > MaxPayload {
		return fmt.Errorf("%w: key of %d bytes (1 to %d), payload of %d bytes (at most %d)",
			ErrInvalid, len(key), MaxKeyLen, len(e.Payload), MaxPayload)
	}
	return nil
}
