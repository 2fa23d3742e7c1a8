package parquet

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzEncode feeds arbitrary records (they come from the network) to a schema
// of every type: Encode must not panic, must report a *ConversionError for
// each record it leaves out, and must write a file arrow-go reads with the
// other records.
func FuzzEncode(f *testing.F) {
	for _, seed := range []string{
		`{"s":"x","i64":1,"price":1.5,"doc":{"a":[1,"b",null]},"address":{"city":"c"}}`,
		`{"i64":"9223372036854775807","price":"-9999999.99","us":"2024-03-05T12:34:56.123456+01:00","day":"1969-12-31"}`,
		`{"i64":1e3,"price":0,"ms":1.5e9,"f":"3.4e38","d":-0.0,"b":"true","amount":"1e-10"}`,
		`{"i64":1,"price":1,"ms":"0001-01-01 00:00:00","us":-62135596800}`,
		`[1]`, `null`, `{"i64":`, `{"i64":1,"price":1}{}`,
	} {
		f.Add([]byte(seed))
	}
	s := allTypes(f)
	f.Fuzz(func(t *testing.T, record []byte) {
		records := [][]byte{record, []byte(`{"i64":7,"price":7}`)}
		var buf bytes.Buffer
		failed, err := s.Encode(&buf, records, Options{})
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		for i, err := range failed {
			var cerr *ConversionError
			if !errors.As(err, &cerr) || i != 0 {
				t.Fatalf("record %d failed with %v", i, err)
			}
		}
		pf, cols := readBack(t, buf.Bytes())
		if want := int64(len(records) - len(failed)); pf.NumRows() != want {
			t.Fatalf("%d rows, want %d", pf.NumRows(), want)
		}
		if last := cols["i64"][len(cols["i64"])-1]; last != int64(7) {
			t.Fatalf("last row's i64 is %v, want 7", last)
		}
	})
}

// FuzzEncodeNested feeds arbitrary records to the nested schema of
// TestNestedRoundTrip: a record that fails must leave no entry behind in any
// leaf, so the record after it reads back whole.
func FuzzEncodeNested(f *testing.F) {
	for _, seed := range []string{
		`{"id":1,"geo":{"city":"D","lat":1,"tags":["a",null]},"items":[{"sku":"x"},null],"matrix":[[1],[],null]}`,
		`{"id":2,"attrs":{"a":"1","b":null},"counts":{"3":[true,null],"4":[]},"scores":[null,1]}`,
		`{"id":3,"geo":{"lat":1,"tags":{}},"counts":{"x":[]}}`, `{"id":4,"items":[{"qty":1}]}`,
		`{"id":5,"matrix":[[1,null]]}`, `{"id":6,"geo":[],"meta":{"at":"1"}}`,
	} {
		f.Add([]byte(seed))
	}
	s, err := NewSchema(nestedColumns())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, record []byte) {
		records := [][]byte{[]byte(`{"id":0,"matrix":[[0]]}`), record, []byte(`{"id":7,"geo":{"lat":7,"tags":["t"]},"matrix":[[7],[]]}`)}
		var buf bytes.Buffer
		failed, err := s.Encode(&buf, records, Options{})
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		for i, err := range failed {
			var cerr *ConversionError
			if !errors.As(err, &cerr) || i != 1 {
				t.Fatalf("record %d failed with %v", i, err)
			}
		}
		pf, cols := readBack(t, buf.Bytes())
		if want := int64(len(records) - len(failed)); pf.NumRows() != want {
			t.Fatalf("%d rows, want %d", pf.NumRows(), want)
		}
		last := len(cols["id"]) - 1
		if cols["id"][last] != int64(7) || !reflect.DeepEqual(cols["matrix"][last], []any{[]any{int64(7)}, []any{}}) ||
			!reflect.DeepEqual(cols["geo"][last], map[string]any{"city": nil, "lat": 7.0, "tags": []any{"t"}}) {
			t.Fatalf("last row: id %v matrix %#v geo %#v", cols["id"][last], cols["matrix"][last], cols["geo"][last])
		}
		if !reflect.DeepEqual(cols["matrix"][0], []any{[]any{int64(0)}}) {
			t.Fatalf("first row's matrix %#v", cols["matrix"][0])
		}
	})
}
