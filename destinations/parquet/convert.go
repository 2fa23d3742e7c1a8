package parquet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// ConversionError is why one record could not be converted (missing required column, type mismatch,
// unparseable timestamp, not a JSON object...). Its message names the column.
// Column is "" when the record as a whole is at fault.
type ConversionError struct{ Column, Reason string }

func (e *ConversionError) Error() string {
	if e.Column == "" {
		return e.Reason
	}
	return fmt.Sprintf("column %q: %s", e.Column, e.Reason)
}

// The years a timestamp or date may fall in, 0001-01-01 up to (not
// including) 10000-01-01, as Unix seconds: the range of Hive and Athena.
const (
	minUnixSeconds = -62135596800
	endUnixSeconds = 253402300800
	secondsPerDay  = 86400
)

// decodeRecord decodes one record, keeping numbers as json.Number.
func decodeRecord(rec []byte) (map[string]any, *ConversionError) {
	dec := json.NewDecoder(bytes.NewReader(rec))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &ConversionError{Reason: "record is not valid JSON: " + err.Error()}
	}
	if rest := rec[dec.InputOffset():]; len(bytes.TrimSpace(rest)) > 0 {
		return nil, &ConversionError{Reason: "record is not valid JSON: data after the first value"}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &ConversionError{Reason: "record is not a JSON object"}
	}
	return obj, nil
}

// add converts v, a decoded JSON value other than null, and appends it to c.
// On error nothing is appended; the error's text is the ConversionError's reason.
func (c *chunk) add(v any, js *jsonWriter) error {
	col := c.col
	switch col.kind {
	case kindString:
		switch x := v.(type) {
		case string:
			c.appendString(x)
		case json.Number:
			c.appendString(string(x))
		case bool:
			c.appendString(strconv.FormatBool(x))
		default:
			return mismatch(v, col)
		}
	case kindJSON:
		b, err := js.compact(v)
		if err != nil {
			return err
		}
		c.appendRaw(b)
	case kindInt32, kindInt64:
		return c.addInteger(v)
	case kindFloat, kindDouble:
		return c.addFloat(v)
	case kindBoolean:
		switch x := v.(type) {
		case bool:
			c.appendBool(x)
		case string:
			if x != "true" && x != "false" {
				return mismatch(v, col)
			}
			c.appendBool(x == "true")
		default:
			return mismatch(v, col)
		}
	case kindTimestampMillis, kindTimestampMicros:
		ts, err := timestamp(v, col)
		if err != nil {
			return err
		}
		c.appendInt64(ts)
	case kindDate:
		days, err := date(v, col)
		if err != nil {
			return err
		}
		c.appendInt32(days)
	case kindDecimal:
		text, ok := numberText(v)
		if !ok {
			return mismatch(v, col)
		}
		data, err := parseDecimal(text).appendDecimal(c.data, col.precision, col.scale, col.width)
		if err != nil {
			return fmt.Errorf("%s: %w", mismatch(v, col), err)
		}
		c.appendFixed(data)
	}
	return nil
}

// addInteger appends an int32 or int64: an integer-valued number, or a string holding one.
func (c *chunk) addInteger(v any) error {
	text, ok := numberText(v)
	if !ok {
		return mismatch(v, c.col)
	}
	n, err := parseInt(text)
	if err == nil && c.col.kind == kindInt32 && (n < math.MinInt32 || n > math.MaxInt32) {
		err = errOutOfRange
	}
	if err != nil {
		return fmt.Errorf("%s: %w", mismatch(v, c.col), err)
	}
	if c.col.kind == kindInt32 {
		c.appendInt32(int32(n))
	} else {
		c.appendInt64(n)
	}
	return nil
}

// addFloat appends a float or double: a number, or a string holding one.
func (c *chunk) addFloat(v any) error {
	text, ok := numberText(v)
	if !ok {
		return mismatch(v, c.col)
	}
	size := 64
	if c.col.kind == kindFloat {
		size = 32
	}
	f, err := strconv.ParseFloat(text, size)
	if err != nil { // text is a valid number: only its range can fail
		return fmt.Errorf("%s: %w", mismatch(v, c.col), errOutOfRange)
	}
	if c.col.kind == kindFloat {
		c.appendFloat(float32(f))
	} else {
		c.appendDouble(f)
	}
	return nil
}

// numberText is the text of a JSON number, or of a string holding one (Hive's
// JSON SerDe reads "42" into a numeric column too).
func numberText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return string(x), true
	case string:
		return x, isNumber(x)
	}
	return "", false
}

// parseInt reads an integer-valued JSON number: "42", "-7", but also "4.0"
// and "1e3", whose values are integers.
func parseInt(text string) (int64, error) {
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n, nil
	}
	return parseDecimal(text).int64Value()
}

// mismatch says that v is not of the column's type.
func mismatch(v any, col *column) error {
	return fmt.Errorf("%s is not %s", show(v), col.description())
}

// show describes v for an error, cutting long strings short: a reason lands
// in error records and logs, and must not copy a whole 100 KB value.
func show(v any) string {
	const maxShown = 64
	switch x := v.(type) {
	case string:
		if len(x) > maxShown {
			cut := maxShown
			for cut > 0 && !utf8.RuneStart(x[cut]) {
				cut--
			}
			return "value " + strconv.Quote(x[:cut]) + "…"
		}
		return "value " + strconv.Quote(x)
	case json.Number:
		if len(x) > maxShown {
			return "value " + string(x[:maxShown]) + "…"
		}
		return "value " + string(x)
	case bool:
		return "value " + strconv.FormatBool(x)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("value %v", v)
}

// jsonWriter renders decoded JSON values compactly, reusing one buffer.
type jsonWriter struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func newJSONWriter() *jsonWriter {
	w := &jsonWriter{}
	w.enc = json.NewEncoder(&w.buf)
	w.enc.SetEscapeHTML(false)
	return w
}

// compact returns v as compact JSON; the result is valid until the next call.
// Object keys come out sorted and numbers keep their original text.
func (w *jsonWriter) compact(v any) ([]byte, error) {
	w.buf.Reset()
	if err := w.enc.Encode(v); err != nil {
		return nil, fmt.Errorf("cannot re-encode value as JSON: %w", err)
	}
	return bytes.TrimSuffix(w.buf.Bytes(), []byte("\n")), nil
}
