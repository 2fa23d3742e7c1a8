package iceberg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ConversionError says why a record did not convert to a row.
type ConversionError struct{ Column, Reason string }

func (e *ConversionError) Error() string {
	if e.Column == "" {
		return e.Reason
	}
	return fmt.Sprintf("column %s: %s", e.Column, e.Reason)
}

// mapping is a column with its JSON pointer split into tokens.
type mapping struct {
	Column
	tokens []string
}

func newMappings(cols []Column) []mapping {
	m := make([]mapping, len(cols))
	for i, c := range cols {
		m[i] = mapping{Column: c, tokens: splitPointer(c.Path)}
	}
	return m
}

func splitPointer(p string) []string {
	if p == "" || p == "/" {
		return nil
	}
	parts := strings.Split(p[1:], "/")
	r := strings.NewReplacer("~1", "/", "~0", "~")
	for i := range parts {
		parts[i] = r.Replace(parts[i])
	}
	return parts
}

// lookup returns the value at tokens in v, and whether it is there.
func lookup(v any, tokens []string) (any, bool) {
	for _, t := range tokens {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[t]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// value converts one JSON value to the Go value of the column's type:
// string, int64, int32, float64, bool, arrow.Timestamp (µs, UTC) or
// arrow.Date32. A JSON null or an absent value is nil.
func value(v any, typ string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case TypeString:
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			return x.String(), nil
		case bool:
			return strconv.FormatBool(x), nil
		default: // objects and arrays: their JSON text
			b, err := json.Marshal(x)
			return string(b), err
		}
	case TypeLong, TypeInt:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s is not a number", kind(v))
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not an integer", n)
		}
		if typ == TypeInt {
			if i < math.MinInt32 || i > math.MaxInt32 {
				return nil, fmt.Errorf("%d is out of the int range", i)
			}
			return int32(i), nil
		}
		return i, nil
	case TypeDouble:
		n, ok := v.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%s is not a number", kind(v))
		}
		return n.Float64()
	case TypeBoolean:
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("%s is not a boolean", kind(v))
		}
		return b, nil
	case TypeTimestamptz:
		return timestamp(v)
	case TypeDate:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s is not a date string", kind(v))
		}
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)
		}
		return arrow.Date32FromTime(d), nil
	}
	return nil, fmt.Errorf("unknown type %s", typ)
}

// timestamp takes an RFC 3339 string (with an offset, or UTC without one)
// or epoch seconds (a number, fractions allowed).
func timestamp(v any) (any, error) {
	switch x := v.(type) {
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
			if t, err := time.Parse(layout, x); err == nil {
				return arrow.Timestamp(t.UnixMicro()), nil
			}
		}
		return nil, fmt.Errorf("%q is not an RFC 3339 timestamp", x)
	case json.Number:
		f, err := x.Float64()
		if err != nil || math.Abs(f) > 1e13 {
			return nil, fmt.Errorf("%s is not epoch seconds", x)
		}
		return arrow.Timestamp(math.Round(f * 1e6)), nil
	}
	return nil, fmt.Errorf("%s is not a timestamp", kind(v))
}

func kind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "a value"
}

// convert decodes one record into a row of values, one per mapping.
func convert(data []byte, maps []mapping) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, &ConversionError{Reason: "not JSON: " + err.Error()}
	}
	if dec.More() {
		return nil, &ConversionError{Reason: "not one JSON value"}
	}
	row := make([]any, len(maps))
	for i, m := range maps {
		v, _ := lookup(doc, m.tokens)
		x, err := value(v, m.Type)
		if err != nil {
			return nil, &ConversionError{Column: m.Name, Reason: err.Error()}
		}
		if x == nil && m.Required {
			return nil, &ConversionError{Column: m.Name, Reason: "required, and missing or null"}
		}
		row[i] = x
	}
	return row, nil
}

// build makes an Arrow record of rows with schema, whose fields are the
// mappings' columns in order.
func build(schema *arrow.Schema, rows [][]any) (arrow.RecordBatch, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for _, row := range rows {
		for i, v := range row {
			if err := appendValue(b.Field(i), v); err != nil {
				return nil, fmt.Errorf("column %s: %w", schema.Field(i).Name, err)
			}
		}
	}
	return b.NewRecordBatch(), nil
}

func appendValue(fb array.Builder, v any) error {
	if v == nil {
		fb.AppendNull()
		return nil
	}
	switch b := fb.(type) {
	case *array.StringBuilder:
		b.Append(v.(string))
	case *array.LargeStringBuilder:
		b.Append(v.(string))
	case *array.Int64Builder:
		b.Append(v.(int64))
	case *array.Int32Builder:
		b.Append(v.(int32))
	case *array.Float64Builder:
		b.Append(v.(float64))
	case *array.BooleanBuilder:
		b.Append(v.(bool))
	case *array.TimestampBuilder:
		b.Append(v.(arrow.Timestamp))
	case *array.Date32Builder:
		b.Append(v.(arrow.Date32))
	default:
		return errors.New("unsupported Arrow type " + fb.Type().String())
	}
	return nil
}
