package parquet

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// This file reads files back with arrow-go, an implementation independent of
// the writer, so that a round trip cannot hide a bug shared by both sides.

// decimalString marks a decimal read back, as its exact text ("-1.50").
type decimalString string

// readBack opens data with arrow-go and returns the file and its columns by
// name, each value as a Go value: nil for null, string, int32, int64,
// float32, float64, bool, decimalString, and int64 for timestamps (in the
// column's unit) and int32 for dates (days since 1970-01-01).
func readBack(t testing.TB, data []byte) (*file.Reader, map[string][]any) {
	t.Helper()
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("arrow-go cannot open the file: %v", err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("arrow-go cannot map the schema: %v", err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatalf("arrow-go cannot read the table: %v", err)
	}
	defer tbl.Release()
	cols := make(map[string][]any)
	for i := 0; i < int(tbl.NumCols()); i++ {
		col := tbl.Column(i)
		var vals []any
		for _, chunk := range col.Data().Chunks() {
			for j := 0; j < chunk.Len(); j++ {
				vals = append(vals, arrowValue(t, chunk, j))
			}
		}
		if int64(len(vals)) != tbl.NumRows() {
			t.Fatalf("column %s: %d values for %d rows", col.Name(), len(vals), tbl.NumRows())
		}
		cols[col.Name()] = vals
	}
	return pf, cols
}

func arrowValue(t testing.TB, a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.Int32:
		return a.Value(i)
	case *array.Int64:
		return a.Value(i)
	case *array.Float32:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.Timestamp:
		return int64(a.Value(i))
	case *array.Date32:
		return int32(a.Value(i))
	case *array.Decimal128:
		return decimalString(a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale))
	case *array.Struct: // a map of field names to values
		st := a.DataType().(*arrow.StructType)
		m := map[string]any{}
		for f := 0; f < a.NumField(); f++ {
			m[st.Field(f).Name] = arrowValue(t, a.Field(f), i)
		}
		return m
	case *array.Map: // a list of [key, value] pairs, in order
		start, end := a.ValueOffsets(i)
		pairs := []any{}
		for j := start; j < end; j++ {
			pairs = append(pairs, []any{arrowValue(t, a.Keys(), int(j)), arrowValue(t, a.Items(), int(j))})
		}
		return pairs
	case *array.List:
		start, end := a.ValueOffsets(i)
		vals := []any{}
		for j := start; j < end; j++ {
			vals = append(vals, arrowValue(t, a.ListValues(), int(j)))
		}
		return vals
	}
	t.Fatalf("unexpected arrow array type %s", a.DataType())
	return nil
}

// encode encodes records with s and fails the test on a write error.
func encode(t testing.TB, s *Schema, records []string, opts Options) ([]byte, map[int]error) {
	t.Helper()
	recs := make([][]byte, len(records))
	for i, r := range records {
		recs[i] = []byte(r)
	}
	var buf bytes.Buffer
	failed, err := s.Encode(&buf, recs, opts)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return buf.Bytes(), failed
}

func mustSchema(t testing.TB, cols ...Column) *Schema {
	t.Helper()
	s, err := NewSchema(cols)
	if err != nil {
		t.Fatalf("NewSchema: %v", err)
	}
	return s
}

// convertOne encodes one record under a one-column schema and returns the
// value read back, or the record's conversion error.
func convertOne(t *testing.T, col Column, record string) (any, error) {
	t.Helper()
	data, failed := encode(t, mustSchema(t, col), []string{record}, Options{})
	_, cols := readBack(t, data)
	if err, ok := failed[0]; ok {
		if len(cols[col.Name]) != 0 {
			t.Fatalf("the failed record is in the file: %v", cols[col.Name])
		}
		return nil, err
	}
	if got := len(cols[col.Name]); got != 1 {
		t.Fatalf("%d rows, want 1", got)
	}
	return cols[col.Name][0], nil
}

func describe(v any) string { return fmt.Sprintf("%T(%v)", v, v) }
