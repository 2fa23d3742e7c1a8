package parquet

import (
	"bytes"
	"errors"
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
