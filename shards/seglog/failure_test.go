package seglog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// onFirstSync runs then at the first fsync of a segment from now on (on
// the goroutine that fsyncs, while the writer may go on writing). The
// channel it returns is closed once then has run.
func onFirstSync(fs *testFS, then func()) <-chan struct{} {
	var held atomic.Bool
	ran := make(chan struct{})
	hook := func() {
		if held.Swap(true) {
			return
		}
		then()
		close(ran)
	}
	fs.onSync.Store(&hook)
	return ran
}

// TestWriteFails fails the writes holding several appends with ENOSPC:
// each of them fails with it, nothing of them is served or found after
// reopening, and appends go on once the disk has room again.
func TestWriteFails(t *testing.T) {
	const n = 12
	fs := &testFS{}
	o := testOptions(t.TempDir(), newClock(), fs)
	o.SegmentBytes, o.SyncAlways = 1<<20, true
	l := mustOpen(t, o)
	appendN(t, l, "k0", 1, 3, 50)
	seg := lastSegment(t, o.Dir)
	enospc := func(name string) error {
		if isSegment(name) {
			return syscall.ENOSPC
		}
		return nil
	}
	var sizeBefore int64
	holding := onFirstSync(fs, func() {
		// The first write is on disk: the next ones, holding the n
		// appends, fail.
		st, err := os.Stat(seg)
		if err != nil {
			t.Error(err)
		}
		sizeBefore = st.Size()
		fs.setFailWrite(enospc)
	})
	first := make(chan struct{})
	go func() {
		defer close(first)
		mustAppend(t, l, "k0", Entry{Records: 2, Payload: payload("k0", 4, 50)})
	}()
	<-holding
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range n {
		wg.Go(func() {
			_, err := l.Append(context.Background(), fmt.Sprint("k", i%3), Entry{Records: 2, Payload: []byte("lost")})
			if !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrFailed) {
				t.Errorf("Append in the failed write: %v, want ENOSPC", err)
			}
			failed.Add(1)
		})
	}
	wg.Wait()
	<-first
	if st, err := os.Stat(seg); err != nil || st.Size() != sizeBefore {
		t.Fatalf("segment of %d bytes after the failed write, want %d", st.Size(), sizeBefore)
	}
	checkDiskSize(t, l, o.Dir)
	check := func(l *Log, k0, k1, k2 uint64) {
		t.Helper()
		checkEntries(t, "k0", readAll(t, l, "k0", 0), 1, k0, 50)
		checkEntries(t, "k1", readAll(t, l, "k1", 0), 1, k1, 50)
		checkEntries(t, "k2", readAll(t, l, "k2", 0), 1, k2, 50)
	}
	check(l, 4, 0, 0)
	fs.setFailWrite(func(string) error { return nil })
	appendN(t, l, "k1", 1, 2, 50)
	appendN(t, l, "k0", 5, 1, 50)
	check(l, 5, 2, 0)
	mustClose(t, l)
	l = mustOpen(t, o)
	defer mustClose(t, l)
	check(l, 5, 2, 0)
	appendN(t, l, "k2", 1, 1, 50)
	checkDiskSize(t, l, o.Dir)
}

// TestSyncFails fails an fsync of the active segment: the log refuses
// appends with ErrFailed until it is opened again, serves what it
// acknowledged meanwhile, and opened again holds what it acknowledged and
// goes on after it.
func TestSyncFails(t *testing.T) {
	tests := []struct {
		name       string
		syncAlways bool
	}{
		{name: "the fsync of a write", syncAlways: true},
		{name: "the fsync of a roll", syncAlways: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := &testFS{}
			o := testOptions(t.TempDir(), newClock(), fs)
			o.SyncAlways = tt.syncAlways
			l := mustOpen(t, o)
			appendN(t, l, "k", 1, 5, 100) // not yet past SegmentBytes
			eio := func(name string) error {
				if isSegment(name) {
					return syscall.EIO
				}
				return nil
			}
			fs.setFailSync(eio)
			acked := uint64(5)
			for range 10 {
				_, err := l.Append(context.Background(), "k", Entry{Records: 2, Payload: payload("k", acked+1, 100)})
				if err != nil {
					if !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.EIO) {
						t.Fatalf("Append: %v, want ErrFailed for EIO", err)
					}
					break
				}
				acked++
			}
			if tt.syncAlways && acked != 5 {
				t.Fatalf("%d appends acknowledged, want 5", acked)
			}
			fs.setFailSync(func(string) error { return nil })
			if _, err := l.Append(context.Background(), "other", Entry{}); !errors.Is(err, ErrFailed) {
				t.Fatalf("Append after the failure: %v, want ErrFailed", err)
			}
			checkEntries(t, "k", readAll(t, l, "k", 0), 1, acked, 100)
			if err := l.Trim("k", 2); err != nil {
				t.Fatalf("Trim after the failure: %v", err)
			}
			if err := l.Close(); !errors.Is(err, ErrFailed) {
				t.Fatalf("Close of a failed log: %v, want ErrFailed", err)
			}
			l = mustOpen(t, o)
			defer mustClose(t, l)
			checkEntries(t, "k", readAll(t, l, "k", 0), 2, acked, 100)
			if got := l.Info("other"); got.Last != 0 {
				t.Fatalf("Info(other) = %+v: a refused append is stored", got)
			}
			appendN(t, l, "k", acked+1, 3, 100)
			checkDiskSize(t, l, o.Dir)
		})
	}
}

// TestRollFails fails the creation of the next segment: appends go on in
// the full one, and the roll is done at the first write after the failure
// clears.
func TestRollFails(t *testing.T) {
	fs := &testFS{}
	o := testOptions(t.TempDir(), newClock(), fs)
	l := mustOpen(t, o)
	defer func() { mustClose(t, l) }()
	next := filepath.Base(segPath(o.Dir, 2))
	fs.setFailWrite(func(name string) error {
		if strings.HasPrefix(filepath.Base(name), next) {
			return syscall.ENOSPC
		}
		return nil
	})
	appendN(t, l, "k", 1, 30, 100) // three times SegmentBytes
	if segs := segFiles(t, o.Dir, ".seg*"); len(segs) != 1 {
		t.Fatalf("files %q, want segment 1 alone", segs)
	}
	checkDiskSize(t, l, o.Dir)
	fs.setFailWrite(func(string) error { return nil })
	appendN(t, l, "k", 31, 1, 100)
	if segs, idx := segFiles(t, o.Dir, ".seg"), segFiles(t, o.Dir, ".idx"); len(segs) != 2 || len(idx) != 1 {
		t.Fatalf("segments %q, indexes %q after the failure cleared, want 2 and 1", segs, idx)
	}
	checkEntries(t, "k", readAll(t, l, "k", 0), 1, 31, 100)
	checkDiskSize(t, l, o.Dir)
	mustClose(t, l)
	l = mustOpen(t, o)
	checkEntries(t, "k", readAll(t, l, "k", 0), 1, 31, 100)
}
