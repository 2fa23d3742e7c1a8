package seglog

import (
	"errors"
	"fmt"
	"os"
)

// loadSegment opens segment num at Open: from its index file when that is
// valid, else by scanning it. The last segment without an index is the
// active one.
func (l *Log) loadSegment(num uint64, last bool) error {
	path := segPath(l.o.Dir, num)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("seglog: open: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("seglog: open: %w", err)
	}
	b := make([]byte, min(st.Size(), int64(maxSegHeader)))
	if _, err := f.ReadAt(b, 0); err != nil {
		f.Close()
		return fmt.Errorf("seglog: open: read %s: %w", path, err)
	}
	h, err := parseSegHeader(b)
	if err == nil && h.num != num {
		err = fmt.Errorf("the header says segment %d", h.num)
	}
	if err != nil {
		f.Close()
		l.setAside(num, err)
		return nil
	}
	if err := h.verifyKey(b, l.o.AEAD); err != nil {
		f.Close()
		return fmt.Errorf("seglog: open %s: %w", l.o.Dir, err)
	}
	g := &segment{num: num, hdr: h, path: path, f: f, fileSize: st.Size()}
	if l.loadIndex(g) {
		l.segs = append(l.segs, g)
		l.diskBytes.Add(g.fileSize)
		return nil
	}
	sc := scanSegment(g, g.fileSize)
	g.length, g.spans = sc.end, sc.spans
	if !last && sc.bad != "" && len(sc.spans) == 0 {
		// Nothing of it can be served, and deleting it (as a segment
		// whose entries are all trimmed) would lose what a person might
		// still recover.
		f.Close()
		l.setAside(num, fmt.Errorf("no entry before a bad frame at offset %d: %s", sc.end, sc.bad))
		return nil
	}
	l.segs = append(l.segs, g)
	l.diskBytes.Add(g.fileSize)
	if last {
		return l.resumeActive(g, sc)
	}
	if sc.bad != "" {
		l.o.Logger.Error("seglog: sealed segment is corrupt; what follows the bad frame is not served",
			"segment", path, "offset", sc.end, "reason", sc.bad)
		g.corruptAt.Store(sc.end)
	}
	g.sealed.Store(true)
	l.indexSegment(g)
	return nil
}

// setAside renames a segment whose header is unreadable, or that is
// corrupt before its first entry, and its index, out of the log's way:
// nothing of it can be served.
func (l *Log) setAside(num uint64, why error) {
	for _, path := range []string{segPath(l.o.Dir, num), idxPath(l.o.Dir, num)} {
		err := os.Rename(path, path+".corrupt")
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		l.o.Logger.Error("seglog: segment is corrupt; file set aside, its entries are not served",
			"path", path, "reason", why.Error(), "renamed", err == nil)
	}
}

// loadIndex reads g's index file, and checks every record of it, so that
// a read never meets a bad record of an index Open took; false: there is
// none or it is bad (and removed, to be rebuilt from the segment).
func (l *Log) loadIndex(g *segment) bool {
	path := idxPath(l.o.Dir, g.num)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	var spans []*span
	var length, size int64
	if err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil {
			size = st.Size()
			spans, length, err = parseIndexHead(f, size, g.hdr, g.fileSize)
		}
		if err == nil {
			err = checkIndexRecs(f, spans, g.hdr, length)
		}
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		l.o.Logger.Warn("seglog: index unusable; rebuilding it from the segment", "index", path, "err", err)
		l.removeFile(path, "unusable index")
		return false
	}
	g.idx, g.idxSize, g.length, g.spans = f, size, length, spans
	for _, s := range spans {
		s.seg = g
	}
	g.sealed.Store(true)
	if length < g.fileSize {
		g.corruptAt.Store(length)
	}
	l.diskBytes.Add(size)
	return true
}

// resumeActive makes g, scanned, the active segment, cutting off what
// follows its last good frame: the tail of a write a crash tore.
func (l *Log) resumeActive(g *segment, sc scanned) error {
	f, err := os.OpenFile(g.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("seglog: open: %w", err)
	}
	wf := l.o.wrapFile(f)
	if sc.end < g.fileSize {
		l.o.Logger.Warn("seglog: cut the torn or corrupt tail of the active segment",
			"segment", g.path, "offset", sc.end, "bytes", g.fileSize-sc.end, "reason", sc.bad)
		err = wf.Truncate(sc.end)
		if err == nil {
			err = wf.Sync()
		}
		if err != nil {
			wf.Close()
			return fmt.Errorf("seglog: open: cut the tail of %s: %w", g.path, err)
		}
		l.diskBytes.Add(sc.end - g.fileSize)
		g.fileSize = sc.end
	}
	l.w.active, l.w.wf, l.w.ids = g, wf, sc.ids
	return nil
}

// indexSegment writes the index of sealed segment g, whose spans hold
// their records, and from then on reads them from it. When it cannot, the
// records stay in memory and the writer tries again later.
func (l *Log) indexSegment(g *segment) {
	spans := g.liveSpans()
	b, pos := encodeIndex(g.hdr, g.length, spans)
	path := idxPath(l.o.Dir, g.num)
	err := writeFileAtomic(path, b, l.o.wrapFile)
	var f *os.File
	if err == nil {
		f, err = os.Open(path)
	}
	if err != nil {
		l.o.Logger.Warn("seglog: cannot write the index of a sealed segment; will try again", "index", path, "err", err)
		l.w.unindexed = append(l.w.unindexed, g)
		return
	}
	l.mu.Lock()
	g.idx, g.idxSize, g.spans = f, int64(len(b)), spans
	for i, s := range spans {
		s.recPos, s.recs = pos[i], nil
	}
	l.mu.Unlock()
	l.diskBytes.Add(roundBlock(int64(len(b))))
}

// buildKeys makes the keys' states from the segments' spans and the state
// file.
func (l *Log) buildKeys() {
	for _, g := range l.segs {
		for _, s := range g.spans {
			m := l.w.state[s.key]
			first := max(m.first, 1)
			ks := l.keys[s.key]
			switch {
			case g.num <= m.dropSeg || s.last < first:
				s.dead = true
			case ks != nil && len(ks.spans) > 0 && s.first <= ks.spans[len(ks.spans)-1].last:
				l.o.Logger.Error("seglog: segment repeats sequences of a key; not served",
					"segment", g.path, "key", s.key, "first", s.first)
				s.dead = true
			default:
				if ks == nil {
					ks = &keyState{first: first}
					l.keys[s.key] = ks
				}
				ks.spans = append(ks.spans, s)
				g.live++
			}
		}
	}
	for key, m := range l.w.state {
		if m.first > 1 && l.keys[key] == nil {
			l.keys[key] = &keyState{first: m.first, last: m.first - 1, lastTotal: m.total}
		}
	}
	for _, ks := range l.keys {
		if len(ks.spans) > 0 {
			s := ks.spans[len(ks.spans)-1]
			ks.last, ks.lastTotal, ks.lastTime = s.last, s.lastTotal, s.lastTime
			ks.firstTime, ks.firstSkip = l.locate(ks.spans[0], ks.first)
		}
	}
	// A key's times never fall within a segment (a scan stops where they
	// do), trimmed entries too: a key trimmed whole keeps the time of its
	// trimmed entries in the active segment as the least time of its next.
	if g := l.w.active; g != nil {
		for _, s := range g.spans {
			if ks := l.keys[s.key]; s.dead && ks != nil && ks.empty() {
				ks.lastTime = max(ks.lastTime, s.lastTime)
			}
		}
	}
}

// locate returns the time of entry seq of s, and the bytes of s before it.
// When the index cannot say, it returns those of s's first entry.
func (l *Log) locate(s *span, seq uint64) (int64, int64) {
	if seq <= s.first || !s.seg.hold() {
		return s.firstTime, 0
	}
	defer s.seg.release()
	pos, err := s.find(seq)
	var r idxRec
	if err == nil && pos < s.count {
		r, err = s.rec(pos)
	}
	if err != nil || pos >= s.count {
		l.o.Logger.Warn("seglog: cannot locate an entry in the index", "segment", s.seg.path, "seq", seq, "err", err)
		return s.firstTime, 0
	}
	return r.time, int64(r.cum)
}

// detachDead takes the sealed segments that hold no kept entry out of
// l.segs and returns them. The caller holds l.mu.
func (l *Log) detachDead() []*segment {
	var dead []*segment
	kept := l.segs[:0]
	for _, g := range l.segs {
		if g.live == 0 && g != l.w.active {
			dead = append(dead, g)
		} else {
			kept = append(kept, g)
		}
	}
	clear(l.segs[len(kept):])
	l.segs = kept
	return dead
}

// deleteSegments deletes detached segments once no read holds them: the
// segment file first, then its index (see doc.go).
func (l *Log) deleteSegments(dead []*segment) {
	if len(dead) == 0 {
		return
	}
	l.usageMu.Lock() // DiskUsage must not read the directory meanwhile
	defer l.usageMu.Unlock()
	for _, g := range dead {
		g.close()
		l.removeFile(g.path, "every entry trimmed")
		l.removeFile(idxPath(l.o.Dir, g.num), "its segment is deleted")
		l.diskBytes.Add(-roundBlock(g.fileSize) - roundBlock(g.idxSize))
		for i, u := range l.w.unindexed {
			if u == g {
				l.w.unindexed = append(l.w.unindexed[:i], l.w.unindexed[i+1:]...)
				break
			}
		}
	}
	if err := SyncDir(l.o.Dir); err != nil {
		l.o.Logger.Warn("seglog: sync directory after deletes", "dir", l.o.Dir, "err", err)
	}
}
