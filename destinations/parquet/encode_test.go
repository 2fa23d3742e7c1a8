package parquet

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"

	apq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/schema"
)

// allTypes is a schema with a column of every type, some required.
func allTypes(t testing.TB) *Schema {
	return mustSchema(t,
		Column{Name: "s", Type: "string"},
		Column{Name: "i32", Type: "int32"},
		Column{Name: "i64", Type: "int64", Required: true},
		Column{Name: "f", Type: "float"},
		Column{Name: "d", Type: "double"},
		Column{Name: "b", Type: "boolean"},
		Column{Name: "ms", Type: "timestamp_millis"},
		Column{Name: "us", Type: "timestamp_micros"},
		Column{Name: "day", Type: "date"},
		Column{Name: "amount", Type: "decimal(38,10)"},
		Column{Name: "price", Type: "decimal(9,2)", Required: true},
		Column{Name: "doc", Type: "json"},
		Column{Name: "city", Type: "string", Path: "/address/city"},
	)
}

func TestRoundTripAllTypes(t *testing.T) {
	big := strings.Repeat("0123456789abcdef🦀漢", 100*1024/23+1)[:100*1024] // 100 KB, cut on a byte boundary of ASCII
	records := []string{
		`{"s":"plain","i32":1,"i64":9223372036854775807,"f":1.5,"d":-2.25,"b":true,"ms":"2024-03-05T12:34:56.789Z",` +
			`"us":"2024-03-05T12:34:56.123456Z","day":"2024-03-05","amount":"1234567890123456789012345678.0123456789",` +
			`"price":1234567.89,"doc":{"z":1,"a":[true,null,"x"]},"address":{"city":"Zürich"}}`,
		`{"i64":-9223372036854775808,"price":0}`,
		`{"s":"🦀 漢字 — ✓","i32":-2147483648,"i64":0,"f":null,"d":1e300,"b":false,"ms":-1.5,"us":"1969-07-20T20:17:40.000001Z",` +
			`"day":"1900-01-01","amount":-0.0000000001,"price":-0.01,"doc":"just a string","address":{"city":null}}`,
		`{"s":"` + big + `","i64":42,"price":"7","doc":[1,{"b":{"c":[]}}],"address":"not an object"}`,
		`{"s":"","i64":1,"price":1,"doc":0.10,"day":"1969-12-31","amount":9999999999999999999999999999.9999999999}`,
	}
	data, failed := encode(t, allTypes(t), records, Options{})
	if failed != nil {
		t.Fatalf("failed: %v", failed)
	}
	pf, cols := readBack(t, data)
	want := map[string][]any{
		"s":      {"plain", nil, "🦀 漢字 — ✓", big, ""},
		"i32":    {int32(1), nil, int32(-2147483648), nil, nil},
		"i64":    {int64(math.MaxInt64), int64(math.MinInt64), int64(0), int64(42), int64(1)},
		"f":      {float32(1.5), nil, nil, nil, nil},
		"d":      {-2.25, nil, 1e300, nil, nil},
		"b":      {true, nil, false, nil, nil},
		"ms":     {micros(2024, 3, 5, 12, 34, 56, 789000) / 1000, nil, int64(-1500), nil, nil},
		"us":     {micros(2024, 3, 5, 12, 34, 56, 123456), nil, micros(1969, 7, 20, 20, 17, 40, 1), nil, nil},
		"day":    {days(2024, 3, 5), nil, int32(-25567), nil, int32(-1)},
		"amount": {decimalString("1234567890123456789012345678.0123456789"), nil, decimalString("-0.0000000001"), nil, decimalString("9999999999999999999999999999.9999999999")},
		"price":  {decimalString("1234567.89"), decimalString("0.00"), decimalString("-0.01"), decimalString("7.00"), decimalString("1.00")},
		"doc":    {`{"a":[true,null,"x"],"z":1}`, nil, `"just a string"`, `[1,{"b":{"c":[]}}]`, `0.10`},
		"city":   {"Zürich", nil, nil, nil, nil},
	}
	for name, w := range want {
		if !reflect.DeepEqual(cols[name], w) {
			t.Errorf("column %s:\n got %v\nwant %v", name, short(cols[name]), short(w))
		}
	}
	if len(cols) != len(want) {
		t.Errorf("file has %d columns, want %d", len(cols), len(want))
	}

	// The Parquet schema: physical and logical types, repetition.
	sc := pf.MetaData().Schema
	types := map[string]struct {
		phys     apq.Type
		logical  string
		required bool
	}{
		"s":      {apq.Types.ByteArray, "String", false},
		"i32":    {apq.Types.Int32, "None", false},
		"i64":    {apq.Types.Int64, "None", true},
		"f":      {apq.Types.Float, "None", false},
		"d":      {apq.Types.Double, "None", false},
		"b":      {apq.Types.Boolean, "None", false},
		"ms":     {apq.Types.Int64, "Timestamp(isAdjustedToUTC=true, timeUnit=milliseconds, is_from_converted_type=false, force_set_converted_type=false)", false},
		"us":     {apq.Types.Int64, "Timestamp(isAdjustedToUTC=true, timeUnit=microseconds, is_from_converted_type=false, force_set_converted_type=false)", false},
		"day":    {apq.Types.Int32, "Date", false},
		"amount": {apq.Types.FixedLenByteArray, "Decimal(precision=38, scale=10)", false},
		"price":  {apq.Types.FixedLenByteArray, "Decimal(precision=9, scale=2)", true},
		"doc":    {apq.Types.ByteArray, "String", false},
		"city":   {apq.Types.ByteArray, "String", false},
	}
	for i := 0; i < sc.NumColumns(); i++ {
		c := sc.Column(i)
		w := types[c.Name()]
		if c.PhysicalType() != w.phys || c.LogicalType().String() != w.logical || (c.MaxDefinitionLevel() == 0) != w.required {
			t.Errorf("column %s: %s %s required=%v, want %s %s required=%v", c.Name(), c.PhysicalType(), c.LogicalType(),
				c.MaxDefinitionLevel() == 0, w.phys, w.logical, w.required)
		}
	}
	if l := sc.Column(9).TypeLength(); l != 16 {
		t.Errorf("decimal(38,10) is %d bytes, want 16", l)
	}
	if l := sc.Column(10).TypeLength(); l != 4 {
		t.Errorf("decimal(9,2) is %d bytes, want 4", l)
	}
}

// short keeps failure messages readable when a value is 100 KB long.
func short(vals []any) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		if s, ok := v.(string); ok && len(s) > 80 {
			v = fmt.Sprintf("%s…(%d bytes)", s[:40], len(s))
		}
		out[i] = v
	}
	return out
}

func TestRowCounts(t *testing.T) {
	s := mustSchema(t,
		Column{Name: "id", Type: "int64", Required: true},
		Column{Name: "name", Type: "string"},
		Column{Name: "ts", Type: "timestamp_micros"},
	)
	record := func(i int) string {
		if i%10 == 3 {
			return fmt.Sprintf(`{"id":%d}`, i)
		}
		return fmt.Sprintf(`{"id":%d,"name":"user-%d","ts":%d.000001}`, i, i%1000, 1700000000+i)
	}
	tests := map[string]struct {
		records   int
		opts      Options
		rowGroups int // 0: don't check
	}{
		"zero rows":               {records: 0, rowGroups: 0},
		"one row":                 {records: 1, rowGroups: 1},
		"100k rows":               {records: 100_000, rowGroups: 1},
		"100k rows in row groups": {records: 100_000, opts: Options{RowGroupSize: 512 << 10}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			records := make([]string, tt.records)
			for i := range records {
				records[i] = record(i)
			}
			data, failed := encode(t, s, records, tt.opts)
			if failed != nil {
				t.Fatalf("failed: %v", failed)
			}
			pf, cols := readBack(t, data)
			if got := pf.NumRows(); got != int64(tt.records) {
				t.Fatalf("%d rows, want %d", got, tt.records)
			}
			if tt.records <= 1 && pf.NumRowGroups() != tt.rowGroups {
				t.Errorf("%d row groups, want %d", pf.NumRowGroups(), tt.rowGroups)
			}
			if tt.opts.RowGroupSize > 0 && pf.NumRowGroups() < 3 {
				t.Errorf("%d row groups of at most %d bytes, want several", pf.NumRowGroups(), tt.opts.RowGroupSize)
			}
			for _, i := range []int{0, 3, 9999, 50_000, 99_999} {
				if i >= tt.records {
					continue
				}
				wantName, wantTS := any(fmt.Sprintf("user-%d", i%1000)), any(int64(1700000000+i)*1e6+1)
				if i%10 == 3 {
					wantName, wantTS = nil, nil
				}
				if cols["id"][i] != int64(i) || cols["name"][i] != wantName || cols["ts"][i] != wantTS {
					t.Errorf("row %d: %v %v %v, want %d %v %v", i, cols["id"][i], cols["name"][i], cols["ts"][i], i, wantName, wantTS)
				}
			}
		})
	}
}

func TestAllRecordsFail(t *testing.T) {
	data, failed := encode(t, allTypes(t), []string{`[]`, `{"s":"no i64"}`}, Options{})
	if len(failed) != 2 {
		t.Fatalf("failed = %v, want both records", failed)
	}
	pf, cols := readBack(t, data)
	if pf.NumRows() != 0 || pf.NumRowGroups() != 0 || len(cols["s"]) != 0 {
		t.Fatalf("%d rows in %d row groups, want an empty file", pf.NumRows(), pf.NumRowGroups())
	}
}

func TestCompression(t *testing.T) {
	records := make([]string, 2000)
	for i := range records {
		records[i] = fmt.Sprintf(`{"s":"value %d","i32":%d,"i64":%d,"d":%d.5,"b":%v,"price":"%d.25","doc":{"n":%d}}`,
			i%7, i, i*1000, i, i%2 == 0, i, i)
	}
	tests := map[string]compress.Compression{
		"":             compress.Codecs.Snappy,
		"snappy":       compress.Codecs.Snappy,
		"uncompressed": compress.Codecs.Uncompressed,
		"gzip":         compress.Codecs.Gzip,
		"zstd":         compress.Codecs.Zstd,
	}
	for name, codec := range tests {
		t.Run("codec "+name, func(t *testing.T) {
			data, failed := encode(t, allTypes(t), records, Options{Compression: name})
			if failed != nil {
				t.Fatalf("failed: %v", failed)
			}
			pf, cols := readBack(t, data)
			md := pf.MetaData()
			for rg := 0; rg < md.NumRowGroups(); rg++ {
				for c := 0; c < md.Schema.NumColumns(); c++ {
					cc, err := md.RowGroup(rg).ColumnChunk(c)
					if err != nil {
						t.Fatal(err)
					}
					if cc.Compression() != codec {
						t.Errorf("row group %d column %d: codec %s, want %s", rg, c, cc.Compression(), codec)
					}
				}
			}
			if cols["s"][1999] != "value 4" || cols["price"][1999] != decimalString("1999.25") || cols["doc"][5] != `{"n":5}` {
				t.Errorf("values read back: %v %v %v", cols["s"][1999], cols["price"][1999], cols["doc"][5])
			}
		})
	}
}

func TestFailuresKeepOrder(t *testing.T) {
	s := mustSchema(t,
		Column{Name: "id", Type: "int64", Required: true},
		Column{Name: "at", Type: "timestamp_millis"},
		Column{Name: "tags", Type: "json"},
		Column{Name: "n", Type: "int32"},
	)
	records := []string{
		`{"id":0,"at":"2024-01-01T00:00:00Z","tags":["a"],"n":1}`,
		`{"id":1,"at":"not a time","tags":["b"]}`, // fails on "at", after "id" was added
		`{"id":"x"}`,                    // wrong type
		`{"at":"2024-01-01T00:00:00Z"}`, // missing required
		`["id",3]`,                      // not an object
		`{"id":5,"tags":{"k":"v"},"n":2147483648}`, // fails on the last column
		`{"id":6}`,
		`{"id":7,"n":"7"}`,
	}
	data, failed := encode(t, s, records, Options{})
	wantFailed := map[int]string{
		1: `column "at": value "not a time" is not a timestamp`,
		2: `column "id": value "x" is not an int64`,
		3: `column "id": required value is missing`,
		4: `record is not a JSON object`,
		5: `column "n": value 2147483648 is not an int32: out of range`,
	}
	if len(failed) != len(wantFailed) {
		t.Errorf("failed %v, want %d records", failed, len(wantFailed))
	}
	for i, want := range wantFailed {
		err := failed[i]
		var cerr *ConversionError
		if !errors.As(err, &cerr) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("record %d: error %v, want a *ConversionError starting %q", i, err, want)
		}
	}
	_, cols := readBack(t, data)
	want := map[string][]any{
		"id":   {int64(0), int64(6), int64(7)},
		"at":   {int64(1704067200000), nil, nil},
		"tags": {`["a"]`, nil, nil},
		"n":    {int32(1), nil, int32(7)},
	}
	if !reflect.DeepEqual(cols, want) {
		t.Errorf("file holds %v, want %v", cols, want)
	}
}

func TestEncodeErrors(t *testing.T) {
	s := mustSchema(t, Column{Name: "v", Type: "string"})
	records := [][]byte{[]byte(`{"v":"x"}`)}
	tests := map[string]struct {
		w    *failingWriter
		opts Options
		want string
	}{
		"unknown codec":       {w: &failingWriter{after: -1}, opts: Options{Compression: "lz4"}, want: `compression "lz4": must be one of uncompressed, snappy, gzip, zstd`},
		"negative row group":  {w: &failingWriter{after: -1}, opts: Options{RowGroupSize: -1}, want: "row group size -1: must not be negative"},
		"write fails":         {w: &failingWriter{after: 0}, want: "parquet: write: disk full"},
		"page header fails":   {w: &failingWriter{after: 1}, want: "parquet: write: disk full"},
		"page data fails":     {w: &failingWriter{after: 2}, want: "parquet: write: disk full"},
		"footer fails":        {w: &failingWriter{after: 3}, want: "parquet: write: disk full"},
		"footer length fails": {w: &failingWriter{after: 4}, want: "parquet: write: disk full"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			failed, err := s.Encode(tt.w, records, tt.opts)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || failed != nil {
				t.Fatalf("got %v, %v; want error %q", failed, err, tt.want)
			}
		})
	}
}

// failingWriter fails every write after the first `after`; -1 never fails.
type failingWriter struct{ after, writes int }

func (w *failingWriter) Write(p []byte) (int, error) {
	w.writes++
	if w.after >= 0 && w.writes > w.after {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// TestConcurrentEncode shares one Schema between goroutines (run with -race)
// and checks that Encode is deterministic.
func TestConcurrentEncode(t *testing.T) {
	s := allTypes(t)
	records := [][]byte{
		[]byte(`{"s":"a","i64":1,"price":2.5,"doc":{"b":1,"a":2},"us":1.25}`),
		[]byte(`{"s":"b","i64":2,"price":3,"doc":null,"day":"2020-02-29"}`),
	}
	var wg sync.WaitGroup
	outs := make([][]byte, 8)
	for g := range outs {
		wg.Go(func() {
			var buf bytes.Buffer
			if _, err := s.Encode(&buf, records, Options{Compression: "zstd"}); err != nil {
				t.Error(err)
			}
			outs[g] = buf.Bytes()
		})
	}
	wg.Wait()
	for g := range outs {
		if !bytes.Equal(outs[g], outs[0]) {
			t.Fatalf("goroutine %d wrote a different file", g)
		}
	}
	readBack(t, outs[0])
}

// TestLogicalTypes reads the footer's annotations the way query engines do.
func TestLogicalTypes(t *testing.T) {
	data, _ := encode(t, allTypes(t), []string{`{"i64":1,"price":1}`}, Options{})
	pf, _ := readBack(t, data)
	sc := pf.MetaData().Schema
	for _, name := range []string{"ms", "us"} {
		ts, ok := sc.Column(sc.ColumnIndexByName(name)).LogicalType().(schema.TimestampLogicalType)
		if !ok || !ts.IsAdjustedToUTC() {
			t.Errorf("column %s: logical type %v, want a timestamp adjusted to UTC", name, sc.Column(sc.ColumnIndexByName(name)).LogicalType())
		}
	}
	if got := pf.MetaData().GetCreatedBy(); !strings.HasPrefix(got, "hydrant version ") {
		t.Errorf("created_by %q", got)
	}
}
