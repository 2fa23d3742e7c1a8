package analytics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hydrant-dev/hydrant/internal/jsonpointer"
)

// Column is one column of an application's input, declared as a Parquet
// schema declares it: a name, a type, and the JSON pointer of its value in
// each record (default /name).
type Column struct {
	Name string `json:"name"`
	// Type is string, int32, int64, float, double, boolean,
	// timestamp_millis, timestamp_micros, date, decimal(p,s) or json.
	Type string `json:"type"`
	Path string `json:"path,omitempty"`
}

var (
	columnName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	decimalType = regexp.MustCompile(`^decimal\((\d{1,2}),(\d{1,2})\)$`)
)

// metaColumns are the columns every input has besides its declared ones.
var metaColumns = []string{"approximate_arrival_time", "partition_key", "sequence_number", "shard_id", "window_start", "window_end"}

// sqlType returns the DuckDB type of a declared column type.
func sqlType(typ string) (string, error) {
	switch typ {
	case "string":
		return "VARCHAR", nil
	case "int32":
		return "INTEGER", nil
	case "int64":
		return "BIGINT", nil
	case "float":
		return "FLOAT", nil
	case "double":
		return "DOUBLE", nil
	case "boolean":
		return "BOOLEAN", nil
	case "timestamp_millis", "timestamp_micros":
		return "TIMESTAMP", nil
	case "date":
		return "DATE", nil
	case "json":
		return "JSON", nil
	}
	if m := decimalType.FindStringSubmatch(typ); m != nil {
		p, _ := strconv.Atoi(m[1])
		s, _ := strconv.Atoi(m[2])
		if p < 1 || p > 38 || s > p {
			return "", fmt.Errorf("type %s: precision 1..38 and scale at most the precision", typ)
		}
		return fmt.Sprintf("DECIMAL(%d,%d)", p, s), nil
	}
	return "", fmt.Errorf("type %q: want string, int32, int64, float, double, boolean, timestamp_millis, timestamp_micros, date, decimal(p,s) or json", typ)
}

// Schema is an application's compiled input columns.
type Schema struct {
	cols  []Column
	types []string // DuckDB types
	paths []jsonpointer.Pointer
}

// NewSchema compiles cols; names must be SQL identifiers, unique, and not
// one of the columns every input has.
func NewSchema(cols []Column) (*Schema, error) {
	if len(cols) == 0 {
		return nil, fmt.Errorf("schema: no columns")
	}
	s := &Schema{}
	seen := map[string]bool{}
	for _, m := range metaColumns {
		seen[m] = true
	}
	for _, c := range cols {
		if !columnName.MatchString(c.Name) {
			return nil, fmt.Errorf("column %q: a name is a letter or _ then letters, digits or _ (at most 63)", c.Name)
		}
		if seen[strings.ToLower(c.Name)] {
			return nil, fmt.Errorf("column %q: named twice, or the name of a column every input has (%s)", c.Name, strings.Join(metaColumns, ", "))
		}
		seen[strings.ToLower(c.Name)] = true
		typ, err := sqlType(c.Type)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		if c.Path == "" {
			c.Path = "/" + c.Name
		}
		ptr, err := compilePointer(c.Path)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		s.cols, s.types, s.paths = append(s.cols, c), append(s.types, typ), append(s.paths, ptr)
	}
	return s, nil
}

// Columns returns the declared columns, paths filled in.
func (s *Schema) Columns() []Column { return s.cols }

// compilePointer compiles an RFC 6901 JSON pointer, refusing a ~ that
// escapes nothing.
func compilePointer(p string) (jsonpointer.Pointer, error) {
	if p == "" || p[0] != '/' {
		return jsonpointer.Pointer{}, fmt.Errorf("path %q: a JSON pointer starts with /", p)
	}
	if strings.Contains(strings.ReplaceAll(strings.ReplaceAll(p, "~0", ""), "~1", ""), "~") {
		return jsonpointer.Pointer{}, fmt.Errorf("path %q: ~ must be followed by 0 or 1", p)
	}
	return jsonpointer.Compile(p)
}

// ConversionError is a record that does not fit the schema: its value of
// Column is not of the column's type, or it is not a JSON object.
type ConversionError struct {
	Column string // "" when the record is not JSON
	Err    error
}

func (e *ConversionError) Error() string {
	if e.Column == "" {
		return "record: " + e.Err.Error()
	}
	return "column " + e.Column + ": " + e.Err.Error()
}

// Values converts one record (JSON) to the declared columns' values, as
// the engine takes them: nil for a value the record does not have.
func (s *Schema) Values(rec []byte) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(rec))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, &ConversionError{Err: fmt.Errorf("not JSON: %w", err)}
	}
	out := make([]any, len(s.cols))
	for i, c := range s.cols {
		v, ok := s.paths[i].Resolve(doc)
		if !ok || v == nil {
			continue
		}
		cv, err := convert(v, c.Type)
		if err != nil {
			return nil, &ConversionError{Column: c.Name, Err: err}
		}
		out[i] = cv
	}
	return out, nil
}

// convert returns v as a value of a column of type typ.
func convert(v any, typ string) (any, error) {
	switch typ {
	case "string":
		if s, ok := v.(string); ok {
			return s, nil
		}
		if n, ok := v.(json.Number); ok {
			return n.String(), nil
		}
	case "int32", "int64":
		if n, ok := number(v); ok {
			i, err := strconv.ParseInt(string(n), 10, 64)
			if err != nil {
				f, ferr := strconv.ParseFloat(string(n), 64)
				if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
					return nil, fmt.Errorf("%s is not an integer", n)
				}
				i = int64(f)
			}
			if typ == "int32" {
				if i < math.MinInt32 || i > math.MaxInt32 {
					return nil, fmt.Errorf("%d is out of int32's range", i)
				}
				return int32(i), nil
			}
			return i, nil
		}
	case "float", "double":
		if n, ok := number(v); ok {
			f, err := strconv.ParseFloat(string(n), 64)
			if err != nil {
				return nil, fmt.Errorf("%s is not a number", n)
			}
			if typ == "float" {
				return float32(f), nil
			}
			return f, nil
		}
	case "boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case "timestamp_millis", "timestamp_micros", "date":
		return timeValue(v, typ)
	case "json":
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	default: // decimal(p,s): DuckDB casts the text
		if n, ok := number(v); ok {
			return string(n), nil
		}
	}
	return nil, fmt.Errorf("%s is not a %s", show(v), typ)
}

// number returns v's digits when it is a JSON number or a string of one.
func number(v any) (json.Number, bool) {
	switch n := v.(type) {
	case json.Number:
		return n, true
	case string:
		if _, err := strconv.ParseFloat(strings.TrimSpace(n), 64); err == nil {
			return json.Number(strings.TrimSpace(n)), true
		}
	}
	return "", false
}

// timeValue reads an RFC 3339 time (or date), or epoch milliseconds as
// producers send them.
func timeValue(v any, typ string) (any, error) {
	switch t := v.(type) {
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02"} {
			if p, err := time.Parse(layout, t); err == nil {
				return p.UTC(), nil
			}
		}
	case json.Number:
		if ms, err := t.Int64(); err == nil {
			return time.UnixMilli(ms).UTC(), nil
		}
	}
	return nil, fmt.Errorf("%s is not a %s (RFC 3339, or epoch milliseconds)", show(v), typ)
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil || len(b) > 64 {
		return fmt.Sprintf("a %T", v)
	}
	return string(b)
}
