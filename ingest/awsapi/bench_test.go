package awsapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkDecodePutRecords measures decoding a 500-record PutRecords body
// of 1 KiB records (base64 in JSON, byte strings in CBOR).
func BenchmarkDecodePutRecords(b *testing.B) {
	req := putRecordsRequest{streamRef: streamRef{StreamName: "clicks"}}
	for i := range 500 {
		req.Records = append(req.Records, kinesisRecord{
			Data: []byte(fmt.Sprintf("{\"seq\":%d,\"pad\":%q}", i, strings.Repeat("x", 1000))), PartitionKey: fmt.Sprint(i)})
	}
	for _, c := range []codec{jsonCodec, cborCodec} {
		body, err := c.marshal(req)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.contentType, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				var out putRecordsRequest
				if err := c.unmarshal(body, &out); err != nil || len(out.Records) != 500 {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeGetRecords measures encoding a 1,000-record GetRecords page.
func BenchmarkEncodeGetRecords(b *testing.B) {
	var out getRecordsResponse
	for i := range 1000 {
		out.Records = append(out.Records, kinesisOutRecord{SequenceNumber: fmt.Sprint(1<<20 + i),
			Data: []byte(strings.Repeat("y", 1024)), PartitionKey: "k"})
	}
	b.ReportAllocs()
	b.SetBytes(1000 * 1024)
	for b.Loop() {
		if _, err := json.Marshal(out); err != nil {
			b.Fatal(err)
		}
	}
}
