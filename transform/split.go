package transform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/hydrant-dev/hydrant/buffer"
)

const codeSplitError = "Transform.SplitError"

// Formats of the split transform.
const (
	SplitJSON      = "json"      // consecutive JSON objects
	SplitDelimited = "delimited" // pieces between delimiters
)

// NewSplit builds split, Firehose's RecordDeAggregation processor with
// SubRecordType JSON or DELIMITED: each record becomes the records it
// holds, in order, each keeping the input's Kinesis partition key.
//
//	transforms:
//	  - type: split
//	    format: json        # or delimited
//	    delimiter: "####"   # delimited only
//	    max_records: 500    # per input record, as Firehose
//
// json takes consecutive JSON objects, one after the other or separated by
// whitespace (JSON lines); each object is a record, as written. delimited
// cuts the record at each delimiter; empty pieces are left out. A record
// that yields no record is Dropped. A record that is not JSON objects
// (json), or that holds more than max_records records, fails whole with
// Transform.SplitError.
func NewSplit(_ Env, options map[string]any) (Transform, error) {
	o := NewOptions(options)
	requireOption(o, "format")
	format := o.String("format", "")
	delimiter := o.String("delimiter", "")
	limit := o.Int("max_records", 500)
	switch format {
	case SplitJSON:
		if delimiter != "" {
			o.Fail("delimiter", "only with format delimited")
		}
	case SplitDelimited:
		if delimiter == "" {
			o.Fail("delimiter", "required with format delimited, e.g. \"\\n\"")
		}
	case "":
	default:
		o.Fail("format", "must be json or delimited, not %q", format)
	}
	if limit < 1 || limit > 100_000 {
		o.Fail("max_records", "must be 1..100000, not %d", limit)
	}
	if err := o.Err(); err != nil {
		return nil, err
	}
	split := func(data []byte) ([][]byte, string) { return splitDelimited(data, []byte(delimiter), limit) }
	if format == SplitJSON {
		split = func(data []byte) ([][]byte, string) { return splitJSON(data, limit) }
	}
	return Func(func(r buffer.Record) Output {
		parts, problem := split(r.Data)
		switch {
		case problem != "":
			return failedOutput(codeSplitError, problem)
		case len(parts) == 0:
			return Output{Result: Dropped}
		}
		out := Output{Result: Ok, Data: parts[0]}
		if len(parts) > 1 {
			out.More = make([]Output, len(parts)-1)
			for i, p := range parts[1:] {
				out.More[i] = Output{Result: Ok, Data: p}
			}
		}
		return out
	}), nil
}

// splitDelimited cuts data at each delim, leaving out empty pieces; the
// pieces alias data.
func splitDelimited(data, delim []byte, limit int) ([][]byte, string) {
	var parts [][]byte
	for len(data) > 0 {
		piece, rest, _ := bytes.Cut(data, delim)
		data = rest
		if len(piece) == 0 {
			continue
		}
		if len(parts) == limit {
			return nil, fmt.Sprintf("the record holds more than %d records (max_records)", limit)
		}
		parts = append(parts, piece)
	}
	return parts, ""
}

// splitJSON returns the JSON objects data holds one after the other, each
// as written; they alias data.
func splitJSON(data []byte, limit int) ([][]byte, string) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var parts [][]byte
	for {
		start := skipSpace(data, int(dec.InputOffset()))
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return parts, ""
		}
		if err != nil {
			return nil, fmt.Sprintf("record %d is not JSON: %v", len(parts), err)
		}
		if raw[0] != '{' {
			return nil, fmt.Sprintf("record %d is not a JSON object: JSON objects one after the other are split, not arrays or other values", len(parts))
		}
		if len(parts) == limit {
			return nil, fmt.Sprintf("the record holds more than %d records (max_records)", limit)
		}
		end := int(dec.InputOffset())
		parts = append(parts, data[start:end:end])
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}
