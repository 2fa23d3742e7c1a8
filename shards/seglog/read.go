package seglog

import (
	"errors"
	"fmt"
	"slices"
	"sort"
)

// Stored is an entry as read back.
type Stored struct {
	Seq     uint64
	Time    int64 // Unix nanoseconds
	Records uint32
	Total   uint64 // the key's records through this entry, trimmed ones counted
	Payload []byte // the caller's to keep
}

// KeyInfo is what a key holds. Its entries are First..Last with no gaps;
// without entries First is Last+1, the next sequence (a key never seen:
// First 1, Last 0).
type KeyInfo struct {
	First, Last uint64
	Entries     uint64
	Bytes       int64  // of the entries' frames in the segments
	Total       uint64 // records through Last, trimmed ones counted
	// FirstTime and LastTime are the times of entries First and Last; 0
	// without entries.
	FirstTime, LastTime int64
}

// errGone: a segment was deleted (its entries trimmed) while read.
var errGone = errors.New("segment deleted")

// Read returns key's entries from sequence from on (0: the first kept),
// in order: the first even when its payload is larger than maxBytes, then
// more while their payloads total at most maxBytes. from past the last
// entry: none, and no error. from before the first kept: ErrTrimmed.
// When some entries were read before an error, Read returns them and no
// error: reading on from after them meets the error again, a
// *CorruptError (skip to its Next) or an I/O error (a retry may help).
func (l *Log) Read(key string, from uint64, maxBytes int) ([]Stored, error) {
	return l.read(key, from, maxBytes, 0)
}

// Get returns entry seq of key; ErrNotFound when it was trimmed or not yet
// appended.
func (l *Log) Get(key string, seq uint64) (Stored, error) {
	if seq == 0 {
		return Stored{}, ErrNotFound
	}
	got, err := l.read(key, seq, 0, 1)
	if errors.Is(err, ErrTrimmed) || (err == nil && len(got) == 0) {
		return Stored{}, ErrNotFound
	}
	if err != nil {
		return Stored{}, err
	}
	return got[0], nil
}

// readBudget says how many more entries a read takes.
type readBudget struct {
	maxBytes, maxEntries int // maxEntries 0: no limit
	bytes, entries       int
	full                 bool
}

func (b *readBudget) take(payload int) bool {
	if b.entries > 0 && (b.bytes+payload > b.maxBytes || b.entries == b.maxEntries) {
		b.full = true
		return false
	}
	b.bytes += payload
	b.entries++
	return true
}

func (l *Log) read(key string, from uint64, maxBytes, maxEntries int) ([]Stored, error) {
	spans, from, err := l.readPlan(key, from, maxBytes)
	if err != nil || len(spans) == 0 {
		return nil, err
	}
	b := &readBudget{maxBytes: maxBytes, maxEntries: maxEntries}
	var out []Stored
	for i := range spans {
		if from < spans[i].first {
			err = l.gapError(key, from, spans, i)
			break
		}
		if out, from, err = l.readSpan(&spans[i], from, b, out); err != nil || b.full {
			break
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	if errors.Is(err, errGone) {
		if l.isClosed() {
			return nil, ErrClosed
		}
		return nil, ErrTrimmed
	}
	return nil, err
}

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// readPlan returns copies of the spans a read of key from from needs (as
// many as maxBytes may need), and from itself (0 made the first kept).
func (l *Log) readPlan(key string, from uint64, maxBytes int) ([]span, uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, 0, ErrClosed
	}
	ks := l.keys[key]
	if ks == nil {
		return nil, from, nil
	}
	if from == 0 {
		from = ks.first
	}
	if from < ks.first {
		return nil, 0, fmt.Errorf("%w: %q from %d: the first kept is %d", ErrTrimmed, key, from, ks.first)
	}
	if from > ks.last {
		return nil, from, nil
	}
	i := sort.Search(len(ks.spans), func(i int) bool { return ks.spans[i].last >= from })
	if i == len(ks.spans) {
		return nil, 0, l.gapErrorLocked(key, from, ks, nil)
	}
	var spans []span
	size := 0
	for _, s := range ks.spans[i:] {
		spans = append(spans, *s)
		if size += int(s.bytes); size > maxBytes && len(spans) > 1 {
			break
		}
	}
	return spans, from, nil
}

// readSpan appends the entries of s from sequence next on to out while b
// takes them, and returns the sequence after the last it appended.
func (l *Log) readSpan(s *span, next uint64, b *readBudget, out []Stored) ([]Stored, uint64, error) {
	g := s.seg
	if !g.hold() {
		return out, next, errGone
	}
	defer g.release()
	pos, err := s.find(next)
	for err == nil && pos < s.count && !b.full {
		var recs []idxRec
		if recs, err = s.recRange(pos, min(64, s.count-pos)); err != nil {
			break
		}
		n := 0
		for _, r := range recs {
			if r.seq != next+uint64(n) {
				err = l.corrupt(g, s.key, int64(r.off), fmt.Sprintf("index says entry %d where %d belongs", r.seq, next+uint64(n)))
				break
			}
			if at := g.corruptAt.Load(); at != 0 && int64(r.off) >= at {
				err = l.corrupt(g, s.key, at, "the segment is corrupt from here on")
				break
			}
			if !b.take(l.payloadLen(g, r)) {
				break
			}
			n++
		}
		got, rerr := l.readEntries(s, recs[:n])
		out = append(out, got...)
		next += uint64(len(got))
		pos += len(got)
		if rerr != nil {
			err = rerr
		}
	}
	return out, next, err
}

// payloadLen returns the payload bytes of the entry at r.
func (l *Log) payloadLen(g *segment, r idxRec) int {
	n := int(r.len) - frameHead - entryFixed
	if g.hdr.sealed && l.o.AEAD != nil {
		n -= l.o.AEAD.NonceSize() + l.o.AEAD.Overhead()
	}
	return max(n, 0)
}

// readEntries reads the entries at recs, which follow one another in s,
// with one positional read per run of adjacent frames. It returns those
// before the first that fails, and why that one did.
func (l *Log) readEntries(s *span, recs []idxRec) ([]Stored, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	size := 0
	for _, r := range recs {
		size += int(r.len)
	}
	buf := make([]byte, size)
	out := make([]Stored, 0, len(recs))
	for i, at := 0, 0; i < len(recs); {
		j, end := i+1, at+int(recs[i].len)
		for j < len(recs) && recs[j].off == recs[j-1].off+recs[j-1].len {
			end += int(recs[j].len)
			j++
		}
		if _, err := s.seg.f.ReadAt(buf[at:end], int64(recs[i].off)); err != nil {
			return out, fmt.Errorf("seglog: read segment %d: %w", s.seg.num, err)
		}
		for ; i < j; i++ {
			e, err := l.decodeEntry(s, recs[i], buf[at:at+int(recs[i].len):at+int(recs[i].len)])
			if err != nil {
				return out, err
			}
			out = append(out, e)
			at += int(recs[i].len)
		}
	}
	return out, nil
}

// decodeEntry checks and decodes the frame b read at r of s.
func (l *Log) decodeEntry(s *span, r idxRec, b []byte) (Stored, error) {
	g := s.seg
	kind, body, err := checkFrame(b)
	if err != nil {
		return Stored{}, l.corrupt(g, s.key, int64(r.off), err.Error())
	}
	h, payload, err := parseEntryFrame(body)
	if err == nil && (kind != kindEntry || h.keyID != s.keyID || h.seq != r.seq) {
		err = fmt.Errorf("frame is not entry %d of %q", r.seq, s.key)
	}
	if err == nil && g.hdr.sealed {
		payload, err = openPayload(l.o.AEAD, payload, sealAD(nil, s.key, h.seq))
	}
	if err != nil {
		return Stored{}, l.corrupt(g, s.key, int64(r.off), err.Error())
	}
	return Stored{Seq: h.seq, Time: h.time, Records: h.records, Total: h.total, Payload: payload}, nil
}

// corrupt records a bad frame at off of g and returns the error for it.
func (l *Log) corrupt(g *segment, key string, off int64, reason string) error {
	g.markCorrupt(off)
	l.mu.RLock()
	defer l.mu.RUnlock()
	return &CorruptError{Path: g.path, Segment: g.num, Offset: off, Key: key, Next: l.nextAfter(key, g.num), Reason: reason}
}

// nextAfter returns key's first kept sequence in a segment after num.
// The caller holds l.mu.
func (l *Log) nextAfter(key string, num uint64) uint64 {
	ks := l.keys[key]
	if ks == nil {
		return 0
	}
	for _, s := range ks.spans {
		if s.seg.num > num {
			return max(s.first, ks.first)
		}
	}
	return ks.last + 1
}

// gapError is the error for entries from..spans[i].first-1, which no
// segment holds: lost with a segment that was corrupt.
func (l *Log) gapError(key string, from uint64, spans []span, i int) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ks := l.keys[key]
	if ks == nil {
		return ErrTrimmed
	}
	return l.gapErrorLocked(key, from, ks, &spans[i])
}

// gapErrorLocked names the corrupt segment before next (nil: past the
// last span) that lost entry from. The caller holds l.mu.
func (l *Log) gapErrorLocked(key string, from uint64, ks *keyState, next *span) error {
	e := &CorruptError{Path: l.o.Dir, Key: key, Next: ks.last + 1,
		Reason: fmt.Sprintf("entry %d is in no segment: it was lost with a corrupt one", from)}
	if next != nil {
		e.Next = next.first
	}
	for _, g := range slices.Backward(l.segs) {
		if (next == nil || g.num < next.seg.num) && g.corruptAt.Load() != 0 {
			e.Path, e.Segment, e.Offset = g.path, g.num, g.corruptAt.Load()
			break
		}
	}
	return e
}
