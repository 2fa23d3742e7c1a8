package parquet

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// TestAutoSchemaReadBack writes a batch of varied records with AutoSchema
// and reads the file back with arrow-go: each column's Arrow type and every
// value, and the records that are not JSON objects in failed alone.
func TestAutoSchemaReadBack(t *testing.T) {
	records := []string{
		`{"id":1,"level":"info","ts":"2024-03-05T12:34:56.789Z","latency":0.25,"ok":true,` +
			`"geo":{"city":"Dublin","lat":53.35},"tags":["a","b"],"code":200,"payload":{"x":1}}`,
		`[1,2]`,
		`{"id":2,"level":"warn","ts":"2024-03-05 13:00:00+01:00","latency":3,"ok":false,` +
			`"geo":{"zip":"D02"},"tags":[],"code":"E42","payload":[1,"two"],"extra":null,"a-b":7}`,
		`"just a string"`,
		`{"id":3,"geo":null,"tags":null}`,
		`not json`,
	}
	var buf bytes.Buffer
	failed, err := mustAuto(t).Encode(&buf, byteRecords(records), Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantFailed := map[int]string{1: "record is not a JSON object", 3: "record is not a JSON object",
		5: "record is not valid JSON"}
	if len(failed) != len(wantFailed) {
		t.Fatalf("failed %v, want records %v", failed, wantFailed)
	}
	for i, reason := range wantFailed {
		var cerr *ConversionError
		if !errors.As(failed[i], &cerr) || !strings.HasPrefix(cerr.Reason, reason) {
			t.Fatalf("record %d: %v, want %q", i, failed[i], reason)
		}
	}

	pf, cols := readBack(t, buf.Bytes())
	if pf.NumRows() != 3 {
		t.Fatalf("%d rows, want 3", pf.NumRows())
	}
	wantTypes := map[string]string{
		"a_b":     "int64",
		"code":    "utf8",
		"extra":   "utf8",
		"geo":     "struct<city: utf8 nullable, lat: float64 nullable, zip: utf8 nullable>",
		"id":      "int64",
		"latency": "float64",
		"level":   "utf8",
		"ok":      "bool",
		"payload": "utf8",
		"tags":    "list<element: utf8, nullable>",
		"ts":      "timestamp[ms, tz=UTC]",
	}
	sch := arrowSchema(t, buf.Bytes())
	if len(sch.Fields()) != len(wantTypes) {
		t.Fatalf("columns %v, want %v", sch, wantTypes)
	}
	for i, f := range sch.Fields() {
		if got := f.Type.String(); got != wantTypes[f.Name] || !f.Nullable {
			t.Fatalf("column %d %s: %s (nullable %v), want %s, nullable", i, f.Name, got, f.Nullable, wantTypes[f.Name])
		}
	}
	want := map[string][]any{
		"a_b":     {nil, int64(7), nil},
		"code":    {"200", "E42", nil},
		"extra":   {nil, nil, nil},
		"geo":     {map[string]any{"city": "Dublin", "lat": 53.35, "zip": nil}, map[string]any{"city": nil, "lat": nil, "zip": "D02"}, nil},
		"id":      {int64(1), int64(2), int64(3)},
		"latency": {0.25, 3.0, nil},
		"level":   {"info", "warn", nil},
		"ok":      {true, false, nil},
		"payload": {`{"x":1}`, `[1,"two"]`, nil},
		"tags":    {[]any{"a", "b"}, []any{}, nil},
		"ts":      {int64(1709642096789), int64(1709640000000), nil},
	}
	for name, vals := range want {
		if !reflect.DeepEqual(cols[name], vals) {
			t.Fatalf("column %s: got %#v, want %#v", name, cols[name], vals)
		}
	}
}

// TestAutoSchemaDeterministic checks that a batch encodes to the same bytes
// every time: a re-delivered batch must rewrite the same file.
func TestAutoSchemaDeterministic(t *testing.T) {
	records := benchRecords(200)
	records = append(records, []byte(`{"zz":{"b":1,"a":[{"y":1,"x":"2024-03-05T00:00:00Z"}]},"Zz":2}`))
	a := mustAuto(t)
	var first []byte
	for run := range 20 {
		var buf bytes.Buffer
		if _, err := a.Encode(&buf, records, Options{}); err != nil {
			t.Fatal(err)
		}
		if run == 0 {
			first = buf.Bytes()
		} else if !bytes.Equal(buf.Bytes(), first) {
			t.Fatalf("run %d wrote a different file", run)
		}
	}
}

// TestAutoSchemaNoColumns checks a batch without a key: every record fails,
// the empty objects with a reason of their own.
func TestAutoSchemaNoColumns(t *testing.T) {
	failed, err := mustAuto(t).Encode(&bytes.Buffer{}, byteRecords([]string{`{}`, `1`, `{"a":null}`}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || !strings.Contains(failed[1].Error(), "not a JSON object") {
		// {"a":null} makes a string column a: {} is then a row of nulls
		t.Fatalf("failed %v, want record 1 only", failed)
	}
	failed, err = mustAuto(t).Encode(&bytes.Buffer{}, byteRecords([]string{`{}`, `1`}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 2 || !strings.Contains(failed[0].Error(), "empty object") || !strings.Contains(failed[1].Error(), "not a JSON object") {
		t.Fatalf("failed %v, want both records", failed)
	}
}

// TestNewAutoSchemaFormats checks that a bad timestamp_formats entry is an
// error naming it.
func TestNewAutoSchemaFormats(t *testing.T) {
	_, err := NewAutoSchema([]string{"epoch_millis", "yyyy-QQ"})
	if err == nil || !strings.HasPrefix(err.Error(), `timestamp_formats[1] "yyyy-QQ"`) {
		t.Fatalf("err %v", err)
	}
}

// arrowSchema is the Arrow schema arrow-go maps the file's to.
func arrowSchema(t testing.TB, data []byte) *arrow.Schema {
	t.Helper()
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	s, err := fr.Schema()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
