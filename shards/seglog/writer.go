package seglog

import (
	"context"
	"fmt"
	"time"
)

// maxBatchBytes bounds the payloads one write takes in.
const maxBatchBytes = 8 << 20

// Entry is one record batch of one key, as appended.
type Entry struct {
	// Time is the arrival, Unix nanoseconds; 0: the log's clock. A key's
	// times never decrease: an entry given one before the key's last
	// entry's is stored with that one.
	Time    int64
	Records uint32 // records in the payload, counted into Stored.Total
	Payload []byte // at most MaxPayload bytes; not retained after Append returns
}

// writer is the writer goroutine's state; nothing else touches it but Open
// before the goroutine starts and Close after it stopped.
type writer struct {
	active    *segment
	wf        file              // the active segment, written through
	ids       map[string]uint32 // key ids defined in the active segment
	newIDs    []string          // defined by the write in progress
	dirty     bool              // written since the last fsync
	failed    error             // sticky: ErrFailed and why
	state     map[string]keyMark
	unindexed []*segment // sealed, their index not yet written
	batch     []*appendReq
	buf, ad   []byte
	// With SyncAlways, syncing is the write whose fsync runs while the
	// next write is made (nil: none): its appends are published and
	// answered once it is done. unsynced holds the keys' states as the
	// writes not yet published leave them.
	syncing  *syncingWrite
	unsynced map[string]keyState
	pend     map[string]int // key -> pends index, for the write in progress
	pends    []keyState
}

type appendReq struct {
	key   string
	e     Entry
	seq   uint64
	rec   idxRec
	total uint64
	err   error
	done  chan struct{} // one value when answered
}

type ctlReq struct {
	fn   func() error
	err  error
	done chan struct{}
}

// Append stores e as key's next entry and returns its sequence: 1, 2, 3…
// per key, or after Trim(key, n) of a key without entries, n, n+1…. It
// returns once the write holding the entry is done, and with SyncAlways the
// fsync after it: concurrent Appends, of any keys, share one write and one
// fsync. ctx bounds only the wait to be taken in; an Append taken in is
// answered whatever ctx does.
//
// A failed write of the segment fails the Appends it held with an error
// wrapping the OS error (a full disk: syscall.ENOSPC); they are not stored
// and a retry may succeed. A failed fsync fails them with ErrFailed (see
// there). ErrInvalid and ErrClosed are never worth a retry.
func (l *Log) Append(ctx context.Context, key string, e Entry) (uint64, error) {
	p, err := l.AppendAsync(ctx, key, e)
	if err != nil {
		return 0, err
	}
	return p.Wait()
}

func (l *Log) enqueue(ctx context.Context, r *appendReq) error {
	l.enqMu.RLock()
	defer l.enqMu.RUnlock()
	if l.closing {
		return ErrClosed
	}
	select {
	case l.appends <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// control runs fn in the writer goroutine, between writes.
func (l *Log) control(fn func() error) error {
	r := &ctlReq{fn: fn, done: make(chan struct{})}
	l.enqMu.RLock()
	if l.closing {
		l.enqMu.RUnlock()
		return ErrClosed
	}
	l.ctl <- r
	l.enqMu.RUnlock()
	<-r.done
	return r.err
}

func (l *Log) run() {
	defer close(l.stopped)
	tick := time.NewTicker(l.o.SyncInterval)
	defer tick.Stop()
	for {
		select {
		case r := <-l.appends:
			l.commit(l.gather(r))
		case err := <-l.w.syncDone():
			l.settled(err)
		case c := <-l.ctl:
			l.settle()
			c.err = c.fn()
			close(c.done)
		case <-tick.C:
			l.maintain()
		case <-l.stop:
			for {
				select {
				case r := <-l.appends:
					l.commit(l.gather(r))
				default:
					l.finish()
					return
				}
			}
		}
	}
}

// gather returns first and the appends queued behind it, up to
// maxBatchBytes of payload.
func (l *Log) gather(first *appendReq) []*appendReq {
	batch := append(l.w.batch[:0], first)
	size := len(first.e.Payload)
	for size < maxBatchBytes {
		select {
		case r := <-l.appends:
			batch = append(batch, r)
			size += len(r.e.Payload)
		default:
			l.w.batch = batch
			return batch
		}
	}
	l.w.batch = batch
	return batch
}

// syncingWrite is a write of the active segment whose fsync runs.
type syncingWrite struct {
	batch      []*appendReq
	start, end int64 // where its frames lie in the segment
	done       chan error
}

// commit writes batch, in as many writes as the segments it fills, and
// answers every append of it (with SyncAlways, the last write's once its
// fsync, which the next write does not wait for, is done: see settle).
func (l *Log) commit(batch []*appendReq) {
	for len(batch) > 0 {
		if l.w.failed == nil {
			l.rollIfDue()
		}
		n := l.encode(batch)
		if l.o.SyncAlways {
			l.writeSyncing(batch[:n])
		} else {
			l.write(batch[:n])
		}
		batch = batch[n:]
	}
	clear(l.w.batch)
}

// written returns where the active segment's written frames end: past
// those published, the syncing write's.
func (w *writer) written() int64 {
	if w.syncing != nil {
		return w.syncing.end
	}
	return w.active.length
}

// writeSyncing writes w.buf, which holds batch, while the last write's
// fsync may still run; then waits for that one (see settle) and starts
// this one's. This is how group commit keeps the disk busy: the appends
// that came during an fsync are written during the next one, as the disk
// floor does.
func (l *Log) writeSyncing(batch []*appendReq) {
	w := &l.w
	start := w.written()
	err := w.failed
	if err == nil {
		err = l.writeAt(start)
	}
	if err == nil {
		if w.unsynced == nil {
			w.unsynced = make(map[string]keyState)
		}
		for k, i := range w.pend {
			w.unsynced[k] = w.pends[i]
		}
	}
	mine := &syncingWrite{batch: append([]*appendReq(nil), batch...), start: start, end: start + int64(len(w.buf))}
	l.settle()
	if err == nil && w.failed != nil {
		err = w.failed // the fsync before failed: what this wrote is gone with it
	}
	if err != nil {
		for _, r := range batch {
			r.err = err
			r.done <- struct{}{}
		}
		return
	}
	mine.done = make(chan error, 1)
	f := w.wf
	go func() { mine.done <- f.Sync() }()
	w.syncing = mine
}

// settle waits for the syncing write's fsync, then publishes and answers
// its appends; a failed fsync fails them and the log, and cuts off what
// was written from that write on.
func (l *Log) settle() {
	if sw := l.w.syncing; sw != nil {
		l.settled(<-sw.done)
	}
}

// settled publishes and answers the syncing write, whose fsync returned
// err.
func (l *Log) settled(err error) {
	w := &l.w
	sw := w.syncing
	w.syncing = nil
	if err != nil {
		w.wf.Truncate(sw.start) // best effort: the appends are refused, better not kept
		err = l.fail(fmt.Errorf("fsync segment %d: %w", w.active.num, err))
		clear(w.unsynced)
	} else {
		l.publishWrite(sw.batch, sw.end-sw.start)
		for _, r := range sw.batch {
			if u, ok := w.unsynced[r.key]; ok && u.last <= r.seq {
				delete(w.unsynced, r.key)
			}
		}
	}
	for _, r := range sw.batch {
		r.err = err
		r.done <- struct{}{}
	}
}

// syncDone returns the channel the syncing write's fsync answers on (nil:
// none runs), for the writer to settle it when no append comes.
func (w *writer) syncDone() <-chan error {
	if w.syncing == nil {
		return nil
	}
	return w.syncing.done
}

// encode encodes into w.buf the appends of batch that go to the active
// segment, at least one, and returns how many.
func (l *Log) encode(batch []*appendReq) int {
	w := &l.w
	w.buf, w.newIDs, w.pends = w.buf[:0], w.newIDs[:0], w.pends[:0]
	if w.pend == nil {
		w.pend = make(map[string]int)
	}
	clear(w.pend)
	base := w.written()
	now := l.o.Now().UnixNano()
	for i, r := range batch {
		if i > 0 && base+int64(len(w.buf)) >= l.o.SegmentBytes {
			return i
		}
		p := l.pending(r.key)
		id, ok := w.ids[r.key]
		if !ok {
			id = uint32(len(w.ids))
			w.ids[r.key] = id
			w.newIDs = append(w.newIDs, r.key)
			w.buf = appendKeyFrame(w.buf, id, r.key)
		}
		t := r.e.Time
		if t == 0 {
			t = now
		}
		h := entryHeader{keyID: id, seq: p.last + 1, time: max(t, p.lastTime),
			records: r.e.Records, total: p.lastTotal + uint64(r.e.Records)}
		off := len(w.buf)
		if l.o.AEAD != nil {
			w.ad = sealAD(w.ad[:0], r.key, h.seq)
		}
		w.buf = appendEntryFrame(w.buf, h, r.e.Payload, l.o.AEAD, w.ad)
		r.seq, r.total = h.seq, h.total
		r.rec = idxRec{seq: h.seq, time: h.time, off: uint32(base) + uint32(off), len: uint32(len(w.buf) - off)}
		p.last, p.lastTime, p.lastTotal = h.seq, h.time, h.total
	}
	return len(batch)
}

// pending returns the state of key as the write in progress leaves it.
func (l *Log) pending(key string) *keyState {
	w := &l.w
	if i, ok := w.pend[key]; ok {
		return &w.pends[i]
	}
	p := keyState{first: 1}
	if u, ok := w.unsynced[key]; ok {
		p = u
	} else if ks := l.keys[key]; ks != nil {
		p = keyState{first: ks.first, last: ks.last, lastTime: ks.lastTime, lastTotal: ks.lastTotal}
	}
	w.pend[key] = len(w.pends)
	w.pends = append(w.pends, p)
	return &w.pends[len(w.pends)-1]
}

// write writes w.buf, which holds batch, to the active segment, makes the
// entries visible and answers batch.
func (l *Log) write(batch []*appendReq) {
	err := l.w.failed
	if err == nil {
		err = l.writeBuf()
	}
	if err == nil {
		l.publish(batch)
	}
	for _, r := range batch {
		r.err = err
		r.done <- struct{}{}
	}
}

// writeBuf writes w.buf at the end of the active segment, and fsyncs it
// with SyncAlways. A failed write is undone (the file truncated back) and
// the log goes on; a failed fsync, or a failed undo, fails the log.
func (l *Log) writeBuf() error {
	w := &l.w
	off := w.active.length
	if err := l.writeAt(off); err != nil {
		return err
	}
	if !l.o.SyncAlways {
		w.dirty = true
		return nil
	}
	if err := w.wf.Sync(); err != nil {
		w.wf.Truncate(off) // best effort: the appends are refused, better not kept
		return l.fail(fmt.Errorf("fsync segment %d: %w", w.active.num, err))
	}
	return nil
}

// writeAt writes w.buf at off of the active segment. A failed write is
// undone (the file truncated back, the key ids it defined forgotten); a
// failed undo fails the log.
func (l *Log) writeAt(off int64) error {
	w := &l.w
	if _, err := w.wf.WriteAt(w.buf, off); err != nil {
		for _, k := range w.newIDs {
			delete(w.ids, k)
		}
		if terr := w.wf.Truncate(off); terr != nil {
			return l.fail(fmt.Errorf("write segment %d: %w; truncating it back: %w", w.active.num, err, terr))
		}
		return fmt.Errorf("seglog: write segment %d: %w", w.active.num, err)
	}
	return nil
}

// fail makes the log refuse appends from now on, for err.
func (l *Log) fail(err error) error {
	l.w.failed = fmt.Errorf("%w: %w", ErrFailed, err)
	l.o.Logger.Error("seglog: the log refuses appends until it is opened again", "dir", l.o.Dir, "err", err)
	return l.w.failed
}

// publish makes the appends of batch, just written from w.buf, visible
// to reads.
func (l *Log) publish(batch []*appendReq) { l.publishWrite(batch, int64(len(l.w.buf))) }

// publishWrite makes the written appends of batch, which took n bytes at
// the end of the active segment's published frames, visible to reads.
func (l *Log) publishWrite(batch []*appendReq, n int64) {
	w := &l.w
	g := w.active
	l.mu.Lock()
	for _, r := range batch {
		ks := l.keys[r.key]
		if ks == nil {
			ks = &keyState{first: 1}
			l.keys[r.key] = ks
		}
		var s *span
		if n := len(ks.spans); n > 0 && ks.spans[n-1].seg == g {
			s = ks.spans[n-1]
		} else {
			s = &span{seg: g, key: r.key, keyID: w.ids[r.key]}
			ks.spans = append(ks.spans, s)
			g.spans = append(g.spans, s)
			g.live++
		}
		if ks.empty() {
			ks.firstTime, ks.firstSkip = r.rec.time, s.bytes
		}
		s.add(r.rec, r.total)
		ks.last, ks.lastTime, ks.lastTotal = r.seq, r.rec.time, r.total
	}
	g.length += n
	g.fileSize = g.length
	l.mu.Unlock()
	l.diskBytes.Add(n)
	l.wake(batch)
}

// wake closes the Notify channels of the keys of batch.
func (l *Log) wake(batch []*appendReq) {
	l.waitMu.Lock()
	defer l.waitMu.Unlock()
	if len(l.waiters) == 0 {
		return
	}
	for _, r := range batch {
		if ch, ok := l.waiters[r.key]; ok {
			close(ch)
			delete(l.waiters, r.key)
		}
	}
}
