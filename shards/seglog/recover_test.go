package seglog

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// frameEnds returns where each whole frame of the segment file b ends, and
// where its header does; it stops at the first frame that is not whole.
func frameEnds(t testing.TB, b []byte) (hdr int64, ends []int64) {
	t.Helper()
	h, err := parseSegHeader(b)
	if err != nil {
		t.Fatalf("segment header: %v", err)
	}
	off := h.size
	for off+frameHead <= int64(len(b)) {
		n, err := frameLen(b[off:])
		if err != nil || off+int64(n) > int64(len(b)) {
			break
		}
		if _, _, err := checkFrame(b[off : off+int64(n)]); err != nil {
			break
		}
		off += int64(n)
		ends = append(ends, off)
	}
	return h.size, ends
}

// lastSegment returns the path of the segment numbered highest in dir.
func lastSegment(t testing.TB, dir string) string {
	t.Helper()
	segs := segFiles(t, dir, ".seg")
	if len(segs) == 0 {
		t.Fatal("no segment")
	}
	return segs[len(segs)-1]
}

// checkDiskSize checks that l.Size() is the sum of the sizes of the
// segment and index files in dir.
func checkDiskSize(t testing.TB, l *Log, dir string) {
	t.Helper()
	want, files := onDisk(t, dir)
	// The running count rounds each new file up to a block, where the
	// filesystem may round its tail differently; the directory's own
	// growth it leaves to DiskUsage.
	if got, slack := l.Size(), int64(files+1)*blockSize; got < want-slack || got > want+slack {
		t.Fatalf("Size() = %d, the directory occupies %d bytes on disk (%d files)", got, want, files)
	}
	if got := mustDiskUsage(t, l); got != want || l.Size() != want {
		t.Fatalf("DiskUsage() = %d and then Size() = %d, the directory occupies %d bytes on disk", got, l.Size(), want)
	}
}

// TestTornTail cuts the active segment at every byte inside its last two
// entries (each written by its own Append, each after a key frame of its
// own) and opens it: every entry wholly before the cut is served, nothing
// after it, the file is cut back to the last whole frame, and appends go on
// from the next sequence.
func TestTornTail(t *testing.T) {
	const size = 40
	src := t.TempDir()
	o := testOptions(src, newClock(), &testFS{})
	o.SegmentBytes = 1 << 20
	l := mustOpen(t, o)
	appendN(t, l, "a", 1, 3, size)
	appendN(t, l, "b", 1, 1, size) // a key frame, then an entry
	appendN(t, l, "a", 4, 1, size)
	mustClose(t, l)
	orig, err := os.ReadFile(lastSegment(t, src))
	if err != nil {
		t.Fatal(err)
	}
	hdr, ends := frameEnds(t, orig)
	// frames: key a, a1, a2, a3, key b, b1, a4
	if len(ends) != 7 || ends[6] != int64(len(orig)) {
		t.Fatalf("frames end at %v in %d bytes, want 7 frames", ends, len(orig))
	}
	// served returns how many entries of a and b a file cut at cut holds,
	// and where its last whole frame ends.
	served := func(cut int64) (a, b uint64, end int64) {
		end = hdr
		for i, e := range ends {
			if e > cut {
				break
			}
			end = e
			switch i {
			case 1, 2, 3:
				a++
			case 5:
				b = 1
			case 6:
				a = 4
			}
		}
		return a, b, end
	}
	base := t.TempDir()
	for cut := ends[3]; cut < int64(len(orig)); cut++ {
		dir, err := os.MkdirTemp(base, "cut")
		if err != nil {
			t.Fatal(err)
		}
		seg := filepath.Join(dir, filepath.Base(lastSegment(t, src)))
		if err := os.WriteFile(seg, orig[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		o := o
		o.Dir = dir
		l := mustOpen(t, o)
		wantA, wantB, end := served(cut)
		checkEntries(t, "a", readAll(t, l, "a", 0), 1, wantA, size)
		checkEntries(t, "b", readAll(t, l, "b", 0), 1, wantB, size)
		if st, err := os.Stat(seg); err != nil || st.Size() != end {
			t.Fatalf("cut at %d: the segment is %d bytes (%v), want %d", cut, st.Size(), err, end)
		}
		checkDiskSize(t, l, dir)
		appendN(t, l, "a", wantA+1, 1, size)
		appendN(t, l, "b", wantB+1, 1, size)
		mustClose(t, l)
		l = mustOpen(t, o)
		checkEntries(t, "a", readAll(t, l, "a", 0), 1, wantA+1, size)
		checkEntries(t, "b", readAll(t, l, "b", 0), 1, wantB+1, size)
		mustClose(t, l)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGarbageTail appends bytes no write made to the active segment: Open
// cuts them off and serves every entry.
func TestGarbageTail(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 3000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	frame := appendEntryFrame(nil, entryHeader{keyID: 0, seq: 6, time: 1, records: 2, total: 12}, []byte("x"), nil, nil)
	badCRC := bytes.Clone(frame)
	badCRC[len(badCRC)-1] ^= 1
	huge := bytes.Clone(frame)
	huge[4] = 0x7f // a length far past the end
	undefined := appendEntryFrame(nil, entryHeader{keyID: 9, seq: 6, time: 1, records: 2, total: 12}, []byte("x"), nil, nil)
	tests := []struct {
		name string
		tail []byte
	}{
		{name: "zeros", tail: make([]byte, 4096)},
		{name: "one zero", tail: []byte{0}},
		{name: "random", tail: random},
		{name: "ones", tail: bytes.Repeat([]byte{0xff}, 100)},
		{name: "a frame with a bad checksum", tail: badCRC},
		{name: "a frame longer than the file", tail: huge},
		{name: "an entry of an undefined key", tail: undefined},
		{name: "a torn frame", tail: frame[:len(frame)-1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := testOptions(dir, newClock(), &testFS{})
			o.SegmentBytes = 1 << 20
			l := mustOpen(t, o)
			appendN(t, l, "k", 1, 5, 30)
			mustClose(t, l)
			seg := lastSegment(t, dir)
			st, err := os.Stat(seg)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(tt.tail); err != nil {
				t.Fatal(err)
			}
			f.Close()
			l = mustOpen(t, o)
			defer mustClose(t, l)
			checkEntries(t, "k", readAll(t, l, "k", 0), 1, 5, 30)
			if st2, err := os.Stat(seg); err != nil || st2.Size() != st.Size() {
				t.Fatalf("segment of %d bytes after Open, want %d (%v)", st2.Size(), st.Size(), err)
			}
			checkDiskSize(t, l, dir)
			appendN(t, l, "k", 6, 1, 30)
		})
	}
}

// sealedLog makes a log in a new directory with keys a and b in several
// sealed segments and the active one, closes it and returns its options.
func sealedLog(t *testing.T, n int) Options {
	t.Helper()
	o := testOptions(t.TempDir(), newClock(), &testFS{})
	l := mustOpen(t, o)
	for i := range n {
		appendN(t, l, "a", uint64(i)+1, 1, 100)
		appendN(t, l, "b", uint64(i)+1, 1, 50)
	}
	mustClose(t, l)
	if len(segFiles(t, o.Dir, ".idx")) < 3 {
		t.Fatalf("%d indexes, want several", len(segFiles(t, o.Dir, ".idx")))
	}
	return o
}

// checkAll checks that l serves entries 1..n of a and b as sealedLog made
// them, and that appends go on after them.
func checkAll(t *testing.T, l *Log, n uint64) {
	t.Helper()
	checkEntries(t, "a", readAll(t, l, "a", 0), 1, n, 100)
	checkEntries(t, "b", readAll(t, l, "b", 0), 1, n, 50)
	appendN(t, l, "a", n+1, 1, 100)
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestCrashDuringRoll opens what a crash in the middle of a roll leaves.
func TestCrashDuringRoll(t *testing.T) {
	tests := []struct {
		name string
		// crash changes the closed log's directory; it returns the files
		// Open must remove.
		crash func(t *testing.T, dir string) (gone []string)
	}{
		{name: "a new segment not yet renamed", crash: func(t *testing.T, dir string) []string {
			num := segNum(t, lastSegment(t, dir)) + 1
			tmp := segPath(dir, num) + ".tmp"
			writeFile(t, tmp, appendSegHeader(nil, num, 1, nil)[:20])
			return []string{tmp}
		}},
		{name: "a sealed segment without its index", crash: func(t *testing.T, dir string) []string {
			idx := segFiles(t, dir, ".idx")
			for _, p := range idx[len(idx)-2:] {
				os.Remove(p)
			}
			return nil
		}},
		{name: "every index missing", crash: func(t *testing.T, dir string) []string {
			for _, p := range segFiles(t, dir, ".idx") {
				os.Remove(p)
			}
			return nil
		}},
		{name: "an index not yet renamed", crash: func(t *testing.T, dir string) []string {
			idx := segFiles(t, dir, ".idx")
			last := idx[len(idx)-1]
			writeFile(t, last+".tmp", readFile(t, last)[:50])
			os.Remove(last)
			return []string{last + ".tmp"}
		}},
		{name: "the state not yet renamed", crash: func(t *testing.T, dir string) []string {
			p := filepath.Join(dir, stateName+".tmp")
			writeFile(t, p, []byte("hydsta"))
			return []string{p}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := sealedLog(t, 30)
			idxBefore := len(segFiles(t, o.Dir, ".idx"))
			gone := tt.crash(t, o.Dir)
			l := mustOpen(t, o)
			defer mustClose(t, l)
			for _, p := range gone {
				if exists(p) {
					t.Errorf("%s left after Open", filepath.Base(p))
				}
			}
			if n := len(segFiles(t, o.Dir, ".idx")); n != idxBefore {
				t.Errorf("%d indexes after Open, want %d", n, idxBefore)
			}
			checkDiskSize(t, l, o.Dir)
			checkAll(t, l, 30)
		})
	}
}

func segNum(t testing.TB, path string) uint64 {
	t.Helper()
	var n uint64
	for _, c := range filepath.Base(path)[:20] {
		n = n*10 + uint64(c-'0')
	}
	return n
}

// TestCrashDuringRetention opens what a crash between a Trim's state
// write and its deletes leaves.
func TestCrashDuringRetention(t *testing.T) {
	tests := []struct {
		name      string
		deleteSeg bool // the segment files deleted, their indexes not
	}{
		{name: "state written, nothing deleted"},
		{name: "segments deleted, their indexes not", deleteSeg: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(t.TempDir(), newClock(), &testFS{})
			l := mustOpen(t, o)
			appendN(t, l, "k", 1, 60, 100)
			mustClose(t, l)
			// The state of Trim("k", 40), written before its deletes.
			writeFile(t, filepath.Join(o.Dir, stateName), encodeState(map[string]keyMark{"k": {first: 40, total: 78}}))
			var dead []string // the segments holding only entries before 40
			for _, p := range segFiles(t, o.Dir, ".seg") {
				_, ends := frameEnds(t, readFile(t, p))
				first := segFirstSeq(t, p)
				if first > 0 && first+uint64(len(ends))-1 < 40 && p != lastSegment(t, o.Dir) {
					dead = append(dead, p)
				}
			}
			if len(dead) < 2 {
				t.Fatalf("%d dead segments, want several", len(dead))
			}
			if tt.deleteSeg {
				for _, p := range dead {
					os.Remove(p)
				}
			}
			l = mustOpen(t, o)
			defer mustClose(t, l)
			for _, p := range dead {
				if exists(p) || exists(p[:len(p)-4]+".idx") {
					t.Errorf("%s or its index left after Open", filepath.Base(p))
				}
			}
			if info := l.Info("k"); info.First != 40 || info.Last != 60 || info.Total != 120 {
				t.Errorf("Info = %+v, want 40..60, Total 120", info)
			}
			checkEntries(t, "k", readAll(t, l, "k", 0), 40, 60, 100)
			checkDiskSize(t, l, o.Dir)
			appendN(t, l, "k", 61, 1, 100)
		})
	}
}

// segFirstSeq returns the sequence of the first entry of a one-key
// segment (its first frame the key's, its second the entry), 0 if none.
func segFirstSeq(t testing.TB, path string) uint64 {
	t.Helper()
	b := readFile(t, path)
	_, ends := frameEnds(t, b)
	if len(ends) < 2 {
		return 0
	}
	_, body, err := checkFrame(b[ends[0]:ends[1]])
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := parseEntryFrame(body)
	if err != nil {
		t.Fatal(err)
	}
	return h.seq
}

// TestCorruptIndex flips bytes of an index: Open rebuilds it from its
// segment and serves every entry.
func TestCorruptIndex(t *testing.T) {
	tests := []struct {
		name string
		at   func(idx []byte) int // the byte to flip
	}{
		{name: "magic", at: func([]byte) int { return 2 }},
		{name: "segment number", at: func([]byte) int { return 15 }},
		{name: "length", at: func([]byte) int { return 30 }},
		{name: "key count", at: func([]byte) int { return 35 }},
		{name: "key table", at: func([]byte) int { return idxFixed + 5 }},
		{name: "first record", at: func(b []byte) int { return len(b) - 2*idxRecSize - 30 + 1 }},
		{name: "a record's checksum", at: func(b []byte) int { return len(b) - 1 }},
		{name: "a record's sequence", at: func(b []byte) int { return len(b) - idxRecSize + 7 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := sealedLog(t, 30)
			idx := segFiles(t, o.Dir, ".idx")[1]
			orig := readFile(t, idx)
			bad := bytes.Clone(orig)
			bad[tt.at(bad)] ^= 0x10
			writeFile(t, idx, bad)
			l := mustOpen(t, o)
			defer mustClose(t, l)
			if got := readFile(t, idx); !bytes.Equal(got, orig) {
				t.Errorf("the index is not rebuilt as it was")
			}
			checkDiskSize(t, l, o.Dir)
			checkAll(t, l, 30)
		})
	}
	t.Run("truncated", func(t *testing.T) {
		o := sealedLog(t, 30)
		idx := segFiles(t, o.Dir, ".idx")[0]
		orig := readFile(t, idx)
		for _, n := range []int{0, 10, idxFixed, len(orig) - idxRecSize, len(orig) - 1} {
			writeFile(t, idx, orig[:n])
			l := mustOpen(t, o)
			if got := readFile(t, idx); !bytes.Equal(got, orig) {
				t.Errorf("cut at %d: the index is not rebuilt as it was", n)
			}
			checkEntries(t, "a", readAll(t, l, "a", 0), 1, 30, 100)
			mustClose(t, l)
		}
	})
}

// TestCorruptSealedFrame flips a byte of an entry in a sealed segment:
// Read serves the entries before it, then a *CorruptError whose Next is
// where reading can go on; after the index is lost too, Open serves the
// segment up to the bad frame.
func TestCorruptSealedFrame(t *testing.T) {
	for _, withIndex := range []bool{true, false} {
		t.Run(map[bool]string{true: "with its index", false: "without its index"}[withIndex], func(t *testing.T) {
			o := sealedLog(t, 30)
			seg := segFiles(t, o.Dir, ".seg")[2]
			b := readFile(t, seg)
			_, ends := frameEnds(t, b)
			// frames: key a, key b?, entries...; flip a byte in the
			// payload of the third from last frame.
			at := ends[len(ends)-4] + frameHead + entryFixed + 3
			b[at] ^= 1
			writeFile(t, seg, b)
			if !withIndex {
				os.Remove(seg[:len(seg)-4] + ".idx")
			}
			l := mustOpen(t, o)
			defer mustClose(t, l)
			checkDiskSize(t, l, o.Dir)
			var got []Stored
			var cerr *CorruptError
			key := ""
			for _, k := range []string{"a", "b"} {
				from := uint64(0)
				for {
					es, err := l.Read(k, from, 4096)
					got = append(got, es...)
					if len(es) > 0 {
						from = es[len(es)-1].Seq + 1
						continue
					}
					if errors.As(err, &cerr) {
						key = k
						break
					}
					if err != nil {
						t.Fatalf("Read(%q, %d): %v", k, from, err)
					}
					break
				}
				if key != "" {
					break
				}
			}
			if cerr == nil {
				t.Fatal("no read met the corrupt frame")
			}
			if cerr.Path != seg || cerr.Key != key || cerr.Next == 0 || cerr.Segment != segNum(t, seg) {
				t.Fatalf("CorruptError = %+v", cerr)
			}
			if withIndex && cerr.Offset != ends[len(ends)-4] {
				t.Errorf("CorruptError.Offset = %d, want %d", cerr.Offset, ends[len(ends)-4])
			}
			last := l.Info(key).Last
			rest := readAll(t, l, key, cerr.Next)
			size := map[string]int{"a": 100, "b": 50}[key]
			checkEntries(t, key, rest, cerr.Next, last, size)
			if _, err := l.Get(key, cerr.Next-1); err == nil {
				t.Errorf("Get(%q, %d) of the corrupt entry succeeded", key, cerr.Next-1)
			}
		})
	}
}

// TestCorruptSegmentHeader flips a byte of a sealed segment's header:
// Open sets it and its index aside as .corrupt and serves the rest.
func TestCorruptSegmentHeader(t *testing.T) {
	o := sealedLog(t, 30)
	seg := segFiles(t, o.Dir, ".seg")[1]
	b := readFile(t, seg)
	b[20] ^= 1
	writeFile(t, seg, b)
	l := mustOpen(t, o)
	defer mustClose(t, l)
	idx := seg[:len(seg)-4] + ".idx"
	if exists(seg) || exists(idx) || !exists(seg+".corrupt") || !exists(idx+".corrupt") {
		t.Fatalf("the segment and its index are not set aside")
	}
	checkDiskSize(t, l, o.Dir)
	first, err := l.Read("a", 1, 1<<20) // up to the lost segment
	if err != nil || len(first) == 0 || first[0].Seq != 1 {
		t.Fatalf("Read before the lost segment: %d entries, %v", len(first), err)
	}
	next := first[len(first)-1].Seq + 1
	var cerr *CorruptError
	if _, err := l.Read("a", next, 1<<20); !errors.As(err, &cerr) || cerr.Next <= next {
		t.Fatalf("Read of an entry of the lost segment: %v, want a *CorruptError", err)
	}
	checkEntries(t, "a", readAll(t, l, "a", cerr.Next), cerr.Next, 30, 100)
	appendN(t, l, "a", 31, 1, 100)
}

// TestCorruptSealedSegmentFirstFrame flips a byte of the first frame of a
// sealed segment whose index is lost too: nothing of it can be served,
// and Open sets it aside as .corrupt, as it does an unreadable header,
// rather than deleting it as if its entries were trimmed.
func TestCorruptSealedSegmentFirstFrame(t *testing.T) {
	o := sealedLog(t, 30)
	seg := segFiles(t, o.Dir, ".seg")[1]
	b := readFile(t, seg)
	b[40] ^= 1 // in the first frame, after the 38-byte header
	writeFile(t, seg, b)
	os.Remove(seg[:len(seg)-4] + ".idx")
	l := mustOpen(t, o)
	defer mustClose(t, l)
	if exists(seg) || !exists(seg+".corrupt") {
		t.Fatalf("the segment is not set aside (there: %v)", exists(seg))
	}
	if got := readFile(t, seg+".corrupt"); !bytes.Equal(got, b) {
		t.Error("the segment set aside is not as it was")
	}
	checkDiskSize(t, l, o.Dir)
	first, err := l.Read("a", 1, 1<<20)
	if err != nil || len(first) == 0 {
		t.Fatalf("Read before the lost segment: %d entries, %v", len(first), err)
	}
	var cerr *CorruptError
	if _, err := l.Read("a", first[len(first)-1].Seq+1, 1<<20); !errors.As(err, &cerr) {
		t.Fatalf("Read of the lost entries: %v, want a *CorruptError", err)
	}
	checkEntries(t, "a", readAll(t, l, "a", cerr.Next), cerr.Next, 30, 100)
}
