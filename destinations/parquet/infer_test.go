package parquet

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// col and its kin build expected columns briefly.
func col(name, typ string) Column { return Column{Name: name, Type: typ} }

func structCol(name string, fields ...Column) Column {
	return Column{Name: name, Type: "struct", Fields: fields}
}

func listCol(name string, el Column) Column {
	el.Name = "element"
	return Column{Name: name, Type: "list", Element: &el}
}

func mustAuto(t testing.TB, formats ...string) *AutoSchema {
	t.Helper()
	a, err := NewAutoSchema(formats)
	if err != nil {
		t.Fatalf("NewAutoSchema: %v", err)
	}
	return a
}

func byteRecords(records []string) [][]byte {
	out := make([][]byte, len(records))
	for i, r := range records {
		out[i] = []byte(r)
	}
	return out
}

// nested returns depth levels of {"a": ...} around inner.
func nested(depth int, inner string) string {
	return strings.Repeat(`{"a":`, depth) + inner + strings.Repeat(`}`, depth)
}

// TestInfer checks the columns inferred from batches of records.
func TestInfer(t *testing.T) {
	tests := []struct {
		name    string
		records []string
		formats []string
		want    []Column
	}{
		{name: "scalars sorted by key",
			records: []string{`{"z":true,"n":1,"x":1.5,"s":"a"}`},
			want:    []Column{col("n", "int64"), col("s", "string"), col("x", "double"), col("z", "boolean")}},
		{name: "union of keys, null and missing",
			records: []string{`{"a":1}`, `{"b":"x","a":null}`, `{"c":null}`},
			want:    []Column{col("a", "int64"), col("b", "string"), col("c", "string")}},
		{name: "integers and decimals make a double",
			records: []string{`{"v":1}`, `{"v":2.5}`},
			want:    []Column{col("v", "double")}},
		{name: "4.0 and 1e3 are doubles",
			records: []string{`{"v":4.0,"w":1e3}`},
			want:    []Column{col("v", "double"), col("w", "double")}},
		{name: "an integer beyond int64 is a double",
			records: []string{`{"v":1}`, `{"v":92233720368547758070}`},
			want:    []Column{col("v", "double")}},
		{name: "a number beyond a double is a string",
			records: []string{`{"v":1e400}`},
			want:    []Column{col("v", "string")}},
		{name: "conflicting scalars are a string",
			records: []string{`{"v":1,"w":true,"x":"2024-03-05T12:34:56Z"}`, `{"v":"a","w":2,"x":"later"}`},
			want:    []Column{col("v", "string"), col("w", "string"), col("x", "string")}},
		{name: "timestamps",
			records: []string{`{"t":"2024-03-05T12:34:56Z","u":"2024-03-05 12:34:56.123456+0100","n":"2024-03-05T12:34:56.123456789Z"}`,
				`{"t":"2024-03-05T12:34:56.789+01:00"}`},
			want: []Column{col("n", "string"), col("t", "timestamp_millis"), col("u", "timestamp_micros")}},
		{name: "dates, numeric strings and epoch numbers stay as they are",
			records: []string{`{"d":"2024-03-05","e":1709642096,"s":"1709642096"}`},
			formats: []string{"epoch_seconds"},
			want:    []Column{col("d", "string"), col("e", "int64"), col("s", "string")}},
		{name: "timestamp_formats",
			records: []string{`{"t":"05/03/2024 12:34","u":"2024-03-05T12:34:56Z"}`},
			formats: []string{"dd/MM/yyyy HH:mm"},
			want: []Column{{Name: "t", Type: "timestamp_millis", TimestampFormats: []string{"dd/MM/yyyy HH:mm"}},
				{Name: "u", Type: "timestamp_millis", TimestampFormats: []string{"dd/MM/yyyy HH:mm"}}}},
		{name: "nested struct and list",
			records: []string{`{"geo":{"city":"Dublin","lat":53.3},"tags":["a","b"]}`, `{"geo":{"zip":"D02"},"tags":[]}`},
			want: []Column{structCol("geo", col("city", "string"), col("lat", "double"), col("zip", "string")),
				listCol("tags", col("", "string"))}},
		{name: "list of structs, list of lists",
			records: []string{`{"items":[{"sku":"a","qty":1},{"sku":"b","qty":null}],"m":[[1],[2,3]]}`},
			want: []Column{listCol("items", structCol("", col("qty", "int64"), col("sku", "string"))),
				listCol("m", listCol("", col("", "int64")))}},
		{name: "mixed list elements are json",
			records: []string{`{"l":[1,{"a":1}],"k":[1,"a"]}`},
			want:    []Column{listCol("k", col("", "string")), listCol("l", col("", "json"))}},
		{name: "object and array, object and scalar are json",
			records: []string{`{"a":{"x":1},"b":{"x":1}}`, `{"a":[1],"b":3}`},
			want:    []Column{col("a", "json"), col("b", "json")}},
		{name: "empty objects and arrays",
			records: []string{`{"o":{},"l":[]}`},
			want:    []Column{listCol("l", col("", "string")), col("o", "json")}},
		{name: "a nested key that is not a column name makes json",
			records: []string{`{"h":{"Content-Type":"text/plain"},"c":{"a":1,"A":2}}`},
			want:    []Column{col("c", "json"), col("h", "json")}},
		{name: "top-level names made valid",
			records: []string{`{"":1,"a-b":2,"a_b":3,"9lives":4,"ID":5,"id":6,"é":7,"~/":8}`},
			want: []Column{{Name: "_", Type: "int64", Path: "/"}, {Name: "_9lives", Type: "int64", Path: "/9lives"},
				col("ID", "int64"), {Name: "a_b_2", Type: "int64", Path: "/a-b"}, col("a_b", "int64"),
				{Name: "id_2", Type: "int64", Path: "/id"}, {Name: "__", Type: "int64", Path: "/~0~1"},
				{Name: "___2", Type: "int64", Path: "/é"}}},
		{name: "duplicate keys: the last wins, as Encode reads them",
			records: []string{`{"a":1,"a":"x"}`},
			want:    []Column{col("a", "string")}},
		{name: "depth is capped",
			records: []string{nested(MaxInferDepth+3, "1")},
			want:    []Column{nestedCol(MaxInferDepth-1, col("a", "json"))}},
		{name: "records that are not objects are skipped",
			records: []string{`[1]`, `"s"`, `{"a":1}`, `{`, `null`},
			want:    []Column{col("a", "int64")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cols, failed := mustAuto(t, tt.formats...).Infer(byteRecords(tt.records))
			if len(failed) != 0 {
				t.Fatalf("failed: %v", failed)
			}
			if !reflect.DeepEqual(cols, tt.want) {
				t.Fatalf("columns\n got %+v\nwant %+v", cols, tt.want)
			}
			if _, err := NewSchema(cols); err != nil {
				t.Fatalf("the inferred columns do not compile: %v", err)
			}
		})
	}
}

// nestedCol wraps inner in levels structs named a.
func nestedCol(levels int, inner Column) Column {
	for range levels {
		inner = structCol("a", inner)
	}
	return inner
}

// TestInferColumnCap checks that a record that would make a file of more than
// MaxInferColumns columns goes to the error output alone, whichever record
// it is, and that the file holds the others.
func TestInferColumnCap(t *testing.T) {
	wide := func(prefix string, n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"%s%d":%d`, prefix, i, i)
		}
		return b.String() + "}"
	}
	tests := []struct {
		name    string
		records []string
		failed  []int
		columns int
	}{
		{name: "at the cap", records: []string{wide("a", MaxInferColumns)}, columns: MaxInferColumns},
		{name: "one record over", records: []string{`{"x":1}`, wide("a", MaxInferColumns+1), `{"x":2}`},
			failed: []int{1}, columns: 1},
		{name: "the union over", records: []string{wide("a", 600), wide("b", 600), wide("a", 10)},
			failed: []int{1}, columns: 600},
		{name: "nested leaves count", records: []string{`{"s":` + wide("a", MaxInferColumns) + `}`, `{"t":1}`},
			failed: []int{1}, columns: MaxInferColumns},
		{name: "a type change that adds no column", records: []string{wide("a", MaxInferColumns), `{"a1":"x"}`},
			columns: MaxInferColumns},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustAuto(t)
			records := byteRecords(tt.records)
			var buf bytes.Buffer
			failed, err := a.Encode(&buf, records, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for i, err := range failed {
				var cerr *ConversionError
				if !errors.As(err, &cerr) || !strings.Contains(cerr.Reason, "more than 1000") {
					t.Fatalf("record %d: %v", i, err)
				}
				got = append(got, i)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.failed) && !(len(got) == 0 && len(tt.failed) == 0) {
				t.Fatalf("failed %v, want %v", got, tt.failed)
			}
			pf, _ := readBack(t, buf.Bytes())
			if n := pf.MetaData().Schema.NumColumns(); n != tt.columns {
				t.Fatalf("%d columns, want %d", n, tt.columns)
			}
			if want := int64(len(records) - len(tt.failed)); pf.NumRows() != want {
				t.Fatalf("%d rows, want %d", pf.NumRows(), want)
			}
		})
	}
}

// BenchmarkInferSchema infers the columns of 1,000 access-log records of
// about 500 bytes (benchRecords: 20 keys, a nested object, an array,
// RFC 3339 timestamps); Encode then encodes them as BenchmarkEncode does.
// MB/s is of JSON input.
func BenchmarkInferSchema(b *testing.B) {
	records := benchRecords(1000)
	var in int64
	for _, r := range records {
		in += int64(len(r))
	}
	a := mustAuto(b)
	b.ReportAllocs()
	b.SetBytes(in)
	for b.Loop() {
		cols, failed := a.Infer(records)
		if len(cols) != 20 || failed != nil {
			b.Fatalf("%d columns, failed %v", len(cols), failed)
		}
	}
}

// BenchmarkAutoSchemaEncode infers and encodes the 10,000 records of
// BenchmarkEncode (snappy), to set beside its declared schema's time.
func BenchmarkAutoSchemaEncode(b *testing.B) {
	records := benchRecords(10_000)
	var in int64
	for _, r := range records {
		in += int64(len(r))
	}
	a := mustAuto(b)
	var out bytes.Buffer
	b.ReportAllocs()
	b.SetBytes(in)
	for b.Loop() {
		out.Reset()
		if failed, err := a.Encode(&out, records, Options{}); err != nil || failed != nil {
			b.Fatalf("Encode: %v %v", failed, err)
		}
	}
}
