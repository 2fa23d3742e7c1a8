package seglog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// The index file of a sealed segment (see doc.go).
const (
	idxMagic = "hydidx\x00\x01"
	// idxFixed: magic, segment number, segment creation time, segment
	// length, key count, record count.
	idxFixed = 8 + 8 + 8 + 8 + 4 + 4
	// idxKeyFixed: a key table row but the key: key length, key id,
	// first, last, first time, last time, last total, bytes, record
	// start, record count.
	idxKeyFixed = 2 + 4 + 8 + 8 + 8 + 8 + 8 + 4 + 4 + 4
	idxRecSize  = 32
)

// idxRec locates one entry: its sequence and time, where its frame lies
// in the segment, and the bytes of the key's frames in the segment before
// it. On disk: seq, time, off, len, cum, crc32c of the 28 bytes before.
type idxRec struct {
	seq  uint64
	time int64
	off  uint32
	len  uint32
	cum  uint32
}

func appendIdxRec(dst []byte, r idxRec) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint64(dst, r.seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.time))
	dst = binary.BigEndian.AppendUint32(dst, r.off)
	dst = binary.BigEndian.AppendUint32(dst, r.len)
	dst = binary.BigEndian.AppendUint32(dst, r.cum)
	return binary.BigEndian.AppendUint32(dst, checksum(dst[start:]))
}

func parseIdxRec(b []byte) (idxRec, bool) {
	if checksum(b[:idxRecSize-4]) != binary.BigEndian.Uint32(b[idxRecSize-4:]) {
		return idxRec{}, false
	}
	return idxRec{
		seq:  binary.BigEndian.Uint64(b),
		time: int64(binary.BigEndian.Uint64(b[8:])),
		off:  binary.BigEndian.Uint32(b[16:]),
		len:  binary.BigEndian.Uint32(b[20:]),
		cum:  binary.BigEndian.Uint32(b[24:]),
	}, true
}

// span is one key's entries in one segment, in sequence order. A sealed
// segment's spans find their records in its index file (recPos, count);
// the active segment's, and those of a segment whose index could not be
// written, hold them in recs.
type span struct {
	seg                 *segment
	key                 string
	keyID               uint32
	first, last         uint64
	firstTime, lastTime int64
	lastTotal           uint64
	bytes               int64 // of the key's frames in the segment
	count               int
	recPos              int64
	recs                []idxRec
	dead                bool // every entry trimmed or dropped
}

// add appends the record of the key's next entry in the segment.
func (s *span) add(r idxRec, total uint64) {
	if s.count == 0 {
		s.first, s.firstTime = r.seq, r.time
	}
	r.cum = uint32(s.bytes)
	s.recs = append(s.recs, r)
	s.last, s.lastTime, s.lastTotal = r.seq, r.time, total
	s.bytes += int64(r.len)
	s.count++
}

// encodeIndex returns the index file of segment h whose frames end at
// length, for spans, and each span's record position in it.
func encodeIndex(h segHeader, length int64, spans []*span) ([]byte, []int64) {
	sort.Slice(spans, func(i, j int) bool { return spans[i].keyID < spans[j].keyID })
	b := append([]byte(nil), idxMagic...)
	b = binary.BigEndian.AppendUint64(b, h.num)
	b = binary.BigEndian.AppendUint64(b, uint64(h.created))
	b = binary.BigEndian.AppendUint64(b, uint64(length))
	b = binary.BigEndian.AppendUint32(b, uint32(len(spans)))
	recs := 0
	for _, s := range spans {
		recs += len(s.recs)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(recs))
	start := 0
	for _, s := range spans {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s.key)))
		b = append(b, s.key...)
		b = binary.BigEndian.AppendUint32(b, s.keyID)
		b = binary.BigEndian.AppendUint64(b, s.first)
		b = binary.BigEndian.AppendUint64(b, s.last)
		b = binary.BigEndian.AppendUint64(b, uint64(s.firstTime))
		b = binary.BigEndian.AppendUint64(b, uint64(s.lastTime))
		b = binary.BigEndian.AppendUint64(b, s.lastTotal)
		b = binary.BigEndian.AppendUint32(b, uint32(s.bytes))
		b = binary.BigEndian.AppendUint32(b, uint32(start))
		b = binary.BigEndian.AppendUint32(b, uint32(len(s.recs)))
		start += len(s.recs)
	}
	b = binary.BigEndian.AppendUint32(b, checksum(b))
	pos := make([]int64, len(spans))
	for i, s := range spans {
		pos[i] = int64(len(b))
		for _, r := range s.recs {
			b = appendIdxRec(b, r)
		}
	}
	return b, pos
}

// parseIndexHead parses the head (all but the records) of the index of
// segment h, whose frames must end at or before fileLen, from r, whose
// length is size. It returns the spans with their record positions and
// where the segment's frames end.
func parseIndexHead(r io.ReaderAt, size int64, h segHeader, fileLen int64) ([]*span, int64, error) {
	head := make([]byte, idxFixed)
	if _, err := r.ReadAt(head, 0); err != nil {
		return nil, 0, fmt.Errorf("index head: %w", err)
	}
	if string(head[:8]) != idxMagic || binary.BigEndian.Uint64(head[8:]) != h.num ||
		int64(binary.BigEndian.Uint64(head[16:])) != h.created {
		return nil, 0, errors.New("index is not this segment's")
	}
	length := int64(binary.BigEndian.Uint64(head[24:]))
	keys := int64(binary.BigEndian.Uint32(head[32:]))
	recs := int64(binary.BigEndian.Uint32(head[36:]))
	if length < h.size || length > fileLen {
		return nil, 0, fmt.Errorf("index covers %d bytes of a %d-byte segment", length, fileLen)
	}
	tableLen := size - idxFixed - 4 - recs*idxRecSize
	if tableLen < keys*(idxKeyFixed+1) || tableLen > keys*(idxKeyFixed+MaxKeyLen) {
		return nil, 0, fmt.Errorf("index of %d bytes cannot hold %d keys and %d records", size, keys, recs)
	}
	b := make([]byte, idxFixed+tableLen+4)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, 0, fmt.Errorf("index key table: %w", err)
	}
	if checksum(b[:len(b)-4]) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, 0, errors.New("index key table checksum mismatch")
	}
	spans, err := parseKeyTable(b[idxFixed:len(b)-4], int(keys), recs, int64(len(b)))
	return spans, length, err
}

// parseKeyTable parses the key table t of an index holding recs records
// from recBase on.
func parseKeyTable(t []byte, keys int, recs, recBase int64) ([]*span, error) {
	spans := make([]*span, 0, keys)
	next := int64(0) // the records of the keys follow one another
	for range keys {
		if len(t) < 2 {
			return nil, errors.New("index key table too short")
		}
		n := int(binary.BigEndian.Uint16(t))
		if n == 0 || n > MaxKeyLen || len(t) < idxKeyFixed+n {
			return nil, fmt.Errorf("index key table: key length %d", n)
		}
		f := t[2+n:]
		s := &span{
			key:       string(t[2 : 2+n]),
			keyID:     binary.BigEndian.Uint32(f),
			first:     binary.BigEndian.Uint64(f[4:]),
			last:      binary.BigEndian.Uint64(f[12:]),
			firstTime: int64(binary.BigEndian.Uint64(f[20:])),
			lastTime:  int64(binary.BigEndian.Uint64(f[28:])),
			lastTotal: binary.BigEndian.Uint64(f[36:]),
			bytes:     int64(binary.BigEndian.Uint32(f[44:])),
			count:     int(binary.BigEndian.Uint32(f[52:])),
		}
		if int64(binary.BigEndian.Uint32(f[48:])) != next || s.count == 0 || s.first == 0 || s.first > s.last {
			return nil, fmt.Errorf("index key table: key %q: bad range", s.key)
		}
		s.recPos = recBase + next*idxRecSize
		next += int64(s.count)
		spans = append(spans, s)
		t = t[idxKeyFixed+n:]
	}
	if len(t) != 0 || next != recs {
		return nil, errors.New("index key table does not match its records")
	}
	return spans, nil
}

// checkIndexRecs reads the records of spans, parsed from the index r of
// segment h whose frames end at length, and checks each against its
// checksum and its span: sequences rising from first to last, times not
// falling, frames inside the segment, cum the bytes of the frames before.
func checkIndexRecs(r io.ReaderAt, spans []*span, h segHeader, length int64) error {
	if len(spans) == 0 {
		return nil
	}
	start := spans[0].recPos
	end := spans[len(spans)-1].recPos + int64(spans[len(spans)-1].count)*idxRecSize
	br := bufio.NewReaderSize(io.NewSectionReader(r, start, end-start), 64<<10)
	b := make([]byte, idxRecSize)
	for _, s := range spans {
		var prev idxRec
		cum := int64(0)
		for i := range s.count {
			if _, err := io.ReadFull(br, b); err != nil {
				return fmt.Errorf("index records: %w", err)
			}
			rec, ok := parseIdxRec(b)
			if !ok {
				return fmt.Errorf("key %q: record %d: checksum mismatch", s.key, i)
			}
			bad := int64(rec.cum) != cum || int64(rec.off) < h.size || int64(rec.off)+int64(rec.len) > length ||
				rec.len < frameHead+entryFixed || (i == 0 && (rec.seq != s.first || rec.time != s.firstTime)) ||
				(i > 0 && (rec.seq <= prev.seq || rec.time < prev.time || rec.off < prev.off+prev.len))
			if bad {
				return fmt.Errorf("key %q: record %d does not fit its key table row", s.key, i)
			}
			cum += int64(rec.len)
			prev = rec
		}
		if prev.seq != s.last || prev.time != s.lastTime || cum != s.bytes {
			return fmt.Errorf("key %q: records end at %d, the key table at %d", s.key, prev.seq, s.last)
		}
	}
	return nil
}

// writeFileAtomic writes b to path through a temporary file, fsynced and
// renamed into place, and fsyncs the directory.
func writeFileAtomic(path string, b []byte, wrap func(*os.File) file) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	wf := wrap(f)
	_, err = wf.WriteAt(b, 0)
	if err == nil {
		err = wf.Sync()
	}
	if cerr := wf.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs directory dir, so that the files created, renamed or
// removed in it stay so after a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
