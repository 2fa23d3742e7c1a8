package transform

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/internal/partitionkey"
)

// KPLMagic starts every record the Kinesis Producer Library aggregates.
var KPLMagic = []byte{0xF3, 0x89, 0x9A, 0xC2}

const codeKPLAggregateError = "Transform.KPLAggregateError"

// KPLRecord is one user record of a KPL aggregate.
type KPLRecord struct {
	PartitionKey    string
	ExplicitHashKey string // "" when the record has none
	Data            []byte // aliases the aggregate's bytes
}

// DecodeKPL decodes a KPL aggregated record: the magic F3 89 9A C2, the
// protobuf AggregatedRecord, and the MD5 of the protobuf bytes. It appends
// the user records to dst, in order. ok is false (and dst returned as it
// is) when data does not start with the magic: a record the KPL sent
// unaggregated. An aggregate that is too short, fails its checksum, does
// not decode, lacks a required field, or indexes past its key tables is an
// error; nothing is appended then. Data of the records aliases data.
func DecodeKPL(dst []KPLRecord, data []byte) (_ []KPLRecord, ok bool, err error) {
	return decodeKPL(dst, data, -1)
}

// decodeKPL is DecodeKPL refusing an aggregate of more than limit user
// records (limit < 0: any number).
func decodeKPL(dst []KPLRecord, data []byte, limit int) (_ []KPLRecord, ok bool, err error) {
	if !bytes.HasPrefix(data, KPLMagic) {
		return dst, false, nil
	}
	body := data[len(KPLMagic):]
	if len(body) < md5.Size {
		return dst, true, fmt.Errorf("%d bytes after the magic, fewer than its MD5 checksum", len(body))
	}
	msg, sum := body[:len(body)-md5.Size], body[len(body)-md5.Size:]
	if got := md5.Sum(msg); !bytes.Equal(got[:], sum) {
		return dst, true, errors.New("MD5 checksum mismatch")
	}
	out, err := decodeAggregated(dst, msg, limit)
	if err != nil {
		return dst, true, err
	}
	return out, true, nil
}

// kplRef is a user record before its keys are looked up: protobuf allows
// the tables after the records.
type kplRef struct {
	pk, ehk uint64
	hasEHK  bool
	data    []byte
}

// decodeAggregated decodes AggregatedRecord {repeated string
// partition_key_table = 1; repeated string explicit_hash_key_table = 2;
// repeated Record records = 3}. Unknown fields are skipped, as protobuf
// does.
func decodeAggregated(dst []KPLRecord, b []byte, limit int) ([]KPLRecord, error) {
	nKeys, nRecords := countFields(b)
	if limit >= 0 && nRecords > limit {
		return dst, fmt.Errorf("more than %d user records (max_records)", limit)
	}
	var (
		pks  = make([]string, 0, nKeys)
		ehks []string
		refs = make([]kplRef, 0, nRecords)
	)
	dst = slices.Grow(dst, nRecords)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return dst, fmt.Errorf("protobuf: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if num >= 1 && num <= 3 && typ != protowire.BytesType {
			return dst, fmt.Errorf("protobuf: field %d has wire type %d, want bytes", num, typ)
		}
		var v []byte
		if typ == protowire.BytesType {
			v, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return dst, fmt.Errorf("protobuf: field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		switch num {
		case 1:
			pks = append(pks, string(v))
		case 2:
			ehks = append(ehks, string(v))
		case 3:
			r, err := decodeKPLRecord(v)
			if err != nil {
				return dst, fmt.Errorf("record %d: %w", len(refs), err)
			}
			refs = append(refs, r)
		}
	}
	n := len(dst)
	for i, r := range refs {
		if r.pk >= uint64(len(pks)) {
			return dst[:n], fmt.Errorf("record %d: partition_key_index %d is out of range (%d partition keys)", i, r.pk, len(pks))
		}
		rec := KPLRecord{PartitionKey: pks[r.pk], Data: r.data}
		if r.hasEHK {
			if r.ehk >= uint64(len(ehks)) {
				return dst[:n], fmt.Errorf("record %d: explicit_hash_key_index %d is out of range (%d explicit hash keys)", i, r.ehk, len(ehks))
			}
			rec.ExplicitHashKey = ehks[r.ehk]
		}
		dst = append(dst, rec)
	}
	return dst, nil
}

// countFields counts the partition keys (field 1) and records (field 3) of
// an AggregatedRecord, to size what decoding it makes; it stops at the
// first field that does not parse, which decoding then reports.
func countFields(b []byte) (keys, records int) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return keys, records
		}
		b = b[n:]
		if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
			return keys, records
		}
		b = b[n:]
		switch num {
		case 1:
			keys++
		case 3:
			records++
		}
	}
	return keys, records
}

// decodeKPLRecord decodes Record {required uint64 partition_key_index = 1;
// optional uint64 explicit_hash_key_index = 2; required bytes data = 3;
// repeated Tag tags = 4}; tags are skipped.
func decodeKPLRecord(b []byte) (kplRef, error) {
	var (
		r              kplRef
		hasPK, hasData bool
	)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return r, fmt.Errorf("protobuf: %w", protowire.ParseError(n))
		}
		b = b[n:]
		want := protowire.VarintType
		switch num {
		case 3:
			want = protowire.BytesType
		case 1, 2:
		default:
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return r, fmt.Errorf("protobuf: field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		if typ != want {
			return r, fmt.Errorf("protobuf: field %d has wire type %d, want %d", num, typ, want)
		}
		var v uint64
		if num == 3 {
			r.data, n = protowire.ConsumeBytes(b)
			hasData = true
		} else {
			v, n = protowire.ConsumeVarint(b)
		}
		if n < 0 {
			return r, fmt.Errorf("protobuf: field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		switch num {
		case 1:
			r.pk, hasPK = v, true
		case 2:
			r.ehk, r.hasEHK = v, true
		}
	}
	switch {
	case !hasPK:
		return r, errors.New("no partition_key_index (required)")
	case !hasData:
		return r, errors.New("no data (required)")
	}
	return r, nil
}

// NewKPLDeaggregate builds kpl_deaggregate: each record the Kinesis
// Producer Library aggregated (it starts with KPLMagic) becomes its user
// records, in order, each with its own Kinesis partition key; what Firehose
// does to KPL records read from a Kinesis stream. A record without the
// magic passes through unchanged (the KPL sends small batches
// unaggregated). An aggregate that does not decode (see DecodeKPL) fails
// whole, with error code Transform.KPLAggregateError and a message saying
// what is wrong.
//
//	transforms:
//	  - type: kpl_deaggregate
//	    partition_key: pk    # optional
//	    max_records: 50000   # per aggregate
//
// With partition_key, each output record's Kinesis partition key is also
// its partition key of that name (!{partitionKeyFromQuery:pk} in a
// prefix), the unaggregated ones' too; a key that cannot be one path
// segment fails its record alone (Transform.PartitionKeyError). An
// aggregate of more than max_records user records fails whole: each
// record out costs a few hundred bytes beyond its data, so that bounds
// what one aggregate of tiny records can hold (a 1 MiB aggregate holds
// up to about 170,000).
func NewKPLDeaggregate(_ Env, options map[string]any) (Transform, error) {
	o := NewOptions(options)
	key := o.String("partition_key", "")
	limit := o.Int("max_records", 50_000)
	if limit < 1 || limit > 1_000_000 {
		o.Fail("max_records", "must be 1..1000000, not %d", limit)
	}
	if err := o.Err(); err != nil {
		return nil, err
	}
	return Func(func(r buffer.Record) Output {
		return deaggregate(r, key, limit)
	}), nil
}

// deaggregate is kpl_deaggregate on one record; key names the partition
// key that takes each record's Kinesis partition key ("" for none); an
// aggregate of more than limit records fails.
func deaggregate(r buffer.Record, key string, limit int) Output {
	recs, isAggregate, err := decodeKPL(nil, r.Data, limit)
	switch {
	case err != nil:
		return failedOutput(codeKPLAggregateError, "KPL aggregate: "+err.Error())
	case !isAggregate:
		return kplOutput(r.Data, "", r.PartitionKey, key)
	case len(recs) == 0:
		return Output{Result: Dropped} // an aggregate of no records yields none
	}
	out := kplOutput(recs[0].Data, recs[0].PartitionKey, r.PartitionKey, key)
	if len(recs) > 1 {
		out.More = make([]Output, len(recs)-1)
		for i, sub := range recs[1:] {
			out.More[i] = kplOutput(sub.Data, sub.PartitionKey, r.PartitionKey, key)
		}
	}
	return out
}

// kplOutput is one record out of kpl_deaggregate: data with its Kinesis
// partition key (pk; "" keeps the input's, inputPK), under partition key
// name key when that is set.
func kplOutput(data []byte, pk, inputPK, key string) Output {
	o := Output{Result: Ok, Data: data, PartitionKey: pk}
	if key == "" {
		return o
	}
	effective := pk
	if effective == "" {
		effective = inputPK
	}
	if msg := partitionkey.Unsafe(effective); msg != "" {
		return Output{Result: ProcessingFailed, Data: data, PartitionKey: pk, ErrorCode: codePartitionKeyError,
			ErrorMessage: fmt.Sprintf("partition key %q (the Kinesis partition key) %s", key, msg)}
	}
	o.PartitionKeys = map[string]string{key: effective}
	return o
}
