package seglog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"os"
	"testing"
)

// TestLayout pins the encodings to what doc.go says, byte by byte.
func TestLayout(t *testing.T) {
	hdr := appendSegHeader(nil, 7, 0x0102030405060708, nil)
	wantHdr := []byte("hydseg\x00\x01")
	wantHdr = append(wantHdr, 0, 0, 0, 38, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0)
	wantHdr = binary.BigEndian.AppendUint32(wantHdr, checksum(wantHdr))
	key := appendKeyFrame(nil, 3, "ab")
	wantKey := []byte{0, 0, 0, 0, 0, 0, 0, 9, kindKey, 0, 0, 0, 3, 0, 2, 'a', 'b'}
	binary.BigEndian.PutUint32(wantKey, checksum(wantKey[4:]))
	entry := appendEntryFrame(nil, entryHeader{keyID: 3, seq: 9, time: 10, records: 11, total: 12}, []byte("p"), nil, nil)
	wantEntry := []byte{0, 0, 0, 0, 0, 0, 0, 34, kindEntry, 0, 0, 0, 3,
		0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0, 12, 'p'}
	binary.BigEndian.PutUint32(wantEntry, checksum(wantEntry[4:]))
	rec := appendIdxRec(nil, idxRec{seq: 1, time: 2, off: 3, len: 4, cum: 5})
	wantRec := []byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5}
	wantRec = binary.BigEndian.AppendUint32(wantRec, checksum(wantRec))
	state := encodeState(map[string]keyMark{"k": {first: 1, total: 2, dropSeg: 3}})
	wantState := append([]byte("hydsta\x00\x01"), 0, 0, 0, 1, 0, 1, 'k',
		0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3)
	wantState = binary.BigEndian.AppendUint32(wantState, checksum(wantState))
	for _, tt := range []struct {
		name      string
		got, want []byte
	}{
		{"segment header", hdr, wantHdr},
		{"key frame", key, wantKey},
		{"entry frame", entry, wantEntry},
		{"index record", rec, wantRec},
		{"state", state, wantState},
	} {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s:\n got % x\nwant % x", tt.name, tt.got, tt.want)
		}
	}
}

// FuzzDecoders feeds arbitrary bytes to every decoder of the files: none
// may panic, and what one accepts must encode back to what it read.
func FuzzDecoders(f *testing.F) {
	f.Add(appendSegHeader(nil, 1, 2, nil))
	f.Add(appendKeyFrame(nil, 0, "key"))
	f.Add(appendEntryFrame(nil, entryHeader{keyID: 1, seq: 2, time: 3, records: 4, total: 5}, []byte("payload"), nil, nil))
	f.Add(encodeState(map[string]keyMark{"a": {first: 5, total: 9}, "b": {dropSeg: 3}}))
	h := segHeader{num: 1, created: 2, size: 38}
	s := &span{key: "k", keyID: 0, first: 1, last: 2, firstTime: 5, lastTime: 6, lastTotal: 3, bytes: 84}
	s.recs = []idxRec{{seq: 1, time: 5, off: 38, len: 42}, {seq: 2, time: 6, off: 80, len: 42, cum: 42}}
	idx, _ := encodeIndex(h, 122, []*span{s})
	f.Add(idx)
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzDecode(t, b)
		// b as the body of a frame, and as a state file, whose checksums
		// hold: the decoders past the checksum see it.
		framed := append(make([]byte, frameHead), b...)
		fuzzDecode(t, finishFrame(framed, 0))
		fuzzDecode(t, binary.BigEndian.AppendUint32(bytes.Clone(b), checksum(b)))
	})
}

// fuzzDecode runs every decoder on b.
func fuzzDecode(t *testing.T, b []byte) {
	if h, err := parseSegHeader(b); err == nil && (h.size > int64(len(b)) || h.sealed != (len(h.check) > 0)) {
		t.Fatalf("parseSegHeader accepted a header of %d bytes in %d", h.size, len(b))
	}
	if kind, body, err := checkFrame(b); err == nil {
		switch kind {
		case kindKey:
			if id, key, err := parseKeyFrame(body); err == nil && !bytes.Equal(appendKeyFrame(nil, id, key), b) {
				t.Fatalf("key frame %d %q encodes to other bytes", id, key)
			}
		case kindEntry:
			if h, p, err := parseEntryFrame(body); err == nil && !bytes.Equal(appendEntryFrame(nil, h, p, nil, nil), b) {
				t.Fatalf("entry frame %+v encodes to other bytes", h)
			}
		}
	}
	if m, err := decodeState(b); err == nil {
		if m2, err := decodeState(encodeState(m)); err != nil || !maps.Equal(m, m2) {
			t.Fatalf("state %v encodes to %v, %v", m, m2, err)
		}
	}
	if len(b) >= 24 { // the number and time the index says, so that it is this segment's
		h := segHeader{num: binary.BigEndian.Uint64(b[8:]), created: int64(binary.BigEndian.Uint64(b[16:])), size: 38}
		if spans, length, err := parseIndexHead(bytes.NewReader(b), int64(len(b)), h, 1<<20); err == nil {
			if length < h.size || length > 1<<20 {
				t.Fatalf("parseIndexHead: length %d", length)
			}
			checkIndexRecs(bytes.NewReader(b), spans, h, length)
		}
	}
}

// fuzzFiles are the files of a small log with a sealed segment (1, with
// its index) and an active one (2).
type fuzzFiles struct{ seg1, idx1, seg2 []byte }

func makeFuzzFiles(f *testing.F) fuzzFiles {
	o := testOptions(f.TempDir(), newClock(), &testFS{})
	o.SegmentBytes = 1 << 20
	l := mustOpen(f, o)
	for i := range 12 {
		appendN(f, l, []string{"a", "b", "c"}[i%3], uint64(i/3)+1, 1, 20)
	}
	if err := l.control(l.roll); err != nil {
		f.Fatal(err)
	}
	mustClose(f, l)
	if h, err := parseSegHeader(readFile(f, segPath(o.Dir, 2))); err != nil || h.size != 38 {
		f.Fatalf("segment header of %d bytes (%v), the seeds say 38", h.size, err)
	}
	return fuzzFiles{
		seg1: readFile(f, segPath(o.Dir, 1)),
		idx1: readFile(f, idxPath(o.Dir, 1)),
		seg2: readFile(f, segPath(o.Dir, 2)),
	}
}

// FuzzOpen opens logs made of arbitrary bytes: as the frames of the active
// segment (mode 0), of a sealed segment without an index (1), and as the
// index of a valid sealed segment (2). Open must succeed, never panic, and
// serve only entries of frames whose checksum holds; appends go on.
func FuzzOpen(f *testing.F) {
	ff := makeFuzzFiles(f)
	frames := ff.seg1[38:]
	for mode := range byte(2) {
		f.Add(mode, frames)
		f.Add(mode, frames[:len(frames)-7])
		f.Add(mode, append(bytes.Clone(frames), 0, 0, 0, 0, 1, 2, 3))
		f.Add(mode, []byte{})
	}
	f.Add(byte(2), ff.idx1)
	f.Add(byte(2), ff.idx1[:len(ff.idx1)-idxRecSize])
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		mode %= 3
		dir := t.TempDir()
		seg := segPath(dir, 1)
		switch mode {
		case 0:
			writeFile(t, seg, append(bytes.Clone(ff.seg1[:38]), data...))
		case 1:
			writeFile(t, seg, append(bytes.Clone(ff.seg1[:38]), data...))
			writeFile(t, segPath(dir, 2), ff.seg2)
		case 2:
			writeFile(t, seg, ff.seg1)
			writeFile(t, idxPath(dir, 1), data)
			writeFile(t, segPath(dir, 2), ff.seg2)
		}
		l, err := Open(Options{Dir: dir, SegmentBytes: 1 << 20})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer mustClose(t, l)
		onDisk, err := os.ReadFile(seg) // segment 1 as Open left it
		if errors.Is(err, os.ErrNotExist) {
			onDisk = nil // deleted without an entry, or set aside
		} else if err != nil {
			t.Fatal(err)
		}
		valid := validEntries(t, onDisk)
		for _, key := range l.Keys() {
			info := l.Info(key)
			l.SeekTime(key, info.FirstTime+1)
			for from := uint64(0); ; {
				got, err := l.Read(key, from, 1<<20)
				for _, e := range got {
					if !valid[string(e.Payload)] {
						t.Fatalf("%q entry %d: payload %q is in no valid frame", key, e.Seq, e.Payload)
					}
					from = e.Seq + 1
				}
				var cerr *CorruptError
				if len(got) == 0 && errors.As(err, &cerr) && cerr.Next > from {
					from = cerr.Next
					continue
				}
				if len(got) == 0 {
					break
				}
			}
		}
		if mode == 2 {
			checkEntries(t, "a", readAll(t, l, "a", 0), 1, 4, 20)
			checkEntries(t, "c", readAll(t, l, "c", 0), 1, 4, 20)
		}
		want := l.Info("a").Last + 1
		if seq := mustAppend(t, l, "a", Entry{Payload: []byte("after")}); seq != want {
			t.Fatalf("Append = %d, want %d", seq, want)
		}
	})
}

// validEntries returns the payloads of the entry frames of the segment
// file b whose checksum holds, wherever they are.
func validEntries(t *testing.T, b []byte) map[string]bool {
	out := make(map[string]bool)
	for off := 38; off+frameHead <= len(b); off++ {
		n, err := frameLen(b[off:])
		if err != nil || off+n > len(b) {
			continue
		}
		if kind, body, err := checkFrame(b[off : off+n]); err == nil && kind == kindEntry {
			if _, p, err := parseEntryFrame(body); err == nil {
				out[string(p)] = true
			}
		}
	}
	return out
}
