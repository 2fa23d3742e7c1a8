package parquet

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzAutoSchema feeds arbitrary batches (records one per line; they come
// from the network) to AutoSchema: Encode must not panic, every JSON object
// must convert under the columns inferred for it (only the column cap may
// leave one out), anything else must fail with a *ConversionError, the file
// must read back with arrow-go, and a second Encode must write the same bytes.
func FuzzAutoSchema(f *testing.F) {
	for _, seed := range []string{
		"{\"a\":1,\"b\":\"x\"}\n{\"a\":2.5,\"b\":true,\"c\":[1,2]}",
		"{\"t\":\"2024-03-05T12:34:56.123456Z\"}\n{\"t\":\"2024-03-05 12:34:56+0100\"}\n{\"t\":null}",
		"{\"o\":{\"x\":{\"y\":[{\"z\":1},{\"z\":\"s\"}]}}}\n{\"o\":{\"X\":1}}\n[1]\n\"s\"",
		"{\"\":1,\"a-b\":2,\"A_B\":3,\"~/\":{\"ok\":1}}\n{\"n\":1e400,\"m\":92233720368547758070}",
		"{\"l\":[[],[[1]],null]}\n{\"l\":[{\"a\":1}]}\n{}\n{\"e\":{}}",
		nested(40, "[1]"), "{", "null",
	} {
		f.Add([]byte(seed))
	}
	a, err := NewAutoSchema([]string{"yyyy/MM/dd HH:mm"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, batch []byte) {
		lines := bytes.Split(batch, []byte("\n"))
		if len(lines) > 16 {
			lines = lines[:16]
		}
		var buf bytes.Buffer
		failed, err := a.Encode(&buf, lines, Options{})
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		for i, err := range failed {
			var cerr *ConversionError
			if !errors.As(err, &cerr) {
				t.Fatalf("record %d failed with %v", i, err)
			}
			if _, derr := decodeRecord(lines[i]); derr == nil && !strings.Contains(cerr.Reason, "inferred schema") &&
				!strings.Contains(cerr.Reason, "empty object") {
				t.Fatalf("object %d %q does not convert under its inferred columns: %v", i, lines[i], err)
			}
		}
		if len(failed) == len(lines) {
			return
		}
		pf, _ := readBack(t, buf.Bytes())
		if want := int64(len(lines) - len(failed)); pf.NumRows() != want {
			t.Fatalf("%d rows, want %d", pf.NumRows(), want)
		}
		var again bytes.Buffer
		if _, err := a.Encode(&again, lines, Options{}); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
			t.Fatalf("a second Encode wrote a different file (%v)", err)
		}
	})
}
