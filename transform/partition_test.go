package transform

import (
	"context"
	"strings"
	"testing"

	"github.com/hydrant-dev/hydrant/buffer"
)

func TestPartition(t *testing.T) {
	const fail = "Transform.PartitionKeyError"
	long := strings.Repeat("k", 255)
	tests := map[string]struct {
		query string
		recordCase
	}{
		"firehose example": {`{customer: .customer_id, year: (.ts | strftime("%Y"))}`, recordCase{
			in: `{"customer_id":"acme","ts":1764000000}`, result: Ok, data: `{"customer_id":"acme","ts":1764000000}`,
			keys: map[string]string{"customer": "acme", "year": "2025"}}},
		"scalars as JSON text": {`{n: .n, f: .f, g: .g, e: .e, b: .b, big: .big, neg: .neg}`, recordCase{
			in:     `{"n":42,"f":1.0,"g":1.5,"e":1e3,"b":true,"big":12345678901234567890,"neg":-7}`,
			result: Ok, data: `{"n":42,"f":1.0,"g":1.5,"e":1e3,"b":true,"big":12345678901234567890,"neg":-7}`,
			keys: map[string]string{"n": "42", "f": "1", "g": "1.5", "e": "1000", "b": "true", "big": "12345678901234567890", "neg": "-7"}}},
		"computed number": {`{half: (.n / 2)}`, recordCase{
			in: `{"n":5}`, result: Ok, data: `{"n":5}`, keys: map[string]string{"half": "2.5"}}},
		"empty string is a value": {`{k: .k}`, recordCase{
			in: `{"k":""}`, result: Ok, data: `{"k":""}`, keys: map[string]string{"k": ""}}},
		"255 bytes": {`{k: .k}`, recordCase{
			in: `{"k":"` + long + `"}`, result: Ok, data: `{"k":"` + long + `"}`, keys: map[string]string{"k": long}}},
		"256 bytes": {`{k: .k}`, recordCase{in: `{"k":"` + long + `x"}`, result: ProcessingFailed, code: fail, msg: `partition key "k" is 256 bytes long; the limit is 255`}},
		// A value is one path segment: one that would climb out of its
		// partition, or that a file system or S3 refuses (which stalled the
		// shard in retries), fails the record alone.
		"slash dot dot":    {`{k: .k}`, recordCase{in: `{"k":"a/../../other"}`, result: ProcessingFailed, code: fail, msg: `partition key "k" contains '/'`}},
		"backslash":        {`{k: .k}`, recordCase{in: `{"k":"a\\b"}`, result: ProcessingFailed, code: fail, msg: `contains '/' or '`}},
		"dot dot":          {`{k: .k}`, recordCase{in: `{"k":".."}`, result: ProcessingFailed, code: fail, msg: `partition key "k" is ".."`}},
		"NUL":              {`{k: .k}`, recordCase{in: `{"k":"a\u0000b"}`, result: ProcessingFailed, code: fail, msg: `partition key "k" contains a control character`}},
		"newline":          {`{k: .k}`, recordCase{in: `{"k":"a\nb"}`, result: ProcessingFailed, code: fail, msg: `contains a control character`}},
		"C1 control":       {`{k: .k}`, recordCase{in: `{"k":"a\u0085b"}`, result: ProcessingFailed, code: fail, msg: `contains a control character`}},
		"dot":              {`{k: .k}`, recordCase{in: `{"k":"."}`, result: ProcessingFailed, code: fail, msg: `partition key "k" is "."`}},
		"dots inside pass": {`{k: .k}`, recordCase{in: `{"k":"v1..2 = ok é"}`, result: Ok, data: `{"k":"v1..2 = ok é"}`, keys: map[string]string{"k": "v1..2 = ok é"}}},
		"missing value":    {`{customer: .customer_id}`, recordCase{in: `{"id":1}`, result: ProcessingFailed, code: fail, msg: `partition key "customer" is null or missing`}},
		"null value":       {`{customer: .customer_id}`, recordCase{in: `{"customer_id":null}`, result: ProcessingFailed, code: fail, msg: `partition key "customer" is null`}},
		"object value":     {`{c: .c}`, recordCase{in: `{"c":{"a":1}}`, result: ProcessingFailed, code: fail, msg: `partition key "c" is an object`}},
		"array value":      {`{c: .c}`, recordCase{in: `{"c":[1]}`, result: ProcessingFailed, code: fail, msg: `partition key "c" is an array`}},
		"first bad key":    {`{b: null, a: null, c: "ok"}`, recordCase{in: `{}`, result: ProcessingFailed, code: fail, msg: `partition key "a" is null`}},
		"not an object":    {`.customer_id`, recordCase{in: `{"customer_id":"acme"}`, result: ProcessingFailed, code: fail, msg: "must produce an object, got a string"}},
		"null result":      {`.x`, recordCase{in: `{}`, result: ProcessingFailed, code: fail, msg: "no object"}},
		"no output":        {`empty`, recordCase{in: `{}`, result: ProcessingFailed, code: fail, msg: "no object"}},
		"empty object":     {`{}`, recordCase{in: `{}`, result: ProcessingFailed, code: fail, msg: "no partition keys"}},
		"jq error":         {`{y: (.ts | strftime("%Y"))}`, recordCase{in: `{"ts":"soon"}`, result: ProcessingFailed, code: fail, msg: "strftime"}},
		"not JSON":         {`{a: .a}`, recordCase{in: `a=1`, result: ProcessingFailed, code: fail, msg: "not JSON"}},
		"array record":     {`{a: .a}`, recordCase{in: `[1]`, result: ProcessingFailed, code: fail, msg: "expected an object"}},
		"first output":     {`{a: .a}, {a: "second"}`, recordCase{in: `{"a":"x"}`, result: Ok, data: `{"a":"x"}`, keys: map[string]string{"a": "x"}}},
		"record unparsed":  {`{a: "k"}`, recordCase{in: " {\"z\": 1, \"a\": 2}\n", result: Ok, data: " {\"z\": 1, \"a\": 2}\n", keys: map[string]string{"a": "k"}}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			tr := mustBuild(t, NewPartition, map[string]any{"query": tt.query})
			checkRecords(t, tr, map[string]recordCase{name: tt.recordCase})
		})
	}
}

func TestPartitionKeepsData(t *testing.T) {
	tr := mustBuild(t, NewPartition, map[string]any{"query": "{c: .c}"})
	in := []buffer.Record{{Data: []byte(`{"c":"a"}`)}, {Data: []byte(`{"c":"b"}`)}}
	out, err := tr.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if &out[i].Data[0] != &in[i].Data[0] || len(out[i].Data) != len(in[i].Data) {
			t.Errorf("record %d: data was copied or changed", i)
		}
	}
	if out[0].PartitionKeys["c"] != "a" || out[1].PartitionKeys["c"] != "b" {
		t.Errorf("keys = %v, %v", out[0].PartitionKeys, out[1].PartitionKeys)
	}
}

func TestPartitionOptions(t *testing.T) {
	checkBadOptions(t, map[string]optionCase{
		"missing query":  {NewPartition, map[string]any{}, "query: required"},
		"bad query":      {NewPartition, map[string]any{"query": "{customer: .customer_id"}, "query: "},
		"unknown option": {NewPartition, map[string]any{"query": "{a: .a}", "max_key_length": 10}, "max_key_length: unknown option (valid: query, timeout)"},
	})
}

func BenchmarkPartition(b *testing.B) {
	tr := mustBuild(b, NewPartition, map[string]any{"query": `{customer: .customer_id, year: (.ts | strftime("%Y"))}`})
	recs, total := benchRecords(500, 1024)
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		out, err := tr.Process(context.Background(), recs)
		if err != nil || out[0].Result != Ok {
			b.Fatal(err, out[0])
		}
	}
}
