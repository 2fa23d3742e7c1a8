package seglog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
)

// Log is one append-only log shared by every key, kept in segment files
// under one directory. Safe for concurrent use.
type Log struct {
	o      Options
	unlock func() error

	// mu guards what follows. Only the writer goroutine changes it (and
	// Open, Close), under the write lock; it reads it without locking.
	mu     sync.RWMutex
	keys   map[string]*keyState
	segs   []*segment // by number; the last is the active one
	closed bool

	waitMu     sync.Mutex
	waiters    map[string]chan struct{}
	waitClosed bool

	// diskBytes is what the files occupy on disk (see Size); usageMu
	// keeps DiskUsage's read of the directory and deletions apart, so that
	// a deleted file is never subtracted twice.
	diskBytes atomic.Int64
	usageMu   sync.Mutex

	w writer // the writer goroutine's own

	// enqMu is held shared by whoever hands the writer a request, and
	// exclusively by Close to stop that, so that every request handed over
	// is answered.
	enqMu     sync.RWMutex
	closing   bool
	appends   chan *appendReq
	ctl       chan *ctlReq
	stop      chan struct{}
	stopped   chan struct{}
	reqs      sync.Pool
	closeOnce sync.Once
	closeErr  error
}

// keyState is what the log knows of one key. Its entries are the sequences
// first..last, without gaps; first is last+1 when it has none.
type keyState struct {
	first, last uint64
	lastTotal   uint64
	lastTime    int64
	firstTime   int64   // time of entry first
	firstSkip   int64   // bytes of spans[0] before entry first
	spans       []*span // holding first..last, in order
}

func (k *keyState) empty() bool { return k.last < k.first }

// Open opens the log in o.Dir, creating it when missing, and recovers what
// a crash left: a torn tail of the active segment is cut off, missing or
// bad index files are rebuilt, leftovers of interrupted writes and
// deletions are removed (see doc.go). It fails with ErrWrongKey when a
// segment is sealed with another key, and ErrLocked when another open Log
// holds the directory.
func Open(o Options) (*Log, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("seglog: open: %w", err)
	}
	unlock, err := lockDir(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("seglog: open %s: %w", o.Dir, err)
	}
	l := &Log{
		o:       o,
		unlock:  unlock,
		keys:    make(map[string]*keyState),
		waiters: make(map[string]chan struct{}),
		appends: make(chan *appendReq, 1024),
		ctl:     make(chan *ctlReq),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	l.reqs.New = func() any { return &appendReq{done: make(chan struct{}, 1)} }
	if err := l.load(); err != nil {
		for _, g := range l.segs {
			g.close()
		}
		if l.w.wf != nil {
			l.w.wf.Close()
		}
		unlock()
		return nil, err
	}
	if _, err := l.DiskUsage(); err != nil { // else Size counts the files' sizes
		l.o.Logger.Warn("seglog: open", "err", err)
	}
	l.o.Logger.Info("seglog: opened", "dir", o.Dir, "segments", len(l.segs), "keys", len(l.keys), "bytes", l.Size())
	go l.run()
	return l, nil
}

// load reads the directory into l.
func (l *Log) load() error {
	names, err := l.listDir()
	if err != nil {
		return err
	}
	if l.w.state, err = readState(filepath.Join(l.o.Dir, stateName)); err != nil {
		return err
	}
	for i, num := range names.segs {
		if err := l.loadSegment(num, i == len(names.segs)-1); err != nil {
			return err
		}
	}
	for num := range names.idxs {
		if !names.hasSeg(num) {
			l.removeFile(idxPath(l.o.Dir, num), "index of no segment")
		}
	}
	if len(l.segs) == 0 || l.segs[len(l.segs)-1] != l.w.active {
		next := names.max + 1
		for _, m := range l.w.state {
			next = max(next, m.dropSeg+1)
		}
		if err := l.startSegment(next); err != nil {
			return err
		}
	}
	l.buildKeys()
	l.mu.Lock()
	dead := l.detachDead()
	l.mu.Unlock()
	l.deleteSegments(dead)
	return nil
}

// dirNames is what Open finds in the directory.
type dirNames struct {
	segs []uint64 // ascending
	idxs map[uint64]bool
	max  uint64 // the largest segment number in any name
}

func (d dirNames) hasSeg(num uint64) bool {
	for _, s := range d.segs {
		if s == num {
			return true
		}
	}
	return false
}

// listDir lists the directory and removes the temporary files that writes
// interrupted by a crash left.
func (l *Log) listDir() (dirNames, error) {
	entries, err := os.ReadDir(l.o.Dir) // sorted by name: segments in order
	if err != nil {
		return dirNames{}, fmt.Errorf("seglog: open: %w", err)
	}
	d := dirNames{idxs: make(map[uint64]bool)}
	for _, e := range entries {
		name := e.Name()
		if filepath.Ext(name) == ".tmp" {
			l.removeFile(filepath.Join(l.o.Dir, name), "left by an interrupted write")
			continue
		}
		if len(name) < 22 || name[20] != '.' {
			continue
		}
		num, err := strconv.ParseUint(name[:20], 10, 64)
		if err != nil {
			continue
		}
		ext := name[21:]
		d.max = max(d.max, num)
		switch ext {
		case "seg":
			d.segs = append(d.segs, num)
		case "idx":
			d.idxs[num] = true
		}
	}
	return d, nil
}

func (l *Log) removeFile(path, why string) {
	err := os.Remove(path)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		l.o.Logger.Warn("seglog: cannot remove file", "path", path, "why", why, "err", err)
		return
	}
	l.o.Logger.Info("seglog: removed file", "path", path, "why", why)
}
