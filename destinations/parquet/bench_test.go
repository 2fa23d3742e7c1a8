package parquet

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// benchColumns is a 20-column schema of mixed types, like a web access log.
func benchColumns() []Column {
	return []Column{
		{Name: "id", Type: "int64", Required: true},
		{Name: "request_id", Type: "string"},
		{Name: "user", Type: "string"},
		{Name: "status", Type: "string"},
		{Name: "method", Type: "string"},
		{Name: "path", Type: "string"},
		{Name: "latency_ms", Type: "double"},
		{Name: "bytes", Type: "int64"},
		{Name: "retries", Type: "int32"},
		{Name: "cached", Type: "boolean"},
		{Name: "ts", Type: "timestamp_micros"},
		{Name: "received", Type: "timestamp_millis"},
		{Name: "day", Type: "date"},
		{Name: "price", Type: "decimal(18,4)"},
		{Name: "total", Type: "decimal(38,10)"},
		{Name: "ratio", Type: "float"},
		{Name: "region", Type: "string", Path: "/geo/region"},
		{Name: "city", Type: "string", Path: "/geo/city"},
		{Name: "tags", Type: "json"},
		{Name: "meta", Type: "json"},
	}
}

// benchRecords makes n JSON records of about 500 bytes.
func benchRecords(n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	statuses := []string{"200", "200", "200", "201", "304", "404", "500"}
	methods := []string{"GET", "GET", "POST", "PUT", "DELETE"}
	regions := []string{"eu-west-1", "us-east-1", "ap-south-1"}
	cities := []string{"Dublin", "Ashburn", "Mumbai", "Zürich", "東京"}
	records := make([][]byte, n)
	for i := range records {
		ts := start.Add(time.Duration(i) * 1234567 * time.Microsecond)
		rec := fmt.Sprintf(`{"id":%d,"request_id":"%08x-%04x-%04x-%04x-%012x","user":"user-%d","status":"%s","method":"%s",`+
			`"path":"/api/v2/items/%d/details?expand=owner","latency_ms":%.3f,"bytes":%d,"retries":%d,"cached":%v,`+
			`"ts":"%s","received":%d.%03d,"day":"%s","price":"%d.%04d","total":%d.%010d,"ratio":%.4f,`+
			`"geo":{"region":"%s","city":"%s","lat":%.4f,"lon":%.4f},"tags":["a","b%d"],"meta":{"v":%d,"ok":true},`+
			`"user_agent":"Mozilla/5.0 Chrome/%d.0"}`,
			i, r.Uint32(), r.IntN(1<<16), r.IntN(1<<16), r.IntN(1<<16), r.Uint64()>>16, r.IntN(5000),
			statuses[r.IntN(len(statuses))], methods[r.IntN(len(methods))], r.IntN(100000),
			r.Float64()*900, r.IntN(1<<20), r.IntN(4), r.IntN(2) == 0,
			ts.Format(time.RFC3339Nano), ts.Unix(), r.IntN(1000), ts.Format(time.DateOnly),
			r.IntN(100000), r.IntN(10000), r.Int64N(1e15), r.Int64N(1e10), r.Float64(),
			regions[r.IntN(len(regions))], cities[r.IntN(len(cities))], r.Float64()*180-90, r.Float64()*360-180,
			r.IntN(10), i, 100+r.IntN(30))
		records[i] = []byte(rec)
	}
	return records
}

// BenchmarkEncode encodes 10,000 records of ~500 bytes into a 20-column file.
// MB/s and MiB/s are of JSON input.
func BenchmarkEncode(b *testing.B) {
	s, err := NewSchema(benchColumns())
	if err != nil {
		b.Fatal(err)
	}
	records := benchRecords(10_000)
	var in int64
	for _, r := range records {
		in += int64(len(r))
	}
	for _, codec := range []string{"uncompressed", "snappy", "gzip", "zstd"} {
		b.Run(codec, func(b *testing.B) {
			var out bytes.Buffer
			b.ReportAllocs()
			b.SetBytes(in)
			for b.Loop() {
				out.Reset()
				failed, err := s.Encode(&out, records, Options{Compression: codec})
				if err != nil || failed != nil {
					b.Fatalf("Encode: %v %v", failed, err)
				}
			}
			b.ReportMetric(float64(in)*float64(b.N)/b.Elapsed().Seconds()/(1<<20), "MiB/s")
			b.ReportMetric(float64(in)/float64(len(records)), "B/record")
			b.ReportMetric(float64(out.Len())/float64(in)*100, "%size")
		})
	}
}

// TestBenchRecordsConvert keeps the benchmark honest: every record converts.
func TestBenchRecordsConvert(t *testing.T) {
	records := benchRecords(200)
	var buf bytes.Buffer
	failed, err := mustSchema(t, benchColumns()...).Encode(&buf, records, Options{})
	if err != nil || failed != nil {
		t.Fatalf("Encode: %v %v", failed, err)
	}
	_, cols := readBack(t, buf.Bytes())
	if len(cols) != 20 || len(cols["id"]) != 200 || !strings.HasPrefix(cols["path"][0].(string), "/api/v2/items/") {
		t.Fatalf("unexpected file: %d columns", len(cols))
	}
}
