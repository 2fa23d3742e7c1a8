package seglog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"
)

// The state file (see doc.go): what Trim and Drop decided, which the
// segments do not say.
const (
	stateName  = "state"
	stateMagic = "hydsta\x00\x01"
	markFixed  = 2 + 8 + 8 + 8 // key length, first, total, drop segment
)

// keyMark is what the state file says of one key.
type keyMark struct {
	// first is the key's first kept sequence (0 or 1: nothing trimmed):
	// entries before it are trimmed, and it is the next sequence while
	// the key has no entry at or after it.
	first uint64
	// total is the key's record count at the last Trim, its Total while
	// it has no entries.
	total uint64
	// dropSeg: the key's entries in segments numbered up to dropSeg were
	// dropped; they belong to an earlier key of the same name.
	dropSeg uint64
}

func encodeState(marks map[string]keyMark) []byte {
	keys := make([]string, 0, len(marks))
	for k := range marks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := append([]byte(nil), stateMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		m := marks[k]
		b = binary.BigEndian.AppendUint16(b, uint16(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint64(b, m.first)
		b = binary.BigEndian.AppendUint64(b, m.total)
		b = binary.BigEndian.AppendUint64(b, m.dropSeg)
	}
	return binary.BigEndian.AppendUint32(b, checksum(b))
}

func decodeState(b []byte) (map[string]keyMark, error) {
	if len(b) < len(stateMagic)+8 || string(b[:len(stateMagic)]) != stateMagic {
		return nil, errors.New("not a state file (bad magic)")
	}
	if checksum(b[:len(b)-4]) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, errors.New("checksum mismatch")
	}
	n := int(binary.BigEndian.Uint32(b[len(stateMagic):]))
	t := b[len(stateMagic)+4 : len(b)-4]
	marks := make(map[string]keyMark, min(n, len(t)/markFixed))
	for range n {
		if len(t) < 2 {
			return nil, errors.New("too short")
		}
		kl := int(binary.BigEndian.Uint16(t))
		if kl == 0 || kl > MaxKeyLen || len(t) < markFixed+kl {
			return nil, fmt.Errorf("key length %d", kl)
		}
		f := t[2+kl:]
		marks[string(t[2:2+kl])] = keyMark{
			first:   binary.BigEndian.Uint64(f),
			total:   binary.BigEndian.Uint64(f[8:]),
			dropSeg: binary.BigEndian.Uint64(f[16:]),
		}
		t = t[markFixed+kl:]
	}
	if len(t) != 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(t))
	}
	return marks, nil
}

// readState reads the state file at path; absent, it is empty.
func readState(path string) (map[string]keyMark, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return make(map[string]keyMark), nil
	}
	if err != nil {
		return nil, fmt.Errorf("seglog: read %s: %w", path, err)
	}
	marks, err := decodeState(b)
	if err != nil {
		return nil, &CorruptError{Path: path, Reason: err.Error() +
			"; trims and drops are lost with it: remove the file to open the log without them"}
	}
	return marks, nil
}
