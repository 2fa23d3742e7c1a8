package seglog

import (
	"fmt"
	"path/filepath"
)

// Trim drops key's entries before sequence before: at once for reads, and
// for good (the state file records it before Trim returns). A segment
// file is deleted once every entry in it is trimmed or dropped (segments
// are never rewritten; the active segment only after it is sealed).
// before past the key's last entry + 1 makes it the key's next sequence,
// so a log whose first sequence is not 1 can be carried over. A failed
// Trim changed nothing; a retry may succeed.
func (l *Log) Trim(key string, before uint64) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key of %d bytes", ErrInvalid, len(key))
	}
	return l.control(func() error { return l.trim(key, before) })
}

func (l *Log) trim(key string, before uint64) error {
	cur := l.keys[key]
	if cur == nil {
		cur = &keyState{first: 1}
	}
	if before <= cur.first {
		return nil
	}
	next := *cur
	next.first, next.last = before, max(cur.last, before-1)
	next.spans = nil
	var gone []*span
	for _, s := range cur.spans {
		if s.last < before {
			gone = append(gone, s)
		} else {
			next.spans = append(next.spans, s)
		}
	}
	next.firstTime, next.firstSkip = 0, 0
	if len(next.spans) > 0 {
		next.firstTime, next.firstSkip = l.locate(next.spans[0], before)
	}
	m := l.w.state[key]
	m.first, m.total = before, cur.lastTotal
	if err := l.saveState(key, &m); err != nil {
		return fmt.Errorf("seglog: trim %q: %w", key, err)
	}
	l.mu.Lock()
	l.keys[key] = &next
	dead := l.bury(gone)
	l.mu.Unlock()
	l.deleteSegments(dead)
	return nil
}

// Drop forgets key: its entries are dropped, its sequence and Total start
// again from nothing. A failed Drop changed nothing; a retry may succeed.
func (l *Log) Drop(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key of %d bytes", ErrInvalid, len(key))
	}
	return l.control(func() error { return l.drop(key) })
}

// drop seals the active segment if the key has frames in it, then records
// that the key's entries in every sealed segment belong to the dropped key.
func (l *Log) drop(key string) error {
	ks := l.keys[key]
	_, marked := l.w.state[key]
	_, inActive := l.w.ids[key]
	if ks == nil && !marked && !inActive {
		return nil
	}
	if inActive {
		if err := l.roll(); err != nil {
			return fmt.Errorf("seglog: drop %q: %w", key, err)
		}
	}
	m := keyMark{dropSeg: l.w.active.num - 1}
	if err := l.saveState(key, &m); err != nil {
		return fmt.Errorf("seglog: drop %q: %w", key, err)
	}
	l.mu.Lock()
	delete(l.keys, key)
	var dead []*segment
	if ks != nil {
		dead = l.bury(ks.spans)
	}
	l.mu.Unlock()
	l.deleteSegments(dead)
	return nil
}

// bury marks spans dead and detaches the sealed segments left without a
// kept entry. The caller holds l.mu.
func (l *Log) bury(spans []*span) []*segment {
	if len(spans) == 0 {
		return nil
	}
	for _, s := range spans {
		s.dead = true
		s.seg.live--
	}
	return l.detachDead()
}

// saveState writes the state file with key's mark set to m (nil: removed),
// and on success keeps it. Marks that say nothing any more are left out:
// a drop's once no segment it covers is left.
func (l *Log) saveState(key string, m *keyMark) error {
	marks := make(map[string]keyMark, len(l.w.state)+1)
	oldest := l.w.active.num
	if len(l.segs) > 0 {
		oldest = l.segs[0].num
	}
	for k, v := range l.w.state {
		marks[k] = v
	}
	if m != nil {
		marks[key] = *m
	} else {
		delete(marks, key)
	}
	for k, v := range marks {
		if v.first <= 1 && v.dropSeg < oldest {
			delete(marks, k)
		}
	}
	if err := writeFileAtomic(filepath.Join(l.o.Dir, stateName), encodeState(marks), l.o.wrapFile); err != nil {
		return err
	}
	l.w.state = marks
	return nil
}

// Close stops appends, waits for those taken in, fsyncs and closes the
// files. Acknowledged appends are durable after it returns nil; after an
// fsync failed it returns ErrFailed, and those acknowledged since the last
// good fsync may be lost. Idempotent; reads after it fail with ErrClosed.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.enqMu.Lock()
		l.closing = true
		l.enqMu.Unlock()
		close(l.stop)
		<-l.stopped
		l.mu.Lock()
		l.closed = true
		segs := l.segs
		l.mu.Unlock()
		for _, g := range segs {
			if err := g.close(); err != nil && l.closeErr == nil {
				l.closeErr = fmt.Errorf("seglog: close: %w", err)
			}
		}
		l.waitMu.Lock()
		l.waitClosed = true
		for k, ch := range l.waiters {
			close(ch)
			delete(l.waiters, k)
		}
		l.waitMu.Unlock()
		if err := l.unlock(); err != nil && l.closeErr == nil {
			l.closeErr = fmt.Errorf("seglog: close: unlock: %w", err)
		}
		l.o.Logger.Info("seglog: closed", "dir", l.o.Dir)
	})
	return l.closeErr
}
