package awsapi

import (
	"bytes"
	"encoding/json"

	gojson "github.com/goccy/go-json"
)

// unmarshalJSON decodes an AWS JSON request body into v exactly as
// encoding/json.Unmarshal does: the same bodies are accepted, into the same
// values, and a refused body gets encoding/json's error, word for word.
//
// The put requests, which carry the records (base64 in Data), are decoded
// with goccy/go-json (v0.12.0, which decodes as encoding/json does but for
// the corner unmarshalPut steers clear of), several times faster
// (BenchmarkDecodePutRecords); FuzzJSONDecodeMatchesEncodingJSON holds them
// to encoding/json. Every other request, small and rare, is decoded by
// encoding/json itself.
func unmarshalJSON(data []byte, v any) error {
	switch v := v.(type) {
	case *putRecordsRequest:
		return unmarshalPut(data, v)
	case *putRecordBatchRequest:
		return unmarshalPut(data, v)
	case *putRecordRequest:
		return unmarshalPut(data, v)
	case *firehosePutRecordRequest:
		return unmarshalPut(data, v)
	}
	return json.Unmarshal(data, v)
}

// unmarshalPut decodes a put request with goccy/go-json. Its strings refer
// to data instead of being copied out of it (DecodeNoCopyString): a
// request's body is never changed, and the shard log is done with the
// records when Put returns.
//
// encoding/json decodes the bodies the two differ on, and a body
// goccy/go-json refuses, into a zero request: its errors are the ones users
// see, and their wording differs (goccy/go-json words type errors as Go
// 1.27 does). They differ on one kind of body: a null member after a value
// of the same []byte, as in {"Data":"eA==","Data":null}, which goccy/go-json
// ignores and encoding/json makes nil, so a body with a null member is
// decoded by encoding/json (the AWS SDKs leave out what is nil).
func unmarshalPut[T any](data []byte, v *T) error {
	if !hasNullMember(data) && gojson.UnmarshalOf(data, v, gojson.DecodeNoCopyString()) == nil {
		return nil
	}
	var zero T
	*v = zero
	return json.Unmarshal(data, v)
}

// hasNullMember reports whether data may hold an object member whose value
// is null: null after a colon and any whitespace. A null in a string may be
// taken for one, which only costs time.
func hasNullMember(data []byte) bool {
	for {
		i := bytes.Index(data, []byte("null"))
		if i < 0 {
			return false
		}
		j := i - 1
		for j >= 0 && (data[j] == ' ' || data[j] == '\t' || data[j] == '\n' || data[j] == '\r') {
			j--
		}
		if j >= 0 && data[j] == ':' {
			return true
		}
		data = data[i+len("null"):]
	}
}
