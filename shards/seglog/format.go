package seglog

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// The segment file (see doc.go): a header, then frames.
const (
	segMagic = "hydseg\x00\x01"
	// segFixed is the header up to the key check: magic, length, flags,
	// number, creation time, key check length.
	segFixed     = 8 + 4 + 4 + 8 + 8 + 2
	maxSegHeader = segFixed + maxSealOverhead + len(keyCheckText) + 4
	flagSealed   = 1
	keyCheckText = "hydrant seglog key check"
)

// Frames: crc32c of what follows it, length of what follows the length,
// then a kind byte and the kind's fields.
const (
	frameHead  = 4 + 4
	kindKey    = 1 // key id, key length, key
	kindEntry  = 2 // key id, seq, time, records, total, payload
	keyFixed   = 1 + 4 + 2
	entryFixed = 1 + 4 + 8 + 8 + 4 + 8
	// maxFrameBody bounds the length field a reader believes.
	maxFrameBody = entryFixed + MaxPayload + maxSealOverhead
)

// segHeader is a segment file's header.
type segHeader struct {
	num     uint64
	created int64 // Unix nanoseconds
	sealed  bool  // entry payloads are sealed with an AEAD
	check   []byte
	size    int64 // the header's length: where frames begin
}

// appendSegHeader appends the header of segment num, created at created,
// to dst; with aead it marks the segment sealed and holds a key check.
func appendSegHeader(dst []byte, num uint64, created int64, aead cipher.AEAD) []byte {
	start := len(dst)
	flags, checkLen := uint32(0), 0
	if aead != nil {
		flags, checkLen = flagSealed, aead.NonceSize()+len(keyCheckText)+aead.Overhead()
	}
	dst = append(dst, segMagic...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(segFixed+checkLen+4))
	dst = binary.BigEndian.AppendUint32(dst, flags)
	dst = binary.BigEndian.AppendUint64(dst, num)
	dst = binary.BigEndian.AppendUint64(dst, uint64(created))
	dst = binary.BigEndian.AppendUint16(dst, uint16(checkLen))
	if aead != nil {
		ad := dst[start : start+segFixed-2]
		n := len(dst)
		dst = append(dst, make([]byte, aead.NonceSize())...)
		rand.Read(dst[n:])
		dst = aead.Seal(dst, dst[n:], []byte(keyCheckText), ad)
	}
	return binary.BigEndian.AppendUint32(dst, checksum(dst[start:]))
}

// parseSegHeader parses the header at the start of b.
func parseSegHeader(b []byte) (segHeader, error) {
	if len(b) < segFixed+4 || string(b[:8]) != segMagic {
		return segHeader{}, errors.New("not a segment header (bad magic)")
	}
	size := int(binary.BigEndian.Uint32(b[8:]))
	if size < segFixed+4 || size > maxSegHeader || size > len(b) {
		return segHeader{}, fmt.Errorf("segment header length %d", size)
	}
	if checksum(b[:size-4]) != binary.BigEndian.Uint32(b[size-4:]) {
		return segHeader{}, errors.New("segment header checksum mismatch")
	}
	h := segHeader{
		sealed:  binary.BigEndian.Uint32(b[12:])&flagSealed != 0,
		num:     binary.BigEndian.Uint64(b[16:]),
		created: int64(binary.BigEndian.Uint64(b[24:])),
		size:    int64(size),
	}
	n := int(binary.BigEndian.Uint16(b[32:]))
	if segFixed+n+4 != size || h.sealed != (n > 0) {
		return segHeader{}, fmt.Errorf("segment header key check length %d", n)
	}
	h.check = b[segFixed : segFixed+n : segFixed+n]
	return h, nil
}

// verifyKey reports whether aead opens a segment with header h, which
// starts b.
func (h segHeader) verifyKey(b []byte, aead cipher.AEAD) error {
	switch {
	case !h.sealed:
		return nil
	case aead == nil:
		return fmt.Errorf("%w: segment %d is sealed and Options.AEAD is nil", ErrWrongKey, h.num)
	case len(h.check) < aead.NonceSize():
		return fmt.Errorf("%w: segment %d was sealed with another kind of AEAD", ErrWrongKey, h.num)
	}
	ns := aead.NonceSize()
	got, err := aead.Open(nil, h.check[:ns], h.check[ns:], b[:segFixed-2])
	if err != nil || string(got) != keyCheckText {
		return fmt.Errorf("%w: segment %d was sealed with another key than Options.AEAD", ErrWrongKey, h.num)
	}
	return nil
}

// entryHeader is an entry frame's fields but its payload.
type entryHeader struct {
	keyID   uint32
	seq     uint64
	time    int64
	records uint32
	total   uint64
}

// appendKeyFrame appends the frame defining id as key.
func appendKeyFrame(dst []byte, id uint32, key string) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0, kindKey)
	dst = binary.BigEndian.AppendUint32(dst, id)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(key)))
	dst = append(dst, key...)
	return finishFrame(dst, start)
}

// appendEntryFrame appends the frame of an entry. With aead the payload is
// sealed under a random nonce, with ad (the key and seq) as additional data.
func appendEntryFrame(dst []byte, h entryHeader, payload []byte, aead cipher.AEAD, ad []byte) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0, kindEntry)
	dst = binary.BigEndian.AppendUint32(dst, h.keyID)
	dst = binary.BigEndian.AppendUint64(dst, h.seq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.time))
	dst = binary.BigEndian.AppendUint32(dst, h.records)
	dst = binary.BigEndian.AppendUint64(dst, h.total)
	if aead == nil {
		dst = append(dst, payload...)
	} else {
		n := len(dst)
		dst = append(dst, make([]byte, aead.NonceSize())...)
		rand.Read(dst[n:])
		dst = aead.Seal(dst, dst[n:], payload, ad)
	}
	return finishFrame(dst, start)
}

func finishFrame(dst []byte, start int) []byte {
	binary.BigEndian.PutUint32(dst[start+4:], uint32(len(dst)-start-frameHead))
	binary.BigEndian.PutUint32(dst[start:], checksum(dst[start+4:]))
	return dst
}

// frameLen returns the length of the frame whose head (at least frameHead
// bytes) starts b, or an error when its length field is impossible.
func frameLen(b []byte) (int, error) {
	n := binary.BigEndian.Uint32(b[4:])
	if n < keyFixed+1 || n > maxFrameBody {
		return 0, fmt.Errorf("frame length %d", n)
	}
	return frameHead + int(n), nil
}

// checkFrame verifies the frame that is all of b and returns its kind and
// the body after the kind byte.
func checkFrame(b []byte) (kind byte, body []byte, err error) {
	if len(b) < frameHead+1 {
		return 0, nil, errors.New("short frame")
	}
	if n, err := frameLen(b); err != nil {
		return 0, nil, err
	} else if n != len(b) {
		return 0, nil, fmt.Errorf("frame length %d, %d bytes", n, len(b))
	}
	if checksum(b[4:]) != binary.BigEndian.Uint32(b) {
		return 0, nil, errors.New("frame checksum mismatch")
	}
	return b[frameHead], b[frameHead+1:], nil
}

// parseKeyFrame parses the body of a key frame.
func parseKeyFrame(body []byte) (id uint32, key string, err error) {
	if len(body) < keyFixed-1 {
		return 0, "", errors.New("short key frame")
	}
	n := int(binary.BigEndian.Uint16(body[4:]))
	if n == 0 || n > MaxKeyLen || len(body) != keyFixed-1+n {
		return 0, "", fmt.Errorf("key frame: key length %d in %d bytes", n, len(body))
	}
	return binary.BigEndian.Uint32(body), string(body[6:]), nil
}

// parseEntryFrame parses the body of an entry frame; the payload aliases
// body and is still sealed when the segment is.
func parseEntryFrame(body []byte) (entryHeader, []byte, error) {
	if len(body) < entryFixed-1 {
		return entryHeader{}, nil, errors.New("short entry frame")
	}
	h := entryHeader{
		keyID:   binary.BigEndian.Uint32(body),
		seq:     binary.BigEndian.Uint64(body[4:]),
		time:    int64(binary.BigEndian.Uint64(body[12:])),
		records: binary.BigEndian.Uint32(body[20:]),
		total:   binary.BigEndian.Uint64(body[24:]),
	}
	if h.seq == 0 {
		return entryHeader{}, nil, errors.New("entry sequence 0")
	}
	return h, body[entryFixed-1:], nil
}

// sealAD appends the additional data that binds a sealed payload to its
// key and sequence.
func sealAD(dst []byte, key string, seq uint64) []byte {
	dst = append(dst, key...)
	return binary.BigEndian.AppendUint64(dst, seq)
}

// openPayload opens a sealed payload in place.
func openPayload(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	ns := aead.NonceSize()
	if len(sealed) < ns+aead.Overhead() {
		return nil, errors.New("sealed payload too short")
	}
	p, err := aead.Open(sealed[ns:ns], sealed[:ns], sealed[ns:], ad)
	if err != nil {
		return nil, errors.New("sealed payload does not open")
	}
	return p, nil
}
