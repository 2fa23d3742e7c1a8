package transform

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hydrant-dev/hydrant/buffer"
)

// kplSub is a user record as the KPL writes it into an aggregate.
type kplSub struct {
	pk, ehk uint64
	hasEHK  bool
	data    string
	tags    bool // write a tag (field 4), which decoding skips
}

// kplProto encodes an AggregatedRecord as the KPL does: tables first.
func kplProto(pks, ehks []string, subs []kplSub) []byte {
	var b []byte
	for _, k := range pks {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, k)
	}
	for _, k := range ehks {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, k)
	}
	for _, s := range subs {
		var r []byte
		r = protowire.AppendTag(r, 1, protowire.VarintType)
		r = protowire.AppendVarint(r, s.pk)
		if s.hasEHK {
			r = protowire.AppendTag(r, 2, protowire.VarintType)
			r = protowire.AppendVarint(r, s.ehk)
		}
		r = protowire.AppendTag(r, 3, protowire.BytesType)
		r = protowire.AppendString(r, s.data)
		if s.tags {
			var tag []byte
			tag = protowire.AppendTag(tag, 1, protowire.BytesType)
			tag = protowire.AppendString(tag, "key")
			r = protowire.AppendTag(r, 4, protowire.BytesType)
			r = protowire.AppendBytes(r, tag)
		}
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, r)
	}
	return b
}

// kplFrame wraps protobuf bytes as an aggregated record: magic, bytes, MD5.
func kplFrame(msg []byte) []byte {
	sum := md5.Sum(msg)
	return append(append(append([]byte{}, KPLMagic...), msg...), sum[:]...)
}

func kplAggregate(pks, ehks []string, subs []kplSub) []byte {
	return kplFrame(kplProto(pks, ehks, subs))
}

func TestDecodeKPL(t *testing.T) {
	good := kplAggregate([]string{"a", "b"}, []string{"170141183460469231731687303715884105728"}, []kplSub{
		{pk: 0, data: "one"}, {pk: 1, data: "two", hasEHK: true, ehk: 0, tags: true}, {pk: 0, data: ""}})
	badSum := bytes.Clone(good)
	badSum[len(badSum)-1] ^= 0xff
	flipped := bytes.Clone(good)
	flipped[len(KPLMagic)+3] ^= 0x01
	// Tables after the records are valid protobuf.
	tablesLast := kplFrame(append(kplProto(nil, nil, []kplSub{{pk: 1, data: "x"}}), kplProto([]string{"p0", "p1"}, nil, nil)...))
	tests := []struct {
		name      string
		data      []byte
		aggregate bool
		want      []KPLRecord
		err       string // a part of the error
	}{
		{name: "not an aggregate", data: []byte(`{"a":1}`)},
		{name: "empty", data: nil},
		{name: "the magic's first bytes only", data: KPLMagic[:3]},
		{name: "three records", data: good, aggregate: true, want: []KPLRecord{
			{PartitionKey: "a", Data: []byte("one")},
			{PartitionKey: "b", ExplicitHashKey: "170141183460469231731687303715884105728", Data: []byte("two")},
			{PartitionKey: "a", Data: []byte{}}}},
		{name: "tables after the records", data: tablesLast, aggregate: true, want: []KPLRecord{{PartitionKey: "p1", Data: []byte("x")}}},
		{name: "no records", data: kplAggregate([]string{"a"}, nil, nil), aggregate: true},
		{name: "checksum altered", data: badSum, aggregate: true, err: "MD5 checksum mismatch"},
		{name: "a byte flipped", data: flipped, aggregate: true, err: "MD5 checksum mismatch"},
		{name: "shorter than the checksum", data: append(bytes.Clone(KPLMagic), 1, 2, 3), aggregate: true, err: "fewer than its MD5"},
		{name: "not protobuf", data: kplFrame([]byte{0x0a, 0x05, 'a'}), aggregate: true, err: "protobuf"},
		{name: "partition key index out of range", data: kplAggregate([]string{"a"}, nil, []kplSub{{pk: 0, data: "x"}, {pk: 1, data: "y"}}),
			aggregate: true, err: "record 1: partition_key_index 1 is out of range (1 partition keys)"},
		{name: "explicit hash key index out of range", data: kplAggregate([]string{"a"}, nil, []kplSub{{pk: 0, hasEHK: true, ehk: 0, data: "x"}}),
			aggregate: true, err: "record 0: explicit_hash_key_index 0 is out of range"},
		{name: "huge index", data: kplAggregate([]string{"a"}, nil, []kplSub{{pk: 1 << 63, data: "x"}}),
			aggregate: true, err: "out of range"},
		{name: "record without data", data: kplFrame(protowire.AppendBytes(protowire.AppendTag(kplProto([]string{"a"}, nil, nil), 3, protowire.BytesType),
			protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 0))), aggregate: true, err: "no data (required)"},
		{name: "record without partition key index", data: kplFrame(protowire.AppendBytes(protowire.AppendTag(kplProto([]string{"a"}, nil, nil), 3, protowire.BytesType),
			protowire.AppendString(protowire.AppendTag(nil, 3, protowire.BytesType), "x"))), aggregate: true, err: "no partition_key_index"},
		{name: "records field as a varint", data: kplFrame(protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 7)),
			aggregate: true, err: "field 3 has wire type 0, want bytes"},
		{name: "data as a varint", data: kplFrame(protowire.AppendBytes(protowire.AppendTag(kplProto([]string{"a"}, nil, nil), 3, protowire.BytesType),
			protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 1))), aggregate: true, err: "field 3 has wire type 0, want 2"},
		{name: "unknown fields are skipped", data: kplFrame(append(protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 5),
			kplProto([]string{"k"}, nil, []kplSub{{pk: 0, data: "v"}})...)), aggregate: true, want: []KPLRecord{{PartitionKey: "k", Data: []byte("v")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prior := []KPLRecord{{PartitionKey: "kept"}}
			got, aggregate, err := DecodeKPL(prior, tt.data)
			if aggregate != tt.aggregate {
				t.Fatalf("aggregate = %v, want %v", aggregate, tt.aggregate)
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one saying %q", err, tt.err)
				}
				if len(got) != 1 {
					t.Fatalf("a failed decode appended %d records", len(got)-1)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%q", got[1:]) != fmt.Sprintf("%q", tt.want) {
				t.Errorf("records = %q, want %q", got[1:], tt.want)
			}
		})
	}
}

// kplFlatten lists the records an output stands for as "result pk data keys".
func kplFlatten(o Output) []string {
	var got []string
	o.Records(func(_ int, r Output) bool {
		got = append(got, fmt.Sprintf("%s %s %s %v %s", r.Result, r.PartitionKey, r.Data, r.PartitionKeys, r.ErrorCode))
		return true
	})
	return got
}

func TestKPLDeaggregate(t *testing.T) {
	agg := kplAggregate([]string{"user-1", "user-2", "a/b"}, nil, []kplSub{{pk: 0, data: "r1"}, {pk: 1, data: "r2"}, {pk: 2, data: "r3"}})
	corrupt := bytes.Clone(agg)
	corrupt[10] ^= 0x40
	tests := []struct {
		name    string
		options map[string]any
		in      buffer.Record
		want    []string
	}{
		{"plain record passes through", nil, buffer.Record{Data: []byte("plain"), PartitionKey: "p"},
			[]string{"Ok  plain map[] "}},
		{"aggregate", nil, buffer.Record{Data: agg, PartitionKey: "outer"}, []string{
			"Ok user-1 r1 map[] ", "Ok user-2 r2 map[] ", "Ok a/b r3 map[] "}},
		{"corrupt aggregate fails whole", nil, buffer.Record{Data: corrupt}, []string{
			"ProcessingFailed   map[] Transform.KPLAggregateError"}},
		{"empty aggregate", nil, buffer.Record{Data: kplAggregate(nil, nil, nil)}, []string{"Dropped   map[] "}},
		{"at max_records", map[string]any{"max_records": 3}, buffer.Record{Data: agg}, []string{
			"Ok user-1 r1 map[] ", "Ok user-2 r2 map[] ", "Ok a/b r3 map[] "}},
		{"past max_records", map[string]any{"max_records": 2}, buffer.Record{Data: agg}, []string{
			"ProcessingFailed   map[] Transform.KPLAggregateError"}},
		{"partition_key: plain record keyed by its own", map[string]any{"partition_key": "pk"}, buffer.Record{Data: []byte("plain"), PartitionKey: "p"},
			[]string{"Ok  plain map[pk:p] "}},
		{"partition_key: a key that is no path segment fails alone", map[string]any{"partition_key": "pk"}, buffer.Record{Data: agg}, []string{
			"Ok user-1 r1 map[pk:user-1] ", "Ok user-2 r2 map[pk:user-2] ", "ProcessingFailed a/b r3 map[] Transform.PartitionKeyError"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := mustBuild(t, NewKPLDeaggregate, tt.options)
			out, err := tr.Process(context.Background(), []buffer.Record{tt.in})
			if err != nil || len(out) != 1 {
				t.Fatalf("Process = %d outputs, %v", len(out), err)
			}
			if got := kplFlatten(out[0]); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("records:\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
	out, _ := mustBuild(t, NewKPLDeaggregate, nil).Process(context.Background(), []buffer.Record{{Data: corrupt}})
	if msg := out[0].ErrorMessage; msg != "KPL aggregate: MD5 checksum mismatch" {
		t.Errorf("error message = %q", msg)
	}
	for _, bad := range []map[string]any{{"sub_record_type": "JSON"}, {"max_records": 0}, {"partition_key": 1}} {
		if _, err := NewKPLDeaggregate(Env{}, bad); err == nil {
			t.Errorf("options %v accepted", bad)
		}
	}
}

func FuzzDecodeKPL(f *testing.F) {
	f.Add(kplAggregate([]string{"a", "b"}, []string{"1"}, []kplSub{{pk: 0, data: "x"}, {pk: 1, hasEHK: true, data: "y", tags: true}}))
	f.Add(kplAggregate([]string{"a"}, nil, []kplSub{{pk: 3, data: "x"}}))
	f.Add(kplFrame([]byte{0x1a, 0x02, 0x08}))
	f.Add(append(bytes.Clone(KPLMagic), 0xff))
	f.Add([]byte("plain"))
	tr := mustBuild(f, NewKPLDeaggregate, map[string]any{"partition_key": "pk"})
	f.Fuzz(func(t *testing.T, data []byte) {
		// The checksum gates the decoder: fuzz the protobuf under a valid one too.
		for _, in := range [][]byte{data, kplFrame(data)} {
			recs, aggregate, err := DecodeKPL(nil, in)
			if !aggregate && (err != nil || len(recs) > 0) {
				t.Fatalf("not an aggregate, yet %d records, %v", len(recs), err)
			}
			if err != nil && len(recs) > 0 {
				t.Fatalf("failed (%v), yet %d records", err, len(recs))
			}
			if len(recs) > len(in) {
				t.Fatalf("%d records from %d bytes", len(recs), len(in))
			}
			out, perr := tr.Process(context.Background(), []buffer.Record{{Data: in, PartitionKey: "p"}})
			if perr != nil || len(out) != 1 {
				t.Fatalf("Process = %d outputs, %v", len(out), perr)
			}
			if n := out[0].Count(); err == nil && aggregate && len(recs) > 0 && n != len(recs) {
				t.Fatalf("%d records out of %d decoded", n, len(recs))
			}
		}
	})
}

// BenchmarkKPLDeaggregate splits aggregates of 100 user records of 100
// bytes each (about 11 KB, as the KPL packs them).
func BenchmarkKPLDeaggregate(b *testing.B) {
	pks := make([]string, 100)
	subs := make([]kplSub, 100)
	for i := range subs {
		pks[i] = fmt.Sprintf("user-%04d", i)
		subs[i] = kplSub{pk: uint64(i), data: strings.Repeat("x", 100)}
	}
	agg := kplAggregate(pks, nil, subs)
	recs := make([]buffer.Record, 16)
	for i := range recs {
		recs[i] = buffer.Record{Data: agg}
	}
	tr := mustBuild(b, NewKPLDeaggregate, nil)
	b.SetBytes(int64(len(agg) * len(recs)))
	b.ReportAllocs()
	for b.Loop() {
		out, err := tr.Process(context.Background(), recs)
		if err != nil || out[0].Count() != 100 {
			b.Fatal(err)
		}
	}
}
