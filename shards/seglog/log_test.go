package seglog

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func testAEAD(t testing.TB, seed byte) cipher.AEAD {
	t.Helper()
	key := make([]byte, 32)
	for i := range key {
		key[i] = seed + byte(i)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestAppendReadAcrossSegments(t *testing.T) {
	tests := []struct {
		name         string
		segmentBytes int64
		keys, perKey int
		size         int
		syncAlways   bool
		sealed       bool
	}{
		{name: "one key, many segments", segmentBytes: 600, keys: 1, perKey: 60, size: 100},
		{name: "interleaved keys", segmentBytes: 1024, keys: 5, perKey: 40, size: 50, syncAlways: true},
		{name: "entries larger than a segment", segmentBytes: 512, keys: 2, perKey: 10, size: 2000},
		{name: "empty payloads", segmentBytes: 512, keys: 3, perKey: 30, size: 0},
		{name: "sealed", segmentBytes: 1024, keys: 3, perKey: 30, size: 80, sealed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := testOptions(dir, newClock(), &testFS{})
			o.SegmentBytes, o.SyncAlways = tt.segmentBytes, tt.syncAlways
			if tt.sealed {
				o.AEAD = testAEAD(t, 1)
			}
			l := mustOpen(t, o)
			keys := make([]string, tt.keys)
			for i := range keys {
				keys[i] = fmt.Sprintf("stream-%d/%d", i, i*7)
			}
			for n := range tt.perKey {
				for _, k := range keys {
					appendN(t, l, k, uint64(n)+1, 1, tt.size)
				}
			}
			check := func(l *Log) {
				t.Helper()
				if got := l.Keys(); !slices.Equal(got, slices.Sorted(slices.Values(keys))) {
					t.Fatalf("Keys() = %q, want %q", got, keys)
				}
				for _, k := range keys {
					checkEntries(t, k, readAll(t, l, k, 0), 1, uint64(tt.perKey), tt.size)
					info := l.Info(k)
					want := KeyInfo{First: 1, Last: uint64(tt.perKey), Entries: uint64(tt.perKey),
						Bytes: framesBytes(k, 1, uint64(tt.perKey), tt.size, sealOverhead(o)),
						Total: 2 * uint64(tt.perKey), FirstTime: info.FirstTime, LastTime: info.LastTime}
					if info != want || info.FirstTime == 0 {
						t.Fatalf("Info(%q) = %+v, want %+v", k, info, want)
					}
					for _, seq := range []uint64{1, uint64(tt.perKey) / 2, uint64(tt.perKey)} {
						e, err := l.Get(k, seq)
						if err != nil || e.Seq != seq || string(e.Payload) != string(payload(k, seq, tt.size)) {
							t.Fatalf("Get(%q, %d) = %d %.20q, %v", k, seq, e.Seq, e.Payload, err)
						}
					}
				}
			}
			check(l)
			if segs := segFiles(t, dir, ".seg"); len(segs) < 3 {
				t.Fatalf("%d segments, want several", len(segs))
			}
			size := mustDiskUsage(t, l)
			mustClose(t, l)
			l = mustOpen(t, o)
			defer mustClose(t, l)
			check(l)
			if l.Size() != size {
				t.Errorf("Size() after reopening = %d, want %d (DiskUsage before closing)", l.Size(), size)
			}
		})
	}
}

// framesBytes returns the bytes of the frames of entries first..last of
// key as appendN makes them.
func framesBytes(key string, first, last uint64, size, overhead int) int64 {
	n := int64(0)
	for seq := first; seq <= last; seq++ {
		n += int64(frameHead + entryFixed + len(payload(key, seq, size)) + overhead)
	}
	return n
}

func sealOverhead(o Options) int {
	if o.AEAD == nil {
		return 0
	}
	return o.AEAD.NonceSize() + o.AEAD.Overhead()
}

func TestReadLimits(t *testing.T) {
	l := mustOpen(t, testOptions(t.TempDir(), newClock(), &testFS{}))
	defer mustClose(t, l)
	appendN(t, l, "k", 1, 20, 100)
	tests := []struct {
		name       string
		from       uint64
		maxBytes   int
		first, end uint64 // entries first..end-1
		err        error
	}{
		{name: "maxBytes 0 reads one", from: 3, maxBytes: 0, first: 3, end: 4},
		{name: "one larger than maxBytes", from: 3, maxBytes: 10, first: 3, end: 4},
		{name: "as many as fit", from: 3, maxBytes: 250, first: 3, end: 5},
		{name: "exactly fitting", from: 3, maxBytes: 300, first: 3, end: 6},
		{name: "all", from: 1, maxBytes: 1 << 20, first: 1, end: 21},
		{name: "from 0 is the first", from: 0, maxBytes: 0, first: 1, end: 2},
		{name: "last", from: 20, maxBytes: 1 << 20, first: 20, end: 21},
		{name: "past the last", from: 21, maxBytes: 1 << 20, first: 21, end: 21},
		{name: "far past the last", from: 1000, maxBytes: 1 << 20, first: 1000, end: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Read("k", tt.from, tt.maxBytes)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Read: %v, want %v", err, tt.err)
			}
			checkEntries(t, "k", got, tt.first, tt.end-1, 100)
		})
	}
	if got, err := l.Read("unknown", 0, 100); err != nil || len(got) != 0 {
		t.Errorf("Read(unknown) = %d entries, %v", len(got), err)
	}
	if _, err := l.Get("k", 21); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get past the last: %v, want ErrNotFound", err)
	}
	if _, err := l.Get("k", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(0): %v, want ErrNotFound", err)
	}
}

func TestTrim(t *testing.T) {
	const size = 100
	frame := int64(frameHead + entryFixed + size)
	tests := []struct {
		name        string
		before      uint64
		first, last uint64 // Info after the trim
		next        uint64 // the sequence the next Append gets
	}{
		{name: "nothing", before: 1, first: 1, last: 30, next: 31},
		{name: "a prefix", before: 12, first: 12, last: 30, next: 31},
		{name: "all but the last", before: 30, first: 30, last: 30, next: 31},
		{name: "all", before: 31, first: 31, last: 30, next: 31},
		{name: "past the last sets the next", before: 100, first: 100, last: 99, next: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := testOptions(dir, newClock(), &testFS{})
			l := mustOpen(t, o)
			appendN(t, l, "k", 1, 30, size)
			appendN(t, l, "other", 1, 3, size)
			segsBefore, sizeBefore := len(segFiles(t, dir, ".seg")), l.Size()
			if err := l.Trim("k", tt.before); err != nil {
				t.Fatalf("Trim: %v", err)
			}
			check := func(l *Log) {
				t.Helper()
				info := l.Info("k")
				entries := tt.last + 1 - tt.first
				want := KeyInfo{First: tt.first, Last: tt.last, Entries: entries, Bytes: int64(entries) * frame,
					Total: 60, FirstTime: info.FirstTime, LastTime: info.LastTime}
				if info != want || (entries > 0) != (info.FirstTime != 0) {
					t.Fatalf("Info = %+v, want %+v", info, want)
				}
				checkEntries(t, "k", readAll(t, l, "k", 0), tt.first, tt.last, size)
				if tt.first > 1 {
					if _, err := l.Read("k", tt.first-1, 0); !errors.Is(err, ErrTrimmed) {
						t.Fatalf("Read below the first: %v, want ErrTrimmed", err)
					}
					if _, err := l.Get("k", tt.first-1); !errors.Is(err, ErrNotFound) {
						t.Fatalf("Get below the first: %v, want ErrNotFound", err)
					}
				}
				checkEntries(t, "other", readAll(t, l, "other", 0), 1, 3, size)
			}
			check(l)
			if tt.before > 12 && (len(segFiles(t, dir, ".seg")) >= segsBefore || l.Size() >= sizeBefore) {
				t.Errorf("after the trim: %d segments (was %d), %d bytes (was %d): no segment deleted",
					len(segFiles(t, dir, ".seg")), segsBefore, l.Size(), sizeBefore)
			}
			mustClose(t, l)
			l = mustOpen(t, o)
			defer mustClose(t, l)
			check(l)
			if got := mustAppend(t, l, "k", Entry{Records: 2, Payload: []byte("x")}); got != tt.next {
				t.Errorf("next Append = %d, want %d", got, tt.next)
			}
			if info := l.Info("k"); info.Total != 62 || info.First != min(tt.first, tt.next) {
				t.Errorf("Info after the next Append = %+v, want Total 62", info)
			}
		})
	}
}

func TestTrimSetsTheFirstSequenceOfANewKey(t *testing.T) {
	dir := t.TempDir()
	o := testOptions(dir, newClock(), &testFS{})
	l := mustOpen(t, o)
	if err := l.Trim("migrated", 42); err != nil {
		t.Fatal(err)
	}
	if info := l.Info("migrated"); info.First != 42 || info.Last != 41 || info.Entries != 0 {
		t.Fatalf("Info = %+v, want First 42, Last 41", info)
	}
	mustClose(t, l)
	l = mustOpen(t, o)
	defer mustClose(t, l)
	if got := l.Keys(); !slices.Equal(got, []string{"migrated"}) {
		t.Errorf("Keys() = %q", got)
	}
	appendN(t, l, "migrated", 42, 3, 10)
	got := readAll(t, l, "migrated", 0)
	if len(got) != 3 || got[0].Seq != 42 || got[2].Seq != 44 || got[2].Total != 6 {
		t.Errorf("read back %+v, want 42..44 with Total 6 at 44", got)
	}
}

func TestDrop(t *testing.T) {
	for _, inActiveOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("in the active segment only %v", inActiveOnly), func(t *testing.T) {
			dir := t.TempDir()
			o := testOptions(dir, newClock(), &testFS{})
			l := mustOpen(t, o)
			if inActiveOnly {
				o.SegmentBytes = 1 << 20
				mustClose(t, l)
				l = mustOpen(t, o)
			}
			appendN(t, l, "gone", 1, 20, 100)
			appendN(t, l, "kept", 1, 20, 100)
			if err := l.Trim("gone", 5); err != nil {
				t.Fatal(err)
			}
			if err := l.Drop("gone"); err != nil {
				t.Fatal(err)
			}
			if err := l.Drop("never seen"); err != nil {
				t.Fatal(err)
			}
			check := func(l *Log, recreated uint64) {
				t.Helper()
				if got, want := l.Keys(), []string{"gone", "kept"}; recreated == 0 {
					if want = want[1:]; !slices.Equal(got, want) {
						t.Fatalf("Keys() = %q, want %q", got, want)
					}
				}
				if info := l.Info("gone"); info.Last != recreated || info.Total != 2*recreated {
					t.Fatalf("Info(gone) = %+v, want Last %d", info, recreated)
				}
				checkEntries(t, "gone", readAll(t, l, "gone", 0), 1, recreated, 7)
				checkEntries(t, "kept", readAll(t, l, "kept", 0), 1, 20, 100)
			}
			check(l, 0)
			appendN(t, l, "gone", 1, 2, 7)
			check(l, 2)
			for range 3 {
				mustClose(t, l)
				l = mustOpen(t, o)
				check(l, 2)
			}
			if err := l.Drop("gone"); err != nil {
				t.Fatal(err)
			}
			mustClose(t, l)
			l = mustOpen(t, o)
			defer mustClose(t, l)
			check(l, 0)
		})
	}
}

func TestSeekTime(t *testing.T) {
	c := newClock()
	l := mustOpen(t, testOptions(t.TempDir(), c, &testFS{}))
	defer mustClose(t, l)
	start := c.Now().UnixNano()
	for range 30 {
		mustAppend(t, l, "k", Entry{Payload: make([]byte, 100)})
		c.Advance(time.Second)
	}
	sec := int64(time.Second)
	tests := []struct {
		name  string
		trim  uint64
		t     int64
		want  uint64
		empty bool
	}{
		{name: "before all", t: start - sec, want: 1},
		{name: "the first", t: start, want: 1},
		{name: "between", t: start + 5*sec + 1, want: 7},
		{name: "exactly one", t: start + 17*sec, want: 18},
		{name: "the last", t: start + 29*sec, want: 30},
		{name: "after all", t: start + 30*sec, want: 31},
		{name: "before the first kept", trim: 10, t: start, want: 10},
		{name: "after a trim", trim: 10, t: start + 20*sec, want: 21},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.trim > 0 {
				if err := l.Trim("k", tt.trim); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := l.SeekTime("k", tt.t); err != nil || got != tt.want {
				t.Errorf("SeekTime = %d, %v, want %d", got, err, tt.want)
			}
		})
	}
	if got, err := l.SeekTime("unknown", start); got != 1 || err != nil {
		t.Errorf("SeekTime(unknown) = %d, %v, want 1", got, err)
	}
}

func TestEntryTimes(t *testing.T) {
	c := newClock()
	l := mustOpen(t, testOptions(t.TempDir(), c, &testFS{}))
	defer mustClose(t, l)
	now := c.Now().UnixNano()
	for _, e := range []struct{ given, want int64 }{
		{given: 0, want: now},             // the clock
		{given: now + 50, want: now + 50}, // as given
		{given: now + 10, want: now + 50}, // never before the last
		{given: now + 90, want: now + 90},
	} {
		seq := mustAppend(t, l, "k", Entry{Time: e.given})
		if got, err := l.Get("k", seq); err != nil || got.Time != e.want {
			t.Errorf("entry %d given time %d: stored %d, %v, want %d", seq, e.given, got.Time, err, e.want)
		}
	}
}

func TestNotify(t *testing.T) {
	l := mustOpen(t, testOptions(t.TempDir(), newClock(), &testFS{}))
	ch := l.Notify("k")
	if ch2 := l.Notify("k"); ch2 != ch {
		t.Error("two Notify calls before an append returned different channels")
	}
	mustAppend(t, l, "other", Entry{})
	select {
	case <-ch:
		t.Fatal("Notify(k) fired on an append of another key")
	default:
	}
	mustAppend(t, l, "k", Entry{})
	select {
	case <-ch:
	default:
		t.Fatal("Notify(k) did not fire on an append of k")
	}
	next := l.Notify("k")
	select {
	case <-next:
		t.Fatal("a Notify taken after it fired is closed already")
	default:
	}
	mustClose(t, l)
	<-next // Close wakes the waiters
	<-l.Notify("k")
}

func TestInvalidAndClosed(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, testOptions(dir, newClock(), &testFS{}))
	ctx := context.Background()
	for _, tt := range []struct {
		key string
		e   Entry
	}{
		{key: ""},
		{key: string(make([]byte, MaxKeyLen+1))},
		{key: "k", e: Entry{Payload: make([]byte, MaxPayload+1)}},
	} {
		if _, err := l.Append(ctx, tt.key, tt.e); !errors.Is(err, ErrInvalid) {
			t.Errorf("Append(key of %d bytes, payload of %d): %v, want ErrInvalid", len(tt.key), len(tt.e.Payload), err)
		}
	}
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrLocked) {
		t.Errorf("a second Open: %v, want ErrLocked", err)
	}
	mustClose(t, l)
	mustClose(t, l)
	if _, err := l.Append(ctx, "k", Entry{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if _, err := l.Read("k", 1, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if err := l.Trim("k", 2); !errors.Is(err, ErrClosed) {
		t.Errorf("Trim after Close: %v", err)
	}
	if _, err := l.SeekTime("k", 0); !errors.Is(err, ErrClosed) {
		t.Errorf("SeekTime after Close: %v", err)
	}
	for _, o := range []Options{{}, {Dir: dir, SegmentBytes: 10}, {Dir: dir, SegmentAge: -1}} {
		if _, err := Open(o); err == nil {
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}

func TestSegmentAge(t *testing.T) {
	c := newClock()
	dir := t.TempDir()
	o := testOptions(dir, c, &testFS{})
	o.SegmentBytes, o.SegmentAge = 1<<20, time.Minute
	l := mustOpen(t, o)
	defer mustClose(t, l)
	appendN(t, l, "k", 1, 3, 10)
	c.Advance(59 * time.Second)
	appendN(t, l, "k", 4, 1, 10)
	if n := len(segFiles(t, dir, ".seg")); n != 1 {
		t.Fatalf("%d segments before the age, want 1", n)
	}
	c.Advance(time.Second)
	appendN(t, l, "k", 5, 1, 10)
	if n, idx := len(segFiles(t, dir, ".seg")), len(segFiles(t, dir, ".idx")); n != 2 || idx != 1 {
		t.Fatalf("%d segments, %d indexes after the age, want 2 and 1", n, idx)
	}
	checkEntries(t, "k", readAll(t, l, "k", 0), 1, 5, 10)
}
