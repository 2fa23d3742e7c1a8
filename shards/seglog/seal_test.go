package seglog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

// secret is a payload that must not be found in the files of a sealed log.
func secret(seq uint64) []byte { return fmt.Appendf(nil, "TOP-SECRET-PAYLOAD-%06d-do-not-leak", seq) }

func sealedOptions(t *testing.T) Options {
	t.Helper()
	o := testOptions(t.TempDir(), newClock(), &testFS{})
	o.AEAD = testAEAD(t, 7)
	l := mustOpen(t, o)
	for seq := uint64(1); seq <= 40; seq++ {
		mustAppend(t, l, "sealed-key", Entry{Records: 1, Payload: secret(seq)})
	}
	mustClose(t, l)
	return o
}

func checkSecrets(t *testing.T, l *Log, from, to uint64) {
	t.Helper()
	got := readAll(t, l, "sealed-key", from)
	if len(got) != int(to-from+1) {
		t.Fatalf("read %d entries, want %d", len(got), to-from+1)
	}
	for i, e := range got {
		if seq := from + uint64(i); e.Seq != seq || !bytes.Equal(e.Payload, secret(seq)) {
			t.Fatalf("entry %d: %d %q", seq, e.Seq, e.Payload)
		}
	}
}

// TestSealedFiles checks that a sealed log's files hold no payload in
// plaintext (its keys they do), and that it reads back after reopening.
func TestSealedFiles(t *testing.T) {
	o := sealedOptions(t)
	segs := segFiles(t, o.Dir, ".seg")
	if len(segs) < 3 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	keyFound := false
	for _, p := range append(segs, segFiles(t, o.Dir, ".idx")...) {
		b := readFile(t, p)
		if bytes.Contains(b, []byte("TOP-SECRET")) {
			t.Fatalf("%s holds a payload in plaintext", p)
		}
		keyFound = keyFound || bytes.Contains(b, []byte("sealed-key"))
	}
	if !keyFound {
		t.Error("no file holds the key: keys are not sealed")
	}
	l := mustOpen(t, o)
	defer mustClose(t, l)
	checkSecrets(t, l, 1, 40)
}

// TestWrongKey opens a sealed log with another key, and with none.
func TestWrongKey(t *testing.T) {
	o := sealedOptions(t)
	for _, tt := range []struct {
		name string
		o    Options
	}{
		{name: "another key", o: func() Options { o := o; o.AEAD = testAEAD(t, 8); return o }()},
		{name: "no key", o: func() Options { o := o; o.AEAD = nil; return o }()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if l, err := Open(tt.o); !errors.Is(err, ErrWrongKey) {
				if err == nil {
					l.Close()
				}
				t.Fatalf("Open: %v, want ErrWrongKey", err)
			}
		})
	}
	l := mustOpen(t, o) // the files are untouched
	defer mustClose(t, l)
	checkSecrets(t, l, 1, 40)
}

// TestSealedPayloadTampered changes a sealed payload and mends the frame's
// checksum, so that only the AEAD can tell, and moves one entry's sealed
// payload into another's frame: Read returns a *CorruptError.
func TestSealedPayloadTampered(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(b []byte, first, second []byte) // two whole entry frames
	}{
		{name: "a flipped byte", tamper: func(_ []byte, first, _ []byte) {
			first[len(first)-5] ^= 1
		}},
		{name: "another entry's payload", tamper: func(_ []byte, first, second []byte) {
			copy(first[frameHead+entryFixed:], second[frameHead+entryFixed:])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := sealedOptions(t)
			seg := segFiles(t, o.Dir, ".seg")[1]
			b := readFile(t, seg)
			_, ends := frameEnds(t, b)
			// frames: the key's, then its entries, all of one size
			first, second := b[ends[1]:ends[2]], b[ends[2]:ends[3]]
			tt.tamper(b, first, second)
			binary.BigEndian.PutUint32(first, checksum(first[4:]))
			writeFile(t, seg, b)
			l := mustOpen(t, o)
			defer mustClose(t, l)
			got, err := l.Read("sealed-key", 1, 1<<20)
			var cerr *CorruptError
			if err == nil && len(got) > 0 {
				_, err = l.Read("sealed-key", got[len(got)-1].Seq+1, 1<<20)
			}
			if !errors.As(err, &cerr) || cerr.Offset != ends[1] || cerr.Next == 0 {
				t.Fatalf("Read of the tampered entry: %v, want a *CorruptError at %d", err, ends[1])
			}
			for i, e := range got {
				if e.Seq != uint64(i)+1 || !bytes.Equal(e.Payload, secret(e.Seq)) {
					t.Fatalf("entry %d before the tampered one: %d %q", i+1, e.Seq, e.Payload)
				}
			}
			checkSecrets(t, l, cerr.Next, 40)
		})
	}
}
