package awsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/shards"
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

// BenchmarkEncodeGetRecords measures encoding a 1,000-record GetRecords
// page as the server writes it (streamed), and with json.Marshal (how CBOR
// answers, and JSON ones before streaming, were made): B/op is what an
// answer holds besides its records.
func BenchmarkEncodeGetRecords(b *testing.B) {
	var out getRecordsResponse
	for i := range 1000 {
		out.Records = append(out.Records, kinesisOutRecord{SequenceNumber: fmt.Sprint(1<<20 + i),
			Data: []byte(strings.Repeat("y", 1024)), PartitionKey: "k"})
	}
	b.Run("streamed", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(1000 * 1024)
		for b.Loop() {
			if err := writeStream(io.Discard, out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(1000 * 1024)
		for b.Loop() {
			if _, err := json.Marshal(out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkKinesisPutRecords is the Kinesis API's whole put path: a
// 100-record PutRecords request through the handler into a real shard log
// (4 shards, fsync by interval). Metrics must not add allocations per record.
func BenchmarkKinesisPutRecords(b *testing.B) {
	const records = 100
	req := putRecordsRequest{streamRef: streamRef{StreamName: "clicks"}}
	for i := range records {
		req.Records = append(req.Records, kinesisRecord{
			Data: []byte(fmt.Sprintf("{\"seq\":%d,\"pad\":%q}", i, strings.Repeat("x", 180))), PartitionKey: fmt.Sprint(i)})
	}
	benchmarkPut(b, "Kinesis_20131202.PutRecords", req, records)
}

// BenchmarkFirehosePutRecordBatch is the Firehose API's whole put path: a
// 100-record PutRecordBatch request through the handler into a DirectPut
// delivery's shard log (4 shards, fsync by interval).
func BenchmarkFirehosePutRecordBatch(b *testing.B) {
	const records = 100
	req := putRecordBatchRequest{DeliveryStreamName: "events"}
	for i := range records {
		req.Records = append(req.Records, firehoseRecord{
			Data: []byte(fmt.Sprintf("{\"seq\":%d,\"pad\":%q}", i, strings.Repeat("x", 180)))})
	}
	benchmarkPut(b, "Firehose_20150804.PutRecordBatch", req, records)
}

// benchmarkPut posts req as JSON to target on a server whose Kinesis stream
// "clicks" and DirectPut delivery "events" each have a real 4-shard log, and
// fails if the answer is not a 200 without failed records.
func benchmarkPut(b *testing.B, target string, req any, records int) {
	ctx := context.Background()
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	open := func(name string) *shards.Stream {
		st, err := store.CreateStream(ctx, shards.StreamSpec{Name: name, Shards: 4,
			Limits: shards.Limits{BytesPerSecond: 1 << 40, RecordsPerSecond: 1 << 40}})
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	s := New(NewStaticCatalog([]Stream{{Name: "clicks", Log: open("clicks")}},
		[]Delivery{{Name: "events", Log: open("events")}}), store, Options{})
	body, err := json.Marshal(req)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	start := time.Now()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("X-Amz-Target", target)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusOK || bytes.Contains(w.Body.Bytes(), []byte(`"ErrorCode"`)) {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*records), "ns/record")
}
