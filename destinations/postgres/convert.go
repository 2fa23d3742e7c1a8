package postgres

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// RowError says why one record was not loaded. It is the value of
// destinations.RecordErrors.Failed for the record.
type RowError struct {
	Column   string // the column whose value failed, when known
	Reason   string
	SQLState string // set when Postgres rejected the row
}

func (e *RowError) Error() string {
	var b strings.Builder
	if e.SQLState != "" {
		fmt.Fprintf(&b, "postgres rejected the row (SQLSTATE %s): ", e.SQLState)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, "column %q: ", e.Column)
	}
	b.WriteString(e.Reason)
	return b.String()
}

// mapping is a resolved column: its pointer split into tokens.
type mapping struct {
	Column
	tokens []string
}

// convert turns one record into the row of COPY values, one per column.
func convert(data []byte, cols []mapping) ([]any, *RowError) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, &RowError{Reason: "record is not JSON: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &RowError{Reason: "record holds data after its JSON value"}
	}
	row := make([]any, len(cols))
	for i, c := range cols {
		v, ok := lookup(doc, c.tokens)
		if !ok || v == nil {
			continue // missing and null both load as NULL
		}
		val, err := convertValue(v, c.Type)
		if err != nil {
			return nil, &RowError{Column: c.Name, Reason: err.Error()}
		}
		row[i] = val
	}
	return row, nil
}

// lookup resolves a split JSON pointer in a decoded document.
func lookup(v any, tokens []string) (any, bool) {
	for _, tok := range tokens {
		switch n := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = n[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n) {
				return nil, false
			}
			v = n[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// convertValue checks a JSON value (decoded with UseNumber) against a column
// type and returns the Go value pgx encodes for it.
func convertValue(v any, typ string) (any, error) {
	switch typ {
	case TypeText:
		switch s := v.(type) {
		case string:
			return s, nil
		case json.Number:
			return s.String(), nil
		case bool:
			return strconv.FormatBool(s), nil
		default: // objects and arrays load as their JSON text
			b, err := json.Marshal(s)
			return string(b), err
		}
	case TypeBigint, TypeInteger:
		s, ok := numberText(v)
		if !ok {
			return nil, fmt.Errorf("%s is not a %s", describe(v), typ)
		}
		bits := 64
		if typ == TypeInteger {
			bits = 32
		}
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			if f, ferr := strconv.ParseFloat(s, 64); ferr == nil && f == math.Trunc(f) && math.Abs(f) < math.Ldexp(1, bits-1) {
				n, err = int64(f), nil // 1e3, 12.0
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s is not a %s (out of range or not an integer)", describe(v), typ)
		}
		if typ == TypeInteger {
			return int32(n), nil
		}
		return n, nil
	case TypeDouble:
		s, ok := numberText(v)
		if !ok {
			return nil, fmt.Errorf("%s is not a number", describe(v))
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not a double", describe(v))
		}
		return f, nil
	case TypeNumeric:
		s, ok := numberText(v)
		if !ok {
			return nil, fmt.Errorf("%s is not a number", describe(v))
		}
		var n pgtype.Numeric
		if err := n.ScanScientific(s); err != nil {
			return nil, fmt.Errorf("%s is not a numeric", describe(v))
		}
		return n, nil
	case TypeBoolean:
		switch b := v.(type) {
		case bool:
			return b, nil
		case string:
			if p, err := strconv.ParseBool(b); err == nil {
				return p, nil
			}
		}
		return nil, fmt.Errorf("%s is not a boolean", describe(v))
	case TypeTimestamptz:
		switch s := v.(type) {
		case string:
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
				if t, err := time.Parse(layout, s); err == nil {
					return t, nil
				}
			}
		case json.Number: // seconds since the epoch
			if f, err := s.Float64(); err == nil {
				sec, frac := math.Modf(f)
				return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
			}
		}
		return nil, fmt.Errorf("%s is not an RFC 3339 timestamp or epoch seconds", describe(v))
	case TypeDate:
		if s, ok := v.(string); ok {
			if t, err := time.Parse(time.DateOnly, s); err == nil {
				return t, nil
			}
		}
		return nil, fmt.Errorf("%s is not a date (YYYY-MM-DD)", describe(v))
	case TypeJSONB:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return json.RawMessage(b), nil
	case TypeUUID:
		if s, ok := v.(string); ok {
			if u, err := uuid.Parse(s); err == nil {
				return pgtype.UUID{Bytes: u, Valid: true}, nil
			}
		}
		return nil, fmt.Errorf("%s is not a UUID", describe(v))
	}
	return nil, errors.New("unsupported column type " + typ)
}

// numberText returns the text of a JSON number, or of a string that holds one.
func numberText(v any) (string, bool) {
	switch n := v.(type) {
	case json.Number:
		return n.String(), true
	case string:
		s := strings.TrimSpace(n)
		return s, s != ""
	}
	return "", false
}

// describe names a JSON value for an error message, shortened.
func describe(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = strconv.Quote(x)
	case json.Number:
		s = x.String()
	case bool:
		s = strconv.FormatBool(x)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	if len(s) > 64 {
		s = s[:61] + "..."
	}
	return s
}
