package seglog

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
)

// segment is one segment file, and its index file once it has one.
type segment struct {
	num  uint64
	hdr  segHeader
	path string
	f    *os.File // for reads; the writer writes the active one through its own
	// What follows changes only in the writer goroutine, under Log.mu.
	idx      *os.File // the index file; nil while the records are in memory
	idxSize  int64
	length   int64 // where its frames end
	fileSize int64
	spans    []*span // the keys' entries in it (dead ones too)
	live     int     // spans not dead
	// sealed is set once no more entries come to it; corruptAt (0: none)
	// is where its first bad frame was found: nothing from there on is
	// served (see doc.go).
	sealed    atomic.Bool
	corruptAt atomic.Int64

	// mu is held shared while its files are read, exclusively to close them.
	mu     sync.RWMutex
	closed bool
}

func segPath(dir string, num uint64) string { return filepath.Join(dir, fmt.Sprintf("%020d.seg", num)) }
func idxPath(dir string, num uint64) string { return filepath.Join(dir, fmt.Sprintf("%020d.idx", num)) }

// hold keeps g's files open until release; false: they are closed (the
// segment was deleted, or the log closed).
func (g *segment) hold() bool {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return false
	}
	return true
}

func (g *segment) release() { g.mu.RUnlock() }

// close closes g's files once no read holds them.
func (g *segment) close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	err := g.f.Close()
	if g.idx != nil {
		if cerr := g.idx.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// markCorrupt records a bad frame at off of a sealed segment: nothing from
// off on is served after it. The active segment is not marked: entries
// still come to it.
func (g *segment) markCorrupt(off int64) {
	if !g.sealed.Load() {
		return
	}
	for {
		cur := g.corruptAt.Load()
		if (cur != 0 && cur <= off) || g.corruptAt.CompareAndSwap(cur, off) {
			return
		}
	}
}

// recRange returns n records of s from position pos on. The caller holds
// s.seg.
func (s *span) recRange(pos, n int) ([]idxRec, error) {
	if s.recs != nil {
		return s.recs[pos : pos+n], nil
	}
	b := make([]byte, n*idxRecSize)
	off := s.recPos + int64(pos)*idxRecSize
	if _, err := s.seg.idx.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("seglog: read index of segment %d: %w", s.seg.num, err)
	}
	out := make([]idxRec, n)
	for i := range out {
		r, ok := parseIdxRec(b[i*idxRecSize:])
		if !ok {
			return nil, &CorruptError{Path: s.seg.idx.Name(), Segment: s.seg.num,
				Offset: off + int64(i)*idxRecSize, Reason: "index record checksum mismatch"}
		}
		out[i] = r
	}
	return out, nil
}

func (s *span) rec(pos int) (idxRec, error) {
	r, err := s.recRange(pos, 1)
	if err != nil {
		return idxRec{}, err
	}
	return r[0], nil
}

// search returns the smallest position in [lo, hi) whose record satisfies
// f, or hi; f must be false then true along the positions.
func (s *span) search(lo, hi int, f func(idxRec) bool) (int, error) {
	for lo < hi {
		mid := lo + (hi-lo)/2
		r, err := s.rec(mid)
		if err != nil {
			return 0, err
		}
		if f(r) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// find returns the position of the first record with a sequence at or
// after seq: one read when the key's sequences in s have no gap, as they
// have but after a Trim that set the next sequence.
func (s *span) find(seq uint64) (int, error) {
	if seq <= s.first {
		return 0, nil
	}
	if p := seq - s.first; p < uint64(s.count) {
		r, err := s.rec(int(p))
		if err != nil {
			return 0, err
		}
		if r.seq == seq {
			return int(p), nil
		}
	}
	return s.search(0, s.count, func(r idxRec) bool { return r.seq >= seq })
}

// scanned is what scanning a segment's frames found.
type scanned struct {
	spans []*span // by key id, with their records
	ids   map[string]uint32
	end   int64  // where the last good frame ends
	bad   string // why the scan stopped before the end of the file; "" if it did not
}

// scanSegment reads the frames of segment g, whose file is size bytes
// long, up to the end or the first frame that is torn or corrupt.
func scanSegment(g *segment, size int64) scanned {
	sc := scanned{ids: make(map[string]uint32), end: g.hdr.size}
	r := bufio.NewReaderSize(io.NewSectionReader(g.f, sc.end, size-sc.end), 1<<20)
	var byID []*span
	var buf []byte
	for sc.end < size {
		if size-sc.end < frameHead+1 {
			sc.bad = "torn frame head"
			break
		}
		buf = append(buf[:0], make([]byte, frameHead)...)
		if _, err := io.ReadFull(r, buf); err != nil {
			sc.bad = fmt.Sprintf("read: %v", err)
			break
		}
		n, err := frameLen(buf)
		if err == nil && int64(n) > size-sc.end {
			err = fmt.Errorf("frame of %d bytes runs past the end", n)
		}
		if err != nil {
			sc.bad = err.Error()
			break
		}
		buf = append(buf, make([]byte, n-frameHead)...)
		if _, err := io.ReadFull(r, buf[frameHead:]); err != nil {
			sc.bad = fmt.Sprintf("read: %v", err)
			break
		}
		if byID, err = sc.add(g, byID, buf); err != nil {
			sc.bad = err.Error()
			break
		}
		sc.end += int64(n)
	}
	for _, s := range byID {
		if s.count > 0 {
			sc.spans = append(sc.spans, s)
		}
	}
	return sc
}

// add takes in the frame b found at sc.end.
func (sc *scanned) add(g *segment, byID []*span, b []byte) ([]*span, error) {
	kind, body, err := checkFrame(b)
	if err != nil {
		return byID, err
	}
	switch kind {
	case kindKey:
		id, key, err := parseKeyFrame(body)
		if err != nil {
			return byID, err
		}
		if _, dup := sc.ids[key]; dup || id != uint32(len(byID)) {
			return byID, fmt.Errorf("key frame: id %d for %q out of order", id, key)
		}
		sc.ids[key] = id
		return append(byID, &span{seg: g, key: key, keyID: id}), nil
	case kindEntry:
		h, _, err := parseEntryFrame(body)
		if err != nil {
			return byID, err
		}
		if h.keyID >= uint32(len(byID)) {
			return byID, fmt.Errorf("entry of undefined key id %d", h.keyID)
		}
		s := byID[h.keyID]
		if s.count > 0 && (h.seq <= s.last || h.time < s.lastTime) {
			return byID, fmt.Errorf("entry %d of %q after %d", h.seq, s.key, s.last)
		}
		s.add(idxRec{seq: h.seq, time: h.time, off: uint32(sc.end), len: uint32(len(b))}, h.total)
		return byID, nil
	}
	return byID, fmt.Errorf("frame kind %d", kind)
}

// liveSpans returns g's spans that are not dead, in key id order.
func (g *segment) liveSpans() []*span {
	var out []*span
	for _, s := range g.spans {
		if !s.dead {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].keyID < out[j].keyID })
	return out
}
