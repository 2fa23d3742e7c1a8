package seglog

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentAppends appends from many goroutines to many keys while
// others read, wait on Notify and trim: every key's sequences are dense,
// each goroutine's appends to a key keep their order, and every entry
// reads back as appended.
func TestConcurrentAppends(t *testing.T) {
	const writers, perWriter, keys = 16, 60, 6
	dir := t.TempDir()
	fs := &testFS{}
	o := testOptions(dir, newClock(), fs)
	o.SegmentBytes, o.SyncAlways = 4096, true
	l := mustOpen(t, o)
	defer mustClose(t, l)

	type tag struct{ writer, i int }
	var mu sync.Mutex
	seqs := make(map[string]map[uint64]tag)
	for k := range keys {
		seqs[fmt.Sprint("k", k)] = make(map[uint64]tag)
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	for k := range keys {
		readers.Go(func() { follow(t, l, fmt.Sprint("k", k), done) })
	}
	readers.Go(func() { trimWhileWriting(t, l, "k0", done) })

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			last := make(map[string]uint64)
			for i := range perWriter {
				key := fmt.Sprint("k", (w+i)%keys)
				seq, err := l.Append(context.Background(), key, Entry{Records: 1, Payload: fmt.Appendf(nil, "%d/%d", w, i)})
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				if seq <= last[key] {
					t.Errorf("writer %d: %q got %d after %d", w, key, seq, last[key])
				}
				last[key] = seq
				mu.Lock()
				if prev, dup := seqs[key][seq]; dup {
					t.Errorf("%q sequence %d given twice: %v and %d/%d", key, seq, prev, w, i)
				}
				seqs[key][seq] = tag{w, i}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()
	for key, m := range seqs {
		info := l.Info(key)
		if info.Last != uint64(len(m)) || info.Total != uint64(len(m)) {
			t.Errorf("Info(%q) = %+v, want Last and Total %d", key, info, len(m))
		}
		got := readAll(t, l, key, 0)
		for _, e := range got {
			want := m[e.Seq]
			if string(e.Payload) != fmt.Sprintf("%d/%d", want.writer, want.i) || e.Total != e.Seq {
				t.Fatalf("%q entry %d: %q total %d, want %d/%d", key, e.Seq, e.Payload, e.Total, want.writer, want.i)
			}
		}
		if len(got) > 0 && got[len(got)-1].Seq != uint64(len(m)) {
			t.Errorf("%q: last read %d, want %d", key, got[len(got)-1].Seq, len(m))
		}
	}
	t.Logf("%d appends in %d writes and %d fsyncs", writers*perWriter, fs.writes.Load(), fs.syncs.Load())
}

// follow reads key as it grows, waking on Notify, until done, checking
// that entries come dense and in order.
func follow(t *testing.T, l *Log, key string, done <-chan struct{}) {
	next := uint64(0)
	for {
		ch := l.Notify(key)
		got, err := l.Read(key, next, 1024)
		if err != nil && !isTrimmed(err) {
			t.Errorf("Read(%q, %d): %v", key, next, err)
			return
		}
		if isTrimmed(err) {
			next = l.Info(key).First
			continue
		}
		for _, e := range got {
			if next != 0 && e.Seq != next {
				t.Errorf("Read(%q): entry %d, want %d", key, e.Seq, next)
				return
			}
			next = e.Seq + 1
		}
		if len(got) > 0 {
			continue
		}
		select {
		case <-ch:
		case <-done:
			return
		}
	}
}

// trimWhileWriting trims key to half its entries whenever it grows.
func trimWhileWriting(t *testing.T, l *Log, key string, done <-chan struct{}) {
	for {
		ch := l.Notify(key)
		if info := l.Info(key); info.Last > 10 {
			if err := l.Trim(key, info.Last/2); err != nil {
				t.Errorf("Trim: %v", err)
				return
			}
		}
		select {
		case <-ch:
		case <-done:
			return
		}
	}
}

func isTrimmed(err error) bool { return errors.Is(err, ErrTrimmed) }

// TestGroupCommit holds the first fsync until every other append is
// handed in: 40 appends share at most three writes and three fsyncs.
func TestGroupCommit(t *testing.T) {
	const n = 40
	fs := &testFS{}
	o := testOptions(t.TempDir(), newClock(), fs)
	o.SegmentBytes, o.SyncAlways = 1<<20, true
	l := mustOpen(t, o)
	defer mustClose(t, l)
	writes0, syncs0 := fs.writes.Load(), fs.syncs.Load()
	var held atomic.Bool
	var called atomic.Int64
	hook := func() { // the first write's fsync: held until every append is handed in
		if held.Swap(true) {
			return
		}
		deadline := time.Now().Add(10 * time.Second)
		for (called.Load() < n || len(l.appends) > 0) && time.Now().Before(deadline) {
			runtime.Gosched()
		}
	}
	fs.onSync.Store(&hook)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			called.Add(1)
			if _, err := l.Append(context.Background(), fmt.Sprint("k", i%7), Entry{Payload: make([]byte, 1024)}); err != nil {
				t.Errorf("Append: %v", err)
			}
		})
	}
	wg.Wait()
	// The first write; those written while its fsync runs (the writer goes
	// on writing during an fsync); the rest after it.
	if w, s := fs.writes.Load()-writes0, fs.syncs.Load()-syncs0; w > 3 || s > 3 || w != s {
		t.Errorf("%d appends took %d writes and %d fsyncs, want at most 3 of each", n, w, s)
	}
}
