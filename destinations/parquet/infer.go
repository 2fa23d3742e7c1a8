package parquet

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Limits of schema inference. A value nested deeper than MaxInferDepth (a
// top-level column is depth 1) is kept as json text; a record that would make
// its file's schema more than MaxInferColumns leaf columns goes to the error
// output, and the rest of its batch is written.
const (
	MaxInferDepth   = 32
	MaxInferColumns = 1000
)

// AutoSchema is schema: auto: it infers each batch's columns from the batch's
// records, then encodes the batch with them. Safe for concurrent use.
//
// Inference is a pure function of the records in order, so that a re-delivered
// batch is written as the same file. Columns and struct fields are sorted by
// key (byte order), every column is optional, and types are inferred from
// every value of a key in the batch:
//
//	JSON values of a key                         column
//	true, false                                  boolean
//	numbers without "." or exponent, in int64    int64
//	other numbers                                double (a number beyond a double's range: string)
//	strings that all are timestamps              timestamp_millis (timestamp_micros with 4-6 fractional digits)
//	other strings                                string
//	scalars of different kinds (42 and "a")      string: strings as they are, numbers and booleans as their JSON text
//	objects                                      struct of the union of their keys, inferred alike
//	arrays                                       list of the union of their elements' types
//	objects and arrays, or with scalars          json (compact JSON text)
//	only null                                    string
//
// A timestamp is a string of the RFC 3339 / ISO 8601 date-time forms a
// timestamp column reads ("2024-03-05T12:34:56.789Z", "+01:00", "+0100", a
// space for "T", no offset as UTC) or of one of the configured
// timestamp_formats' Joda patterns; numbers and numeric strings are never
// inferred to be timestamps, and dates alone ("2024-03-05") stay strings, as
// do timestamps with more than 6 fractional digits, which a Parquet timestamp
// would cut. A timestamp's offset is not kept: it is stored as its UTC instant.
//
// An object becomes json rather than a struct when it is nested deeper than
// MaxInferDepth, when it has no key in any record, or when one of its keys is
// not a valid column name or differs from another only in case. A top-level
// key that is not a valid column name gets one: its invalid characters
// become "_", a leading digit or an empty key gets a leading "_", and a name
// already taken (ignoring case) gets "_2", "_3"...; its path is still the key.
type AutoSchema struct {
	formats     []timeFormat
	formatsText []string // as configured, for the timestamp columns
	layouts     bool     // some format is a Joda pattern, tried on every string

	mu       sync.Mutex
	lastCols []Column // the columns last compiled, and their Schema: batches of one
	last     *Schema  // shape reuse its pooled encoders
}

// NewAutoSchema returns an inferring schema whose timestamp columns read
// timestampFormats, as a declared column's TimestampFormats.
func NewAutoSchema(timestampFormats []string) (*AutoSchema, error) {
	formats, err := compileFormats(timestampFormats)
	if err != nil {
		return nil, err
	}
	a := &AutoSchema{formats: formats}
	for _, f := range formats {
		a.layouts = a.layouts || f.epoch < 0
	}
	a.formatsText = slices.Clone(timestampFormats)
	return a, nil
}

// Infer returns the columns of records, and a *ConversionError for each
// record left out because it would make more than MaxInferColumns columns.
// Records that are not JSON objects are skipped: Encode reports them. cols
// is empty when no record has a key.
func (a *AutoSchema) Infer(records [][]byte) (cols []Column, failed map[int]error) {
	in := &inferrer{auto: a, root: &inferred{shape: shapeStruct, fields: map[string]*inferred{}}}
	in.tcol = column{kind: kindTimestampMillis, formats: a.formats}
	for i, rec := range records {
		obj, cerr := decodeRecord(rec)
		if cerr != nil {
			continue
		}
		in.log, in.structural = in.log[:0], false
		for k, v := range obj {
			f := in.root.fields[k]
			if f == nil {
				f = &inferred{}
				in.root.fields[k] = f
				in.log = append(in.log, change{n: in.root, key: k, added: true})
				in.structural = true
			}
			in.observe(f, v, 1)
		}
		if !in.structural {
			continue
		}
		if n := in.root.leaves(); n > MaxInferColumns {
			in.undo()
			if failed == nil {
				failed = make(map[int]error)
			}
			failed[i] = &ConversionError{Reason: fmt.Sprintf(
				"record would make its file's inferred schema %d columns, more than %d", n, MaxInferColumns)}
		}
	}
	return in.columns(), failed
}

// Encode infers the columns of records (see Infer) and writes the records as
// one Parquet file with them, as Schema.Encode does: failed maps the index of
// each record left out to its *ConversionError. When every record fails,
// nothing may have been written to w.
func (a *AutoSchema) Encode(w io.Writer, records [][]byte, opts Options) (failed map[int]error, err error) {
	cols, failed := a.Infer(records)
	if len(cols) == 0 {
		return a.failAll(records), nil
	}
	s, err := a.schema(cols)
	if err != nil {
		return nil, err
	}
	kept, index := records, []int(nil)
	if len(failed) > 0 {
		kept = make([][]byte, 0, len(records)-len(failed))
		for i, r := range records {
			if failed[i] == nil {
				kept = append(kept, r)
				index = append(index, i)
			}
		}
	}
	encFailed, err := s.Encode(w, kept, opts)
	if err != nil {
		return nil, err
	}
	for i, e := range encFailed {
		if index != nil {
			i = index[i]
		}
		if failed == nil {
			failed = make(map[int]error)
		}
		failed[i] = e
	}
	return failed, nil
}

// schema compiles cols, or returns the Schema compiled last if it had the
// same columns.
func (a *AutoSchema) schema(cols []Column) (*Schema, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last != nil && reflect.DeepEqual(cols, a.lastCols) {
		return a.last, nil
	}
	s, err := NewSchema(cols)
	if err != nil {
		return nil, fmt.Errorf("parquet: inferred schema: %w", err)
	}
	a.lastCols, a.last = cols, s
	return s, nil
}

// failAll is the outcome of a batch without a key to make a column of.
func (a *AutoSchema) failAll(records [][]byte) map[int]error {
	failed := make(map[int]error, len(records))
	for i, rec := range records {
		if _, cerr := decodeRecord(rec); cerr != nil {
			failed[i] = cerr
			continue
		}
		failed[i] = &ConversionError{Reason: "record is an empty object, and no record of its file has a key: no column to infer"}
	}
	return failed
}

// shape is what the values of a key seen so far make it.
type shape uint8

const (
	shapeNone   shape = iota // only nulls
	shapeBool                // booleans
	shapeInt                 // integers that fit int64
	shapeDouble              // numbers
	shapeTime                // strings that are timestamps
	shapeString              // strings, or scalars of different kinds
	shapeStruct              // objects
	shapeList                // arrays
	shapeJSON                // objects or arrays with anything else, or too deep
)

// inferred is one key's (or list element's) inferred type.
type inferred struct {
	shape  shape
	micros bool                 // shapeTime: some value has 4 to 6 fractional digits
	fields map[string]*inferred // shapeStruct
	lower  map[string]bool      // shapeStruct below the top: its keys in lower case
	elem   *inferred            // shapeList
}

// change is one entry of the undo log: a node as it was, or a key added.
type change struct {
	n     *inferred
	old   inferred
	key   string
	added bool
}

// inferrer is the state of one Infer call.
type inferrer struct {
	auto       *AutoSchema
	root       *inferred // the top level: its fields are the columns
	tcol       column    // a timestamp column, to parse candidates as Encode will
	log        []change  // changes made by the record being observed
	structural bool      // the record added a field or changed a shape to or from a nested one
}

// set changes n, logging its old value.
func (in *inferrer) set(n *inferred, to inferred) {
	in.log = append(in.log, change{n: n, old: *n})
	if to.shape >= shapeStruct || n.shape >= shapeStruct {
		in.structural = true
	}
	*n = to
}

// undo reverts the changes of the record being observed.
func (in *inferrer) undo() {
	for i := len(in.log) - 1; i >= 0; i-- {
		c := in.log[i]
		if !c.added {
			*c.n = c.old
			continue
		}
		delete(c.n.fields, c.key)
		if c.n.lower != nil {
			delete(c.n.lower, strings.ToLower(c.key))
		}
	}
	in.log = in.log[:0]
}

// observe merges v, a decoded JSON value at depth, into n.
func (in *inferrer) observe(n *inferred, v any, depth int) {
	if v == nil || n.shape == shapeJSON {
		return
	}
	switch x := v.(type) {
	case bool:
		in.scalar(n, shapeBool, false)
	case json.Number:
		in.scalar(n, numberShape(string(x)), false)
	case string:
		if n.shape >= shapeString {
			in.scalar(n, shapeString, false) // no timestamp check: it cannot change the shape
			return
		}
		ts, micros := in.timestamp(x)
		if ts {
			in.scalar(n, shapeTime, micros)
		} else {
			in.scalar(n, shapeString, false)
		}
	case map[string]any:
		in.object(n, x, depth)
	case []any:
		if depth >= MaxInferDepth || (n.shape != shapeNone && n.shape != shapeList) {
			in.set(n, inferred{shape: shapeJSON})
			return
		}
		if n.shape == shapeNone {
			in.set(n, inferred{shape: shapeList, elem: &inferred{}})
		}
		for _, e := range x {
			in.observe(n.elem, e, depth+1)
		}
	}
}

// object merges an object into n: a struct of its keys, or json.
func (in *inferrer) object(n *inferred, x map[string]any, depth int) {
	if depth >= MaxInferDepth || (n.shape != shapeNone && n.shape != shapeStruct) {
		in.set(n, inferred{shape: shapeJSON})
		return
	}
	if n.shape == shapeNone {
		in.set(n, inferred{shape: shapeStruct, fields: map[string]*inferred{}, lower: map[string]bool{}})
	}
	for k, fv := range x {
		f := n.fields[k]
		if f == nil {
			lk := strings.ToLower(k)
			if validateName(k) != nil || n.lower[lk] {
				in.set(n, inferred{shape: shapeJSON})
				return
			}
			f = &inferred{}
			n.fields[k], n.lower[lk] = f, true
			in.log = append(in.log, change{n: n, key: k, added: true})
			in.structural = true
		}
		in.observe(f, fv, depth+1)
		if n.shape != shapeStruct {
			return
		}
	}
}

// scalar merges a scalar of shape s into n.
func (in *inferrer) scalar(n *inferred, s shape, micros bool) {
	to := *n
	switch {
	case n.shape == shapeNone:
		to = inferred{shape: s, micros: micros}
	case n.shape == s:
		to.micros = n.micros || micros
	case n.shape == shapeInt && s == shapeDouble, n.shape == shapeDouble && s == shapeInt:
		to = inferred{shape: shapeDouble}
	case n.shape >= shapeStruct: // a scalar with objects or arrays
		to = inferred{shape: shapeJSON}
	default: // scalars of different kinds, or timestamps and other strings
		to = inferred{shape: shapeString}
	}
	if to.shape != n.shape || to.micros != n.micros {
		in.set(n, to)
	}
}

// numberShape is the shape of a JSON number's text: int when it has no
// fraction or exponent and fits int64, string when it is beyond a double.
func numberShape(text string) shape {
	if !strings.ContainsAny(text, ".eE") {
		if _, err := strconv.ParseInt(text, 10, 64); err == nil {
			return shapeInt
		}
	}
	if _, err := strconv.ParseFloat(text, 64); err != nil {
		return shapeString
	}
	return shapeDouble
}

// timestamp reports whether s is a timestamp a timestamp column reads, and
// whether it has 4 to 6 fractional digits (timestamp_micros).
func (in *inferrer) timestamp(s string) (ok, micros bool) {
	digits, shaped := isoShape(s)
	if !shaped && !in.auto.layouts || isNumber(s) || digits > 6 {
		return false, false
	}
	if _, _, err := instant(s, &in.tcol, 3); err != nil {
		return false, false
	}
	return true, shaped && digits > 3
}

// isoShape reports whether s starts as the default timestamp forms do,
// "2006-01-02T15:04:05" or with a space for "T", and the number of
// fractional digits after it.
func isoShape(s string) (digits int, ok bool) {
	const form = "dddd-dd-ddTdd:dd:dd"
	if len(s) < len(form) {
		return 0, false
	}
	for i := 0; i < len(form); i++ {
		c := s[i]
		switch form[i] {
		case 'd':
			ok = c >= '0' && c <= '9'
		case 'T':
			ok = c == 'T' || c == ' '
		default:
			ok = c == form[i]
		}
		if !ok {
			return 0, false
		}
	}
	if rest := s[len(form):]; rest != "" && (rest[0] == '.' || rest[0] == ',') {
		for digits = 0; digits+1 < len(rest) && rest[digits+1] >= '0' && rest[digits+1] <= '9'; digits++ {
		}
	}
	return digits, true
}

// leaves is the number of leaf columns n makes.
func (n *inferred) leaves() int {
	switch n.shape {
	case shapeStruct:
		total := 0
		for _, f := range n.fields {
			total += f.leaves()
		}
		return max(total, 1)
	case shapeList:
		return n.elem.leaves()
	}
	return 1
}

// columns is the inferred schema: the top-level keys sorted, each with a
// valid, unique column name.
func (in *inferrer) columns() []Column {
	keys := slices.Sorted(maps.Keys(in.root.fields))
	names := make([]string, len(keys))
	taken := make(map[string]bool, len(keys))
	for i, k := range keys { // valid names first: a key that is one keeps it
		if lk := strings.ToLower(k); validateName(k) == nil && !taken[lk] {
			names[i], taken[lk] = k, true
		}
	}
	cols := make([]Column, len(keys))
	for i, k := range keys {
		name := names[i]
		if name == "" {
			name = columnName(k, taken)
		}
		cols[i] = in.column(name, in.root.fields[k])
		if name != k {
			cols[i].Path = "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
		}
	}
	return cols
}

// columnName makes a valid column name of key that taken does not hold
// (ignoring case), and takes it.
func columnName(key string, taken map[string]bool) string {
	b := []byte(key)
	for i, c := range b {
		if !(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			b[i] = '_'
		}
	}
	if len(b) == 0 || (b[0] >= '0' && b[0] <= '9') {
		b = append([]byte{'_'}, b...)
	}
	base := string(b[:min(len(b), maxNameLen-8)]) // room for a suffix
	name := base
	for n := 2; taken[strings.ToLower(name)]; n++ {
		name = base + "_" + strconv.Itoa(n)
	}
	taken[strings.ToLower(name)] = true
	return name
}

// column is the Column of an inferred type.
func (in *inferrer) column(name string, n *inferred) Column {
	c := Column{Name: name}
	switch n.shape {
	case shapeNone, shapeString:
		c.Type = "string"
	case shapeBool:
		c.Type = "boolean"
	case shapeInt:
		c.Type = "int64"
	case shapeDouble:
		c.Type = "double"
	case shapeTime:
		c.Type, c.TimestampFormats = "timestamp_millis", in.auto.formatsText
		if n.micros {
			c.Type = "timestamp_micros"
		}
	case shapeStruct:
		if len(n.fields) == 0 {
			c.Type = "json"
			break
		}
		c.Type = "struct"
		for _, k := range slices.Sorted(maps.Keys(n.fields)) {
			c.Fields = append(c.Fields, in.column(k, n.fields[k]))
		}
	case shapeList:
		el := in.column("element", n.elem)
		c.Type, c.Element = "list", &el
	default:
		c.Type = "json"
	}
	return c
}
