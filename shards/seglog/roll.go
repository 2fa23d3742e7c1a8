package seglog

import (
	"fmt"
	"os"
	"time"
)

// rollIfDue seals the active segment when it is full or old, and begins
// the next. A roll that fails is logged and tried again at the next write.
func (l *Log) rollIfDue() {
	g := l.w.active
	written := l.w.written()
	if written == g.hdr.size {
		return // empty
	}
	age := time.Duration(l.o.Now().UnixNano() - g.hdr.created)
	if written < l.o.SegmentBytes && age < l.o.SegmentAge {
		return
	}
	if err := l.roll(); err != nil {
		l.o.Logger.Warn("seglog: cannot roll to a new segment; appending to the old one", "segment", g.path, "err", err)
	}
}

// roll begins a new active segment and seals the old one: fsync it, create
// the new one (so that a crash from here on finds the old one not last
// and without an index, which Open rebuilds), then write the old one's
// index. Only when the new segment cannot be made does it fail, and
// nothing changed.
func (l *Log) roll() error {
	w := &l.w
	l.settle() // the old segment's last write is published before it is sealed
	if w.failed != nil {
		return w.failed
	}
	old := w.active
	if w.dirty {
		if err := w.wf.Sync(); err != nil {
			return l.fail(fmt.Errorf("fsync segment %d: %w", old.num, err))
		}
		w.dirty = false
	}
	oldWF := w.wf
	if err := l.startSegment(old.num + 1); err != nil {
		return err
	}
	if err := oldWF.Close(); err != nil {
		l.o.Logger.Warn("seglog: close sealed segment", "segment", old.path, "err", err)
	}
	old.sealed.Store(true)
	l.o.Logger.Debug("seglog: sealed segment", "segment", old.path, "bytes", old.length)
	l.seal(old)
	return nil
}

// seal deletes sealed segment g when it holds no kept entry, and writes
// its index otherwise.
func (l *Log) seal(g *segment) {
	l.mu.Lock()
	dead := l.detachDead()
	l.mu.Unlock()
	l.deleteSegments(dead)
	for _, d := range dead {
		if d == g {
			return
		}
	}
	l.indexSegment(g)
}

// startSegment creates segment num and makes it the active one.
func (l *Log) startSegment(num uint64) error {
	g, wf, err := l.createSegment(num)
	if err != nil {
		return fmt.Errorf("seglog: create segment %d: %w", num, err)
	}
	l.mu.Lock()
	l.segs = append(l.segs, g)
	l.mu.Unlock()
	l.w.active, l.w.wf, l.w.ids = g, wf, make(map[string]uint32)
	return nil
}

// createSegment writes the header of segment num to a temporary file,
// fsyncs it and renames it into place, so that a segment file always has
// a whole header.
func (l *Log) createSegment(num uint64) (*segment, file, error) {
	hdr := appendSegHeader(nil, num, l.o.Now().UnixNano(), l.o.AEAD)
	h, err := parseSegHeader(hdr)
	if err != nil {
		return nil, nil, err
	}
	path := segPath(l.o.Dir, num)
	f, err := os.OpenFile(path+".tmp", os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, nil, err
	}
	wf := l.o.wrapFile(f)
	_, err = wf.WriteAt(hdr, 0)
	if err == nil {
		err = wf.Sync()
	}
	if err == nil {
		err = os.Rename(path+".tmp", path)
	}
	if err == nil {
		err = SyncDir(l.o.Dir)
	}
	var rf *os.File
	if err == nil {
		rf, err = os.Open(path)
	}
	if err != nil {
		wf.Close()
		os.Remove(path + ".tmp")
		os.Remove(path)
		return nil, nil, err
	}
	l.diskBytes.Add(roundBlock(int64(len(hdr))))
	g := &segment{num: num, hdr: h, path: path, f: rf, length: h.size, fileSize: h.size}
	return g, wf, nil
}

// maintain runs every SyncInterval: fsync what was written, seal an old
// active segment, retry the index writes that failed.
func (l *Log) maintain() {
	w := &l.w
	if w.failed != nil {
		return
	}
	if w.dirty {
		if err := w.wf.Sync(); err != nil {
			l.fail(fmt.Errorf("fsync segment %d: %w", w.active.num, err))
			return
		}
		w.dirty = false
	}
	l.rollIfDue()
	retry := w.unindexed
	w.unindexed = nil
	for _, g := range retry {
		l.indexSegment(g)
	}
}

// finish ends the writer at Close: fsync and close the active segment.
// A failed log fails Close too: what was acknowledged since the fsync that
// failed may not be durable.
func (l *Log) finish() {
	w := &l.w
	l.settle()
	var err error
	if w.failed != nil {
		err = fmt.Errorf("seglog: close: %w", w.failed)
	} else if w.dirty {
		if err = w.wf.Sync(); err != nil {
			err = fmt.Errorf("seglog: close: fsync segment %d: %w", w.active.num, err)
		}
	}
	if cerr := w.wf.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("seglog: close: %w", cerr)
	}
	l.closeErr = err
}
