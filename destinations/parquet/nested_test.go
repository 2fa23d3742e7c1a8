package parquet

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/file"
)

// nestedColumns is a schema with a struct, lists (of scalars, of structs, of
// lists), maps and a required field inside an optional struct.
func nestedColumns() []Column {
	return []Column{
		{Name: "id", Type: "int64", Required: true},
		{Name: "geo", Type: "struct", Fields: []Column{
			{Name: "city", Type: "string"},
			{Name: "lat", Type: "double", Required: true},
			{Name: "tags", Type: "list", Element: &Column{Type: "string"}},
		}},
		{Name: "scores", Type: "list", Element: &Column{Type: "int32"}},
		{Name: "items", Type: "list", Element: &Column{Type: "struct", Fields: []Column{
			{Name: "sku", Type: "string", Required: true},
			{Name: "qty", Type: "int64"},
		}}},
		{Name: "matrix", Type: "list", Element: &Column{Type: "list", Element: &Column{Type: "int64", Required: true}}},
		{Name: "attrs", Type: "map", Value: &Column{Type: "string"}},
		{Name: "counts", Type: "map", Key: &Column{Type: "int32"}, Value: &Column{Type: "list", Element: &Column{Type: "boolean"}}},
		{Name: "at", Type: "timestamp_millis", Path: "/meta/at", TimestampFormats: []string{"epoch_millis"}},
	}
}

// TestNestedRoundTrip writes nested values, with nulls at every level, and
// reads them back with arrow-go.
func TestNestedRoundTrip(t *testing.T) {
	records := []string{
		`{"id":1,"geo":{"city":"Dublin","lat":53.3,"tags":["eu","ie"]},"scores":[1,2,3],` +
			`"items":[{"sku":"a","qty":2},{"sku":"b"}],"matrix":[[1,2],[],[3]],"attrs":{"b":"2","a":"1"},` +
			`"counts":{"10":[true,null],"2":[]},"meta":{"at":1709642096789}}`,
		`{"id":2}`,
		`{"id":3,"geo":null,"scores":[],"items":[],"matrix":[],"attrs":{},"counts":{}}`,
		`{"id":4,"geo":{"lat":0,"tags":[null,"x"]},"scores":[null],"items":[null,{"sku":"c","qty":null}],` +
			`"matrix":[null,[4]],"attrs":{"k":null},"counts":{"7":null}}`,
		`{"id":5,"geo":{"lat":1.5,"tags":null},"scores":null,"matrix":[[5,6,7]]}`,
	}
	s := mustSchema(t, nestedColumns()...)
	// Several small pages, so that pages must end at row boundaries.
	data, failed := encode(t, s, append(slices5(records), records...), Options{})
	if len(failed) != 0 {
		t.Fatalf("failed: %v", failed)
	}
	_, cols := readBack(t, data)
	type row = map[string]any
	want := []row{
		{"id": int64(1), "geo": map[string]any{"city": "Dublin", "lat": 53.3, "tags": []any{"eu", "ie"}},
			"scores": []any{int32(1), int32(2), int32(3)},
			"items":  []any{map[string]any{"sku": "a", "qty": int64(2)}, map[string]any{"sku": "b", "qty": nil}},
			"matrix": []any{[]any{int64(1), int64(2)}, []any{}, []any{int64(3)}},
			"attrs":  []any{[]any{"a", "1"}, []any{"b", "2"}},
			"counts": []any{[]any{int32(10), []any{true, nil}}, []any{int32(2), []any{}}},
			"at":     int64(1709642096789)},
		{"id": int64(2), "geo": nil, "scores": nil, "items": nil, "matrix": nil, "attrs": nil, "counts": nil, "at": nil},
		{"id": int64(3), "geo": nil, "scores": []any{}, "items": []any{}, "matrix": []any{}, "attrs": []any{}, "counts": []any{}, "at": nil},
		{"id": int64(4), "geo": map[string]any{"city": nil, "lat": 0.0, "tags": []any{nil, "x"}},
			"scores": []any{nil},
			"items":  []any{nil, map[string]any{"sku": "c", "qty": nil}},
			"matrix": []any{nil, []any{int64(4)}},
			"attrs":  []any{[]any{"k", nil}},
			"counts": []any{[]any{int32(7), nil}},
			"at":     nil},
		{"id": int64(5), "geo": map[string]any{"city": nil, "lat": 1.5, "tags": nil}, "scores": nil, "items": nil,
			"matrix": []any{[]any{int64(5), int64(6), int64(7)}}, "attrs": nil, "counts": nil, "at": nil},
	}
	n := len(cols["id"])
	if n != 6000+len(records) {
		t.Fatalf("%d rows, want %d", n, 6000+len(records))
	}
	for r := 0; r < n; r++ {
		w := want[r%len(want)]
		for name, v := range w {
			if got := cols[name][r]; !reflect.DeepEqual(got, v) {
				t.Fatalf("row %d column %s: got %#v, want %#v", r, name, got, v)
			}
		}
	}
}

// slices5 repeats the records to 6000 rows, enough for more than one page
// of the repeated columns at a small page size.
func slices5(records []string) []string {
	var out []string
	for len(out) < 6000 {
		out = append(out, records...)
	}
	return out[:6000]
}

// TestNestedErrors checks that a record whose nested value does not fit
// fails alone, naming the column by its dotted path, and leaves nothing
// behind in any column.
func TestNestedErrors(t *testing.T) {
	tests := map[string]struct {
		record string
		column string
		reason string
	}{
		"struct not object":     {`{"id":1,"geo":[1]}`, "geo", "an array is not an object (struct)"},
		"required field":        {`{"id":1,"geo":{"city":"x"}}`, "geo.lat", reasonMissing},
		"list not array":        {`{"id":1,"scores":{"a":1}}`, "scores", "an object is not an array (list)"},
		"element type":          {`{"id":1,"scores":[1,"x"]}`, "scores.list.element", `value "x" is not an int32`},
		"required element":      {`{"id":1,"matrix":[[1,null]]}`, "matrix.list.element.list.element", reasonMissing},
		"struct in list":        {`{"id":1,"items":[{"qty":1}]}`, "items.list.element.sku", reasonMissing},
		"map not object":        {`{"id":1,"attrs":"x"}`, "attrs", `value "x" is not an object (map)`},
		"map key type":          {`{"id":1,"counts":{"x":[]}}`, "counts.key_value.key", `value "x" is not an int32`},
		"map value type":        {`{"id":1,"attrs":{"a":{}}}`, "attrs.key_value.value", "an object is not a string"},
		"timestamp after nests": {`{"id":1,"geo":{"lat":1},"meta":{"at":"soon"}}`, "at", `value "soon" is not a timestamp`},
	}
	s := mustSchema(t, nestedColumns()...)
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			data, failed := encode(t, s, []string{`{"id":0,"geo":{"lat":2,"tags":["t"]}}`, tt.record, `{"id":9,"matrix":[[9]]}`}, Options{})
			var cerr *ConversionError
			if err := failed[1]; !errors.As(err, &cerr) || cerr.Column != tt.column || !strings.Contains(cerr.Reason, tt.reason) {
				t.Fatalf("failed[1] = %v, want column %q reason %q", failed[1], tt.column, tt.reason)
			}
			if len(failed) != 1 {
				t.Fatalf("failed = %v, want only record 1", failed)
			}
			_, cols := readBack(t, data)
			if got := cols["id"]; !reflect.DeepEqual(got, []any{int64(0), int64(9)}) {
				t.Fatalf("ids %v", got)
			}
			if got := cols["matrix"][1]; !reflect.DeepEqual(got, []any{[]any{int64(9)}}) {
				t.Fatalf("matrix of the last row: %#v", got)
			}
			if got := cols["geo"][0]; !reflect.DeepEqual(got, map[string]any{"city": nil, "lat": 2.0, "tags": []any{"t"}}) {
				t.Fatalf("geo of the first row: %#v", got)
			}
		})
	}
}

// TestNestedSchemaErrors checks NewSchema's errors for nested declarations.
func TestNestedSchemaErrors(t *testing.T) {
	tests := map[string]struct {
		col  Column
		want string
	}{
		"struct without fields": {Column{Name: "s", Type: "struct"}, "type struct: fields must list at least one field"},
		"list without element":  {Column{Name: "l", Type: "list"}, "type list: takes an element"},
		"map without value":     {Column{Name: "m", Type: "map"}, "type map: takes a value"},
		"map json key":          {Column{Name: "m", Type: "map", Key: &Column{Type: "json"}, Value: &Column{Type: "string"}}, `key: type "json": a map's key must be a scalar type`},
		"fields on a scalar":    {Column{Name: "x", Type: "string", Fields: []Column{{Name: "a", Type: "int32"}}}, "fields, element, key and value are for struct, list and map"},
		"path on a field":       {Column{Name: "s", Type: "struct", Fields: []Column{{Name: "a", Type: "int32", Path: "/b"}}}, "fields[0] (a): path: only top-level columns take a path"},
		"duplicate field":       {Column{Name: "s", Type: "struct", Fields: []Column{{Name: "a", Type: "int32"}, {Name: "A", Type: "string"}}}, "fields[1] (A): name duplicates fields[0]"},
		"bad element type":      {Column{Name: "l", Type: "list", Element: &Column{Type: "int99"}}, `element: type "int99": must be one of`},
		"bad field name":        {Column{Name: "s", Type: "struct", Fields: []Column{{Name: "a-b", Type: "int32"}}}, "fields[0] (a-b): name must start with a letter"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := NewSchema([]Column{tt.col})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

// TestNestedPagesAndRowGroups writes a list column over several pages and
// row groups: each page must end at a row boundary, so every row reads back
// whole.
func TestNestedPagesAndRowGroups(t *testing.T) {
	s := mustSchema(t, Column{Name: "id", Type: "int64"}, Column{Name: "words", Type: "list", Element: &Column{Type: "string"}})
	var records []string
	var want [][]any
	for i := 0; i < 3000; i++ {
		n := i % 7
		words := make([]any, n)
		quoted := make([]string, n)
		for j := range words {
			w := strconv.Itoa(i) + strings.Repeat(string(rune('a'+j)), 300) // all distinct: no dictionary
			words[j], quoted[j] = w, `"`+w+`"`
		}
		want = append(want, words)
		records = append(records, `{"id":`+strconv.Itoa(i)+`,"words":[`+strings.Join(quoted, ",")+`]}`)
	}
	data, failed := encode(t, s, records, Options{RowGroupSize: 2 << 20})
	if len(failed) != 0 {
		t.Fatal(failed)
	}
	pf, cols := readBack(t, data)
	if pf.NumRowGroups() < 2 {
		t.Fatalf("%d row groups, want several", pf.NumRowGroups())
	}
	pages := 0
	for g := 0; g < pf.NumRowGroups(); g++ {
		pr, err := pf.RowGroup(g).GetColumnPageReader(1)
		if err != nil {
			t.Fatal(err)
		}
		for pr.Next() {
			if _, ok := pr.Page().(*file.DataPageV1); ok {
				pages++
			}
		}
	}
	if pages <= pf.NumRowGroups() {
		t.Fatalf("%d pages in %d row groups, want more than one page in some", pages, pf.NumRowGroups())
	}
	for i, w := range want {
		if got := cols["words"][i]; !reflect.DeepEqual(got, w) || cols["id"][i] != int64(i) {
			t.Fatalf("row %d: got %d words, want %d", i, len(got.([]any)), len(w))
		}
	}
}
