package seglog

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestTimesAfterTrimmingAll trims every entry of a key in the active
// segment, reopens, and appends to it an entry given an earlier time than
// the trimmed ones: the segment must still open whole.
func TestTimesAfterTrimmingAll(t *testing.T) {
	c := newClock()
	o := testOptions(t.TempDir(), c, &testFS{})
	o.SegmentBytes = 1 << 20
	l := mustOpen(t, o)
	now := c.Now().UnixNano()
	for range 3 {
		mustAppend(t, l, "k", Entry{Time: now + 100, Records: 1, Payload: []byte("old")})
	}
	if err := l.Trim("k", 4); err != nil {
		t.Fatal(err)
	}
	mustClose(t, l)
	l = mustOpen(t, o)
	if seq := mustAppend(t, l, "k", Entry{Time: now, Records: 1, Payload: []byte("new")}); seq != 4 {
		t.Fatalf("Append = %d, want 4", seq)
	}
	appendN(t, l, "other", 1, 2, 10)
	mustClose(t, l)
	l = mustOpen(t, o)
	defer mustClose(t, l)
	got := readAll(t, l, "k", 0)
	if len(got) != 1 || got[0].Seq != 4 || string(got[0].Payload) != "new" || got[0].Time != now+100 {
		t.Fatalf("read back %+v, want entry 4 at the trimmed entries' time", got)
	}
	checkEntries(t, "other", readAll(t, l, "other", 0), 1, 2, 10)
}

// TestSizeIsTheFiles checks Size against the files on disk through rolls,
// trims, drops, failed index writes, failed segment writes and reopens.
func TestSizeIsTheFiles(t *testing.T) {
	fs := &testFS{}
	o := testOptions(t.TempDir(), newClock(), fs)
	o.SegmentBytes = 2048
	l := mustOpen(t, o)
	defer func() { mustClose(t, l) }()
	check := func(step string) {
		t.Helper()
		t.Run(step, func(t *testing.T) { checkDiskSize(t, l, o.Dir) })
	}
	check("empty")
	for i := range 40 {
		appendN(t, l, fmt.Sprint("k", i%4), uint64(i/4)+1, 1, 150)
	}
	check("rolled")
	if err := l.Trim("k0", 8); err != nil {
		t.Fatal(err)
	}
	if err := l.Trim("k1", 100); err != nil {
		t.Fatal(err)
	}
	check("trimmed")
	if err := l.Drop("k2"); err != nil {
		t.Fatal(err)
	}
	check("dropped")
	fs.setFailWrite(func(name string) error {
		if isSegment(name) {
			return errors.New("disk full")
		}
		return nil
	})
	if _, err := l.Append(context.Background(), "k3", Entry{Payload: make([]byte, 300)}); err == nil {
		t.Fatal("Append through a failing write succeeded")
	}
	fs.setFailWrite(func(string) error { return nil })
	check("a failed write")
	fs.setFailWrite(func(name string) error {
		if !isSegment(name) {
			return errors.New("disk full")
		}
		return nil
	})
	appendN(t, l, "k3", 11, 20, 150) // rolls, the indexes not written
	fs.setFailWrite(func(string) error { return nil })
	check("indexes not written")
	mustClose(t, l)
	l = mustOpen(t, o)
	check("reopened")
	for _, k := range []string{"k0", "k1", "k3"} {
		if err := l.Trim(k, l.Info(k).Last+1); err != nil {
			t.Fatal(err)
		}
	}
	appendN(t, l, "k9", 1, 20, 150)
	check("all trimmed")
	mustClose(t, l)
	l = mustOpen(t, o)
	check("reopened again")
}

// TestDropInActiveSegment drops a key whose entries are only in the active
// segment, beside another key's: the other key is untouched, the dropped
// one starts again at 1, in memory and after reopening.
func TestDropInActiveSegment(t *testing.T) {
	o := testOptions(t.TempDir(), newClock(), &testFS{})
	o.SegmentBytes = 1 << 20
	l := mustOpen(t, o)
	appendN(t, l, "gone", 1, 5, 20)
	appendN(t, l, "kept", 1, 5, 20)
	if err := l.Drop("gone"); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "gone", 1, 2, 30)
	appendN(t, l, "kept", 6, 1, 20)
	check := func(l *Log) {
		t.Helper()
		got := readAll(t, l, "gone", 0)
		if len(got) != 2 || string(got[0].Payload) != string(payload("gone", 1, 30)) || got[1].Total != 4 {
			t.Fatalf("gone: read back %d entries, want the 2 appended after the drop", len(got))
		}
		checkEntries(t, "kept", readAll(t, l, "kept", 0), 1, 6, 20)
		if info := l.Info("gone"); info.First != 1 || info.Last != 2 || info.Bytes != framesBytes("gone", 1, 2, 30, 0) {
			t.Fatalf("Info(gone) = %+v", info)
		}
	}
	check(l)
	checkDiskSize(t, l, o.Dir)
	mustClose(t, l)
	l = mustOpen(t, o)
	defer mustClose(t, l)
	check(l)
}

// TestInfoBytesAfterTrims checks Info.Bytes, FirstTime and SeekTime after
// trims inside a segment, of whole segments and past the end, before and
// after reopening (when it comes from the indexes and from a scan).
func TestInfoBytesAfterTrims(t *testing.T) {
	const size = 100
	frame := int64(frameHead + entryFixed + size)
	c := newClock()
	o := testOptions(t.TempDir(), c, &testFS{})
	l := mustOpen(t, o)
	start := c.Now().UnixNano()
	for range 30 {
		appendN(t, l, "k", l.Info("k").Last+1, 1, size)
		c.Advance(time.Second)
	}
	steps := []struct {
		before      uint64
		first, last uint64
		append      int
	}{
		{before: 3, first: 3, last: 30},
		{before: 17, first: 17, last: 30},
		{before: 29, first: 29, last: 30, append: 3},
		{before: 40, first: 40, last: 39, append: 2},
		{before: 41, first: 41, last: 41},
	}
	for _, st := range steps {
		if err := l.Trim("k", st.before); err != nil {
			t.Fatal(err)
		}
		for range st.append {
			appendN(t, l, "k", l.Info("k").Last+1, 1, size)
			c.Advance(time.Second)
		}
		last := st.last + uint64(st.append)
		for reopen := range 2 {
			info := l.Info("k")
			n := last + 1 - st.first
			if info.First != st.first || info.Last != last || info.Bytes != int64(n)*frame {
				t.Fatalf("trim to %d, reopened %d: Info = %+v, want %d..%d, %d bytes", st.before, reopen, info, st.first, last, int64(n)*frame)
			}
			got := readAll(t, l, "k", 0)
			if uint64(len(got)) != n {
				t.Fatalf("trim to %d: read %d entries, want %d", st.before, len(got), n)
			}
			if n > 0 {
				if info.FirstTime != got[0].Time {
					t.Fatalf("trim to %d: FirstTime %d, the first entry's %d", st.before, info.FirstTime, got[0].Time)
				}
				for _, tt := range []int64{start, got[0].Time, got[len(got)/2].Time} {
					want := got[0].Seq
					for _, e := range got {
						if e.Time >= tt {
							want = e.Seq
							break
						}
					}
					if seq, err := l.SeekTime("k", tt); err != nil || seq != want {
						t.Fatalf("trim to %d: SeekTime(%d) = %d, %v, want %d", st.before, tt-start, seq, err, want)
					}
				}
			}
			mustClose(t, l)
			l = mustOpen(t, o)
		}
	}
	mustClose(t, l)
}

// TestReadWhileTrimDeletes reads a key over and over from its first
// entry on while another goroutine trims it segment by segment: every Read
// returns entries as appended, or ErrTrimmed, never an error of a deleted
// file.
func TestReadWhileTrimDeletes(t *testing.T) {
	const n, size = 400, 200
	o := testOptions(t.TempDir(), newClock(), &testFS{})
	l := mustOpen(t, o)
	defer mustClose(t, l)
	appendN(t, l, "k", 1, n, size)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for before := uint64(2); before <= n; before += 3 {
			if err := l.Trim("k", before); err != nil {
				t.Errorf("Trim: %v", err)
				return
			}
		}
	}()
	reads, trimmed := 0, 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		for from := l.Info("k").First; from <= n; {
			got, err := l.Read("k", from, 2*size)
			reads++
			if errors.Is(err, ErrTrimmed) {
				trimmed++
				break
			}
			if err != nil {
				t.Fatalf("Read(%d): %v", from, err)
			}
			if len(got) == 0 {
				t.Fatalf("Read(%d) returned nothing", from)
			}
			checkEntries(t, "k", got, from, got[len(got)-1].Seq, size)
			from = got[len(got)-1].Seq + 1
		}
	}
	t.Logf("%d reads, %d met a trim", reads, trimmed)
}
