package shards

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Record is one record to append to a shard.
type Record struct {
	PartitionKey string
	Data         []byte
	// HashKey, when set, routes the record instead of the MD5 of its
	// partition key (Kinesis' ExplicitHashKey). It is not stored.
	HashKey *HashKey
}

// Size is what the record costs against a shard's byte quota: data plus
// partition key, as Kinesis counts it.
func (r Record) Size() int { return len(r.PartitionKey) + len(r.Data) }

// StoredRecord is a record read back from a shard log.
type StoredRecord struct {
	Sequence     Sequence
	PartitionKey string
	Arrival      time.Time // when the shard log stored the record
	Data         []byte
}

// Sequence is a record's position in its shard: strictly increasing within a
// shard. It combines the JetStream sequence of the record-batch message with
// the record's index inside that message.
type Sequence uint64

const indexBits = 20

// maxBatchRecords is the most records one record-batch message may hold.
const maxBatchRecords = 1 << indexBits

// MakeSequence returns the sequence of record index within message msgSeq.
func MakeSequence(msgSeq uint64, index int) Sequence {
	return Sequence(msgSeq<<indexBits | uint64(index))
}

// Message returns the JetStream sequence of the message holding the record.
func (s Sequence) Message() uint64 { return uint64(s) >> indexBits }

// Index returns the record's index inside its message.
func (s Sequence) Index() int { return int(uint64(s) & (maxBatchRecords - 1)) }

// String returns the decimal form used on the wire.
func (s Sequence) String() string { return strconv.FormatUint(uint64(s), 10) }

// ParseSequence parses a decimal sequence number.
func ParseSequence(s string) (Sequence, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("sequence number %q: must be a decimal integer", s)
	}
	return Sequence(n), nil
}

// The record-batch message layout (version 1):
//
//	byte     version (1)
//	int64    arrival, Unix nanoseconds, big-endian
//	uvarint  record count
//	per record: uvarint len(partition key), key, uvarint len(data), data
const batchVersion = 1

const batchHeaderSize = 1 + 8 + binary.MaxVarintLen64

// encodedSize is the upper bound of what r adds to a record-batch message.
func encodedSize(r Record) int {
	return 2*binary.MaxVarintLen64 + len(r.PartitionKey) + len(r.Data)
}

// AppendBatch appends the record-batch encoding of recs, stored at arrival, to dst.
func AppendBatch(dst []byte, arrival time.Time, recs []Record) []byte {
	dst = append(dst, batchVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(arrival.UnixNano()))
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	for _, r := range recs {
		dst = binary.AppendUvarint(dst, uint64(len(r.PartitionKey)))
		dst = append(dst, r.PartitionKey...)
		dst = binary.AppendUvarint(dst, uint64(len(r.Data)))
		dst = append(dst, r.Data...)
	}
	return dst
}

var errCorruptBatch = errors.New("corrupt record batch")

// DecodeBatch decodes a record-batch message stored as JetStream message
// msgSeq and appends its records to dst. Data slices alias msg.
func DecodeBatch(dst []StoredRecord, msgSeq uint64, msg []byte) ([]StoredRecord, error) {
	if len(msg) < 9 || msg[0] != batchVersion {
		return dst, fmt.Errorf("message %d: %w: bad header", msgSeq, errCorruptBatch)
	}
	arrival := time.Unix(0, int64(binary.BigEndian.Uint64(msg[1:9]))).UTC()
	p := msg[9:]
	count, n := binary.Uvarint(p)
	if n <= 0 || count > maxBatchRecords {
		return dst, fmt.Errorf("message %d: %w: bad record count", msgSeq, errCorruptBatch)
	}
	p = p[n:]
	for i := 0; i < int(count); i++ {
		key, rest, err := readBytes(p)
		if err != nil {
			return dst, fmt.Errorf("message %d record %d: %w", msgSeq, i, err)
		}
		data, rest, err := readBytes(rest)
		if err != nil {
			return dst, fmt.Errorf("message %d record %d: %w", msgSeq, i, err)
		}
		p = rest
		dst = append(dst, StoredRecord{
			Sequence:     MakeSequence(msgSeq, i),
			PartitionKey: string(key),
			Arrival:      arrival,
			Data:         data[:len(data):len(data)],
		})
	}
	if len(p) != 0 {
		return dst, fmt.Errorf("message %d: %w: %d trailing bytes", msgSeq, errCorruptBatch, len(p))
	}
	return dst, nil
}

// batchCount returns the number of records in a record-batch message.
func batchCount(msg []byte) (int, error) {
	if len(msg) < 9 || msg[0] != batchVersion {
		return 0, fmt.Errorf("%w: bad header", errCorruptBatch)
	}
	count, n := binary.Uvarint(msg[9:])
	if n <= 0 || count > maxBatchRecords {
		return 0, fmt.Errorf("%w: bad record count", errCorruptBatch)
	}
	return int(count), nil
}

func readBytes(p []byte) (field, rest []byte, err error) {
	l, n := binary.Uvarint(p)
	if n <= 0 || l > uint64(len(p)-n) {
		return nil, nil, errCorruptBatch
	}
	return p[n : n+int(l)], p[n+int(l):], nil
}

// LastSequence returns the last sequence a record of message msg can have:
// the EndingSequenceNumber of a shard closed after msg (of a shard closed
// empty, 0, the last of the first message it never held).
func LastSequence(msg uint64) Sequence { return MakeSequence(max(msg, 1), maxBatchRecords-1) }
