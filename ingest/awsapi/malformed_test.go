package awsapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

const (
	jsonType = "application/x-amz-json-1.1"
	cborType = "application/x-amz-cbor-1.1"
)

// cborBytes builds a CBOR document from raw pieces: heads and payloads a
// hostile client writes by hand, which no encoder would produce.
func cborBytes(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch p := p.(type) {
		case string: // a text string head and its bytes, as written
			b = append(b, 0x60|byte(len(p)))
			b = append(b, p...)
		case []byte: // raw bytes
			b = append(b, p...)
		}
	}
	return b
}

func mustCBOR(t *testing.T, v any) []byte {
	t.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Hostile requests get AWS's own error: the status, and a body
// {"__type": ..., "message": ...} in the request's protocol (JSON 1.1, or
// CBOR for a CBOR request). Rules the table pins down:
//   - Record data is opaque bytes (base64 in JSON, a byte string in CBOR),
//     but the body must be valid JSON — UTF-8 — or valid CBOR: a JSON body
//     with invalid UTF-8 is refused rather than decoded with U+FFFD in place
//     of the bytes (a partition key other than the one sent).
//   - Nesting, declared lengths and counts are bounded before anything is
//     allocated for them.
func TestHostileRequestsGetAWSErrors(t *testing.T) {
	e := newEnv(t, nil)
	records := func(n int) string {
		return `{"StreamName":"clicks","Records":[` + strings.Repeat(`{"Data":"eA==","PartitionKey":"k"},`, n-1) + `{"Data":"eA==","PartitionKey":"k"}]}`
	}
	streamKey := cborBytes([]byte{0xa3}, "StreamName", "clicks", "PartitionKey", "k", "Data")
	streamRecords := cborBytes([]byte{0xa2}, "StreamName", "clicks", "Records")
	longKey := strings.Repeat("k", 257)
	tests := map[string]struct {
		target, contentType string
		body                []byte
		status              int
		typ, message        string
	}{
		"invalid UTF-8 in a partition key is refused, not rewritten": {"Kinesis_20131202.PutRecords", jsonType,
			[]byte("{\"StreamName\":\"clicks\",\"Records\":[{\"Data\":\"eA==\",\"PartitionKey\":\"caf\xe9\"}]}"),
			400, "SerializationException", "the body is not valid JSON: it is not UTF-8 (record data goes base64-encoded in Data)"},
		"invalid UTF-8 in a CBOR text string": {"Kinesis_20131202.PutRecord", cborType,
			mustCBOR(t, map[string]any{"StreamName": "clicks", "PartitionKey": "caf\xe9", "Data": []byte("x")}),
			400, "SerializationException", "cbor: invalid UTF-8 string"},
		"100,000 nested arrays as a PutRecords body": {"Kinesis_20131202.PutRecords", jsonType,
			[]byte(strings.Repeat("[", 100_000)),
			400, "SerializationException", "invalid character '[' exceeded max depth"},
		"100,000 nested arrays inside a record": {"Kinesis_20131202.PutRecords", jsonType,
			[]byte(`{"StreamName":"clicks","Records":[{"Data":"eA==","PartitionKey":"k","x":` + strings.Repeat("[", 100_000)),
			400, "SerializationException", "invalid character '[' exceeded max depth"},
		"100,000 nested CBOR arrays": {"Kinesis_20131202.PutRecords", cborType,
			[]byte(strings.Repeat("\x81", 100_000)),
			400, "SerializationException", "cbor: exceeded max nested level 32"},
		"a CBOR body sent as JSON": {"Kinesis_20131202.PutRecord", jsonType,
			mustCBOR(t, map[string]any{"StreamName": "clicks", "PartitionKey": "k", "Data": []byte("x")}),
			400, "SerializationException", "invalid character '£' looking for beginning of value; the body looks like CBOR: send it as application/x-amz-cbor-1.1"},
		"a JSON body sent as CBOR": {"Kinesis_20131202.PutRecord", cborType,
			[]byte(`{"StreamName":"clicks","PartitionKey":"k","Data":"eA=="}`),
			400, "SerializationException", "cbor: the body ends inside the data it declares (unexpected EOF); the body looks like JSON: send it as application/x-amz-json-1.1"},
		"no X-Amz-Target": {"", jsonType, []byte(`{}`),
			400, "UnknownOperationException", "no X-Amz-Target header: it names the operation, such as Kinesis_20131202.PutRecords"},
		"an unknown X-Amz-Target": {"Kinesis_20131202.PutRecordz", jsonType, []byte(`{}`),
			400, "UnknownOperationException", `unknown operation "Kinesis_20131202.PutRecordz"`},
		"an unknown X-Amz-Target over CBOR": {"Kinesis_20131202.PutRecordz", cborType, mustCBOR(t, map[string]any{}),
			400, "UnknownOperationException", `unknown operation "Kinesis_20131202.PutRecordz"`},
		"a Content-Type that is neither": {"Kinesis_20131202.PutRecord", "text/html", []byte(`<html>`),
			400, "SerializationException", `Content-Type "text/html" is not supported: use application/x-amz-json-1.1 or application/x-amz-cbor-1.1`},
		"a CBOR byte string declaring 2^63 bytes": {"Kinesis_20131202.PutRecord", cborType,
			cborBytes(streamKey, []byte{0x5b, 0x80, 0, 0, 0, 0, 0, 0, 0}, []byte("x")),
			400, "SerializationException", "cbor: byte string length 9223372036854775808 is too large, causing integer overflow"},
		"a CBOR byte string declaring 2^62 bytes with one behind it": {"Kinesis_20131202.PutRecord", cborType,
			cborBytes(streamKey, []byte{0x5b, 0x40, 0, 0, 0, 0, 0, 0, 0}, []byte("x")),
			400, "SerializationException", "cbor: the body ends inside the data it declares (unexpected EOF)"},
		"a CBOR array declaring 2^32 records with one behind it": {"Kinesis_20131202.PutRecords", cborType,
			cborBytes(streamRecords, []byte{0x9b, 0, 0, 0, 1, 0, 0, 0, 0, 0xa0}),
			400, "SerializationException", "cbor: exceeded max number of elements 100000 for CBOR array"},
		"a CBOR array declaring 99,999 records with one behind it": {"Kinesis_20131202.PutRecords", cborType,
			cborBytes(streamRecords, []byte{0x9a, 0, 1, 0x86, 0x9f, 0xa0}),
			400, "SerializationException", "cbor: the body ends inside the data it declares (unexpected EOF)"},
		"100,000 records in one PutRecords": {"Kinesis_20131202.PutRecords", jsonType, []byte(records(100_000)),
			400, "ValidationException", "1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to 500"},
		"501 records in one PutRecordBatch": {"Firehose_20150804.PutRecordBatch", jsonType,
			[]byte(`{"DeliveryStreamName":"events","Records":[` + strings.Repeat(`{"Data":"eA=="},`, 500) + `{"Data":"eA=="}]}`),
			400, "ValidationException", "1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to 500"},
		"no records in PutRecords": {"Kinesis_20131202.PutRecords", jsonType, []byte(`{"StreamName":"clicks","Records":[]}`),
			400, "ValidationException", "1 validation error detected: Value '[]' at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		"an empty body": {"Kinesis_20131202.PutRecords", jsonType, nil,
			400, "ValidationException", "1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null"},
		"a body of only whitespace": {"Kinesis_20131202.PutRecords", jsonType, []byte(" \r\n\t "),
			400, "ValidationException", "1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null"},
		"Data that is not base64": {"Kinesis_20131202.PutRecord", jsonType,
			[]byte(`{"StreamName":"clicks","PartitionKey":"k","Data":"not base64!"}`),
			400, "SerializationException", "illegal base64 data at input byte 3"},
		"Firehose Data that is not base64": {"Firehose_20150804.PutRecordBatch", jsonType,
			[]byte(`{"DeliveryStreamName":"events","Records":[{"Data":"eA=="},{"Data":"%%%"}]}`),
			400, "SerializationException", "illegal base64 data at input byte 0"},
		"a partition key of 257 characters": {"Kinesis_20131202.PutRecord", jsonType,
			[]byte(`{"StreamName":"clicks","PartitionKey":"` + longKey + `","Data":"eA=="}`),
			400, "ValidationException", "1 validation error detected: Value '" + longKey + "' at 'partitionKey' failed to satisfy constraint: Member must have length less than or equal to 256"},
		"a partition key of 257 characters in a batch": {"Kinesis_20131202.PutRecords", jsonType,
			[]byte(`{"StreamName":"clicks","Records":[{"Data":"eA==","PartitionKey":"k"},{"Data":"eA==","PartitionKey":"` + longKey + `"}]}`),
			400, "ValidationException", "1 validation error detected: Value '" + longKey + "' at 'records.2.member.partitionKey' failed to satisfy constraint: Member must have length less than or equal to 256"},
		"an empty partition key": {"Kinesis_20131202.PutRecord", jsonType, []byte(`{"StreamName":"clicks","PartitionKey":"","Data":"eA=="}`),
			400, "ValidationException", "1 validation error detected: Value '' at 'partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		"an explicit hash key of 2^128": {"Kinesis_20131202.PutRecord", jsonType,
			[]byte(`{"StreamName":"clicks","PartitionKey":"k","Data":"eA==","ExplicitHashKey":"340282366920938463463374607431768211456"}`),
			400, "InvalidArgumentException", "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was 340282366920938463463374607431768211456"},
		"a negative explicit hash key": {"Kinesis_20131202.PutRecord", jsonType,
			[]byte(`{"StreamName":"clicks","PartitionKey":"k","Data":"eA==","ExplicitHashKey":"-1"}`),
			400, "ValidationException", `1 validation error detected: Value '-1' at 'explicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\d{0,38})`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			status, contentType, body := post(t, e.url, tt.target, tt.contentType, tt.body)
			wantType := jsonType
			if tt.contentType == cborType {
				wantType = cborType
			}
			if status != tt.status || contentType != wantType {
				t.Fatalf("got %d %s %q; want %d %s", status, contentType, body, tt.status, wantType)
			}
			if wantType == jsonType {
				want, _ := json.Marshal(map[string]string{"__type": tt.typ, "message": tt.message})
				if string(body) != string(want) {
					t.Fatalf("body\n%s\nwant\n%s", body, want)
				}
				return
			}
			var got map[string]any
			if err := cbor.Unmarshal(body, &got); err != nil {
				t.Fatalf("the error is not CBOR: %v: %x", err, body)
			}
			if want := map[string]any{"__type": tt.typ, "message": tt.message}; !reflect.DeepEqual(got, want) {
				t.Fatalf("body %v, want %v", got, want)
			}
		})
	}
	if n := messages(t, e, "clicks", 4) + messages(t, e, "events", 2); n != 0 {
		t.Fatalf("hostile requests left %d records in the log", n)
	}
}

func messages(t *testing.T, e *env, stream string, shards int) uint64 {
	t.Helper()
	var n uint64
	for shard := range shards {
		info, err := e.store.ShardInfo(t.Context(), stream, shard)
		if err != nil {
			t.Fatal(err)
		}
		n += info.Messages
	}
	return n
}

// A declared length over the request limit is refused before the body is
// read, so a client that declares 2^62 bytes and sends a few is answered
// at once instead of being waited for.
func TestAWSContentLengthOverTheLimit(t *testing.T) {
	e := newEnv(t, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second)) // a hang fails the test instead of stalling it
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nX-Amz-Target: Kinesis_20131202.PutRecord\r\n"+
		"Content-Length: 4611686018427387904\r\n\r\n{}", jsonType)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := `{"__type":"RequestEntityTooLargeException","message":"request body is over the 16777216-byte limit"}`
	if resp.StatusCode != http.StatusRequestEntityTooLarge || string(body) != want {
		t.Fatalf("got %d %s, want 413 %s", resp.StatusCode, body, want)
	}
}
