package destinations

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"

	"github.com/hydrant-dev/hydrant/buffer"
)

func TestAppendJSONLines(t *testing.T) {
	b := &buffer.Batch{Records: []buffer.Record{{Data: []byte(`{"a":1}`)}, {Data: []byte("{\"b\":2}\n")}, {Data: nil}}}
	if got, want := string(AppendJSONLines(nil, b)), "{\"a\":1}\n{\"b\":2}\n\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestAppendErrorDocuments(t *testing.T) {
	at := time.UnixMilli(1764076800123)
	b := &ErrorBatch{Delivery: "d", ShardID: "shardId-000000000002", Type: ErrorTypeProcessingFailed, Records: []ErrorRecord{{
		Record:       buffer.Record{Data: []byte("raw\x00data"), PartitionKey: "k\"ey", Sequence: 42, Arrival: at},
		AttemptsMade: 3, ErrorCode: "Bad", ErrorMessage: "line 1: \"quoted\" \u00e9\n<tag>", AttemptEnding: at.Add(time.Second),
	}}}
	out := AppendErrorDocuments(nil, b)
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	raw, _ := base64.StdEncoding.DecodeString(doc["rawData"].(string))
	want := map[string]any{
		"attemptsMade": 3.0, "arrivalTimestamp": 1764076800123.0, "errorCode": "Bad",
		"errorMessage": "line 1: \"quoted\" \u00e9\n<tag>", "attemptEndingTimestamp": 1764076801123.0,
		"deliveryStreamName": "d", "shardId": "shardId-000000000002", "sequenceNumber": "42", "partitionKey": "k\"ey",
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %v, want %v", k, doc[k], v)
		}
	}
	if string(raw) != "raw\x00data" {
		t.Errorf("rawData = %q", raw)
	}
}

func TestAppendErrorDocumentsOfSearchDestinations(t *testing.T) {
	b := &ErrorBatch{Delivery: "d", ShardID: "shardId-000000000000", Type: "elasticsearch-failed", Records: []ErrorRecord{
		{Record: buffer.Record{Data: []byte(`{"n":"x"}`)}, ErrorCode: "mapper_parsing_exception", IndexName: "logs-2026-11-25", DocumentID: "d-shardId-000000000000-7"},
		{Record: buffer.Record{Data: []byte(`{"n":1}`)}},
	}}
	lines := strings.Split(strings.TrimSuffix(string(AppendErrorDocuments(nil, b)), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d documents, want 2", len(lines))
	}
	var indexed, plain map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &indexed); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &plain); err != nil {
		t.Fatal(err)
	}
	if indexed["esIndexName"] != "logs-2026-11-25" || indexed["esDocumentId"] != "d-shardId-000000000000-7" {
		t.Errorf("esIndexName, esDocumentId = %v, %v", indexed["esIndexName"], indexed["esDocumentId"])
	}
	if _, ok := plain["esIndexName"]; ok {
		t.Errorf("a record of another destination has esIndexName: %s", lines[1])
	}
}

func TestCompressors(t *testing.T) {
	src := []byte(strings.Repeat("{\"n\":1}\n", 1000))
	for _, name := range []string{CompressionNone, CompressionGzip, CompressionZstd, CompressionSnappy} {
		t.Run(name, func(t *testing.T) {
			c, err := newCompressor(name)
			if err != nil {
				t.Fatal(err)
			}
			packed, err := c.compress(nil, src)
			if err != nil {
				t.Fatal(err)
			}
			var back []byte
			switch name {
			case CompressionGzip:
				zr, err := gzip.NewReader(bytes.NewReader(packed))
				if err != nil {
					t.Fatal(err)
				}
				back, err = readAll(zr)
				if err != nil {
					t.Fatal(err)
				}
			case CompressionZstd:
				d, _ := zstd.NewReader(nil)
				back, err = d.DecodeAll(packed, nil)
				if err != nil {
					t.Fatal(err)
				}
			case CompressionSnappy:
				back, err = readAll(snappy.NewReader(bytes.NewReader(packed)))
				if err != nil {
					t.Fatal(err)
				}
			default:
				back = packed
			}
			if !bytes.Equal(back, src) {
				t.Fatal("round trip changed the data")
			}
		})
	}
	if _, err := newCompressor("brotli"); err == nil {
		t.Fatal("unknown compression accepted")
	}
}

func readAll(r interface{ Read([]byte) (int, error) }) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(r)
	return b.Bytes(), err
}

func benchBatch() *buffer.Batch {
	b := &buffer.Batch{}
	for i := range 5000 {
		b.Records = append(b.Records, buffer.Record{Data: fmt.Appendf(nil, "{\"seq\":%d,\"pad\":%q}", i, strings.Repeat("x", 1000))})
		b.Bytes += len(b.Records[i].Data)
	}
	return b
}

func BenchmarkAppendJSONLines(b *testing.B) {
	batch := benchBatch()
	dst := make([]byte, 0, 8<<20)
	b.ReportAllocs()
	b.SetBytes(int64(batch.Bytes))
	for b.Loop() {
		dst = AppendJSONLines(dst[:0], batch)
	}
}

func BenchmarkCompress(b *testing.B) {
	src := AppendJSONLines(nil, benchBatch())
	for _, name := range []string{CompressionGzip, CompressionZstd} {
		b.Run(name, func(b *testing.B) {
			c, _ := newCompressor(name)
			dst := make([]byte, 0, len(src))
			b.ReportAllocs()
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				dst, _ = c.compress(dst[:0], src)
			}
		})
	}
}
