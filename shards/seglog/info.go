package seglog

import (
	"sort"
)

// Info returns what key holds.
func (l *Log) Info(key string) KeyInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ks := l.keys[key]
	if ks == nil {
		return KeyInfo{First: 1}
	}
	info := KeyInfo{First: ks.first, Last: ks.last, Total: ks.lastTotal}
	if ks.empty() {
		return info
	}
	info.Entries = ks.last - ks.first + 1
	info.FirstTime, info.LastTime = ks.firstTime, ks.lastTime
	info.Bytes = -ks.firstSkip
	for _, s := range ks.spans {
		info.Bytes += s.bytes
	}
	return info
}

// SeekTime returns the first kept entry of key stored at or after t (Unix
// nanoseconds), or Last+1 when there is none. An error is an I/O error or
// a *CorruptError of the index it searched.
func (l *Log) SeekTime(key string, t int64) (uint64, error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, ErrClosed
	}
	ks := l.keys[key]
	switch {
	case ks == nil:
		l.mu.RUnlock()
		return 1, nil
	case ks.empty() || t > ks.lastTime:
		defer l.mu.RUnlock()
		return ks.last + 1, nil
	case t <= ks.firstTime:
		defer l.mu.RUnlock()
		return ks.first, nil
	}
	i := sort.Search(len(ks.spans), func(i int) bool { return ks.spans[i].lastTime >= t })
	s, first := *ks.spans[i], ks.first
	l.mu.RUnlock()

	if !s.seg.hold() {
		return first, nil // trimmed meanwhile: the first kept is a lower bound
	}
	defer s.seg.release()
	lo := 0
	if s.first < first {
		var err error
		if lo, err = s.find(first); err != nil {
			return 0, err
		}
	}
	pos, err := s.search(lo, s.count, func(r idxRec) bool { return r.time >= t })
	if err != nil || pos == s.count {
		return s.last + 1, err
	}
	r, err := s.rec(pos)
	return r.seq, err
}

// Keys returns the keys the log knows, sorted: those with entries, and
// those trimmed to a next sequence.
func (l *Log) Keys() []string {
	l.mu.RLock()
	keys := make([]string, 0, len(l.keys))
	for k := range l.keys {
		keys = append(keys, k)
	}
	l.mu.RUnlock()
	sort.Strings(keys)
	return keys
}

// Notify returns a channel closed when an entry of key is next appended
// (or the log closes). It fires once: take a new one after it fired, then
// read, so that no append falls between.
func (l *Log) Notify(key string) <-chan struct{} {
	l.waitMu.Lock()
	defer l.waitMu.Unlock()
	ch, ok := l.waiters[key]
	if !ok {
		ch = make(chan struct{})
		if l.waitClosed {
			close(ch)
			return ch
		}
		l.waiters[key] = ch
	}
	return ch
}
