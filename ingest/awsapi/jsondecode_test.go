package awsapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// UnmarshalJSONRequest and FastJSONRequests let the differential fuzz target
// FuzzJSONDecodeMatchesEncodingJSON, in package awsapi_test, hold the JSON
// request decoder to encoding/json.
var UnmarshalJSONRequest = unmarshalJSON

// FastJSONRequests makes a zero request of each type unmarshalJSON decodes
// with goccy/go-json, by operation.
var FastJSONRequests = []struct {
	Operation string
	New       func() any
}{
	{"Kinesis PutRecords", func() any { return new(putRecordsRequest) }},
	{"Kinesis PutRecord", func() any { return new(putRecordRequest) }},
	{"Firehose PutRecordBatch", func() any { return new(putRecordBatchRequest) }},
	{"Firehose PutRecord", func() any { return new(firehosePutRecordRequest) }},
}

// Hostile bodies are refused as encoding/json refuses them, with its
// message, and at once: nesting is bounded before it is followed.
func TestUnmarshalJSONHostileBodies(t *testing.T) {
	deep := strings.Repeat("[", 100_000)
	tests := map[string]string{
		"100,000 nested arrays":                      deep,
		"100,000 nested objects":                     strings.Repeat(`{"a":`, 100_000),
		"10 MB of [":                                 strings.Repeat("[", 10<<20),
		"10 MB of {":                                 strings.Repeat("{", 10<<20),
		"100,000 nested arrays in Records":           `{"Records":` + deep,
		"100,000 nested arrays in a record":          `{"Records":[{"x":` + deep,
		"100,000 nested arrays in Data":              `{"Records":[{"Data":` + deep,
		"100,000 nested arrays in an unknown member": `{"StreamName":"clicks","x":` + deep,
		"10,000 nested arrays in an unknown member":  `{"x":` + strings.Repeat("[", 10_000) + strings.Repeat("]", 10_000) + `}`,
		"10,001 nested arrays in an unknown member":  `{"x":` + strings.Repeat("[", 10_001) + strings.Repeat("]", 10_001) + `}`,
		"an unterminated 10 MB string":               `{"StreamName":"` + strings.Repeat("x", 10<<20),
		"10 MB of base64 that is not":                `{"Records":[{"Data":"` + strings.Repeat("%", 10<<20) + `"}]}`,
		"100,000 records of nothing":                 `{"Records":[` + strings.Repeat(`{},`, 100_000) + `{}]}`,
		"100,000 records and a syntax error":         `{"Records":[` + strings.Repeat(`{},`, 100_000) + `{]}`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			for _, r := range FastJSONRequests {
				std, fast := r.New(), r.New()
				stdErr := json.Unmarshal([]byte(body), std)
				fastErr := unmarshalJSON([]byte(body), fast)
				if (stdErr == nil) != (fastErr == nil) || (stdErr != nil && stdErr.Error() != fastErr.Error()) {
					t.Fatalf("%s: error %v; encoding/json: %v", r.Operation, fastErr, stdErr)
				}
				if stdErr == nil && !reflect.DeepEqual(std, fast) {
					t.Fatalf("%s: decoded %+v; encoding/json: %+v", r.Operation, fast, std)
				}
			}
		})
	}
}

// The records' Data is decoded as encoding/json decodes a []byte: base64
// with padding, line breaks ignored, "" an empty (not a missing) Data, and
// an error that names the byte.
func TestUnmarshalJSONRecordData(t *testing.T) {
	tests := map[string]struct {
		body string
		want []byte
		err  string
	}{
		"base64":                 {`{"Records":[{"Data":"eA=="}]}`, []byte("x"), ""},
		"empty":                  {`{"Records":[{"Data":""}]}`, []byte{}, ""},
		"null":                   {`{"Records":[{"Data":null}]}`, nil, ""},
		"null after a value":     {`{"Records":[{"Data":"eA==","data" :` + "\n" + `null}]}`, nil, ""},
		"null in a string":       {`{"Records":[{"Data":"eA==","PartitionKey":"a:null"}]}`, []byte("x"), ""},
		"missing":                {`{"Records":[{}]}`, nil, ""},
		"escaped line breaks":    {`{"Records":[{"Data":"eA\r\n=="}]}`, []byte("x"), ""},
		"escaped characters":     {`{"Records":[{"Data":"\u0065A=="}]}`, []byte("x"), ""},
		"an array of bytes":      {`{"Records":[{"Data":[120,121]}]}`, []byte("xy"), ""},
		"no padding":             {`{"Records":[{"Data":"eA"}]}`, nil, "illegal base64 data at input byte 0"},
		"URL alphabet":           {`{"Records":[{"Data":"-_8="}]}`, nil, "illegal base64 data at input byte 0"},
		"not base64":             {`{"Records":[{"Data":"eA==","x":1},{"Data":"%%%"}]}`, nil, "illegal base64 data at input byte 0"},
		"a number":               {`{"Records":[{"Data":12}]}`, nil, "json: cannot unmarshal number into Go struct field firehoseRecord.Records.Data of type []uint8"},
		"case-insensitive names": {`{"records":[{"DATA":"eA=="}]}`, []byte("x"), ""},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var req putRecordBatchRequest
			err := unmarshalJSON([]byte(tt.body), &req)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := req.Records[0].Data; !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Data %#v, want %#v", got, tt.want)
			}
		})
	}
}
