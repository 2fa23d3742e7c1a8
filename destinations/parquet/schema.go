package parquet

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"

	pq "github.com/xitongsys/parquet-go/parquet"

	"github.com/hydrant-dev/hydrant/internal/jsonpointer"
)

// Column is one column of the output, as the config declares it.
type Column struct {
	Name     string // column name
	Type     string // string | int32 | int64 | float | double | boolean | timestamp_millis | timestamp_micros | date | decimal(p,s) | json
	Path     string // JSON pointer (RFC 6901) into the record; "" means "/"+Name
	Required bool   // a record without it (missing or null) fails conversion
	// TimestampFormats are tried in order on a timestamp or date column's
	// strings before the default forms: Joda-Time patterns as Firehose takes
	// them ("yyyy-MM-dd'T'HH:mm:ss.SSSZZ"), or epoch_seconds / epoch_millis
	// ("millis", Firehose's name), which also set the unit of JSON numbers.
	TimestampFormats []string

	// Nested columns. A struct has Fields (each read from the object's key
	// of its Name; Path is for top-level columns only), a list an Element
	// (its Name is ignored), a map a Key (a scalar type, string by default;
	// JSON object keys are strings) and a Value. See nested.go.
	Fields  []Column
	Element *Column
	Key     *Column
	Value   *Column
}

// Options of the file.
type Options struct {
	Compression  string // uncompressed | snappy (default when "") | gzip | zstd — inside the file, per page
	RowGroupSize int64  // bytes per row group; 0 = 128 MiB
}

// Schema is a compiled column list. Safe for concurrent use: it is never
// modified after NewSchema.
type Schema struct {
	cols  []*column // the leaves, in schema order: one column chunk each
	nodes []*node   // the top-level columns
	// elements is the Parquet schema: a root group, then one leaf per column.
	elements []*pq.SchemaElement
	encoders sync.Pool // of *encoder, each used by one Encode call at a time
}

// kind is a column type as the config names it.
type kind int

const (
	kindString kind = iota
	kindInt32
	kindInt64
	kindFloat
	kindDouble
	kindBoolean
	kindTimestampMillis
	kindTimestampMicros
	kindDate
	kindDecimal
	kindJSON
)

// typeNames lists the accepted types, in the order errors list them.
const typeNames = "string, int32, int64, float, double, boolean, timestamp_millis, timestamp_micros, date, decimal(p,s), json"

// maxNameLen is the longest column name accepted: Glue's and Hive's limit.
const maxNameLen = 255

// column is a compiled Column.
type column struct {
	name      string
	kind      kind
	phys      pq.Type
	path      jsonpointer.Pointer
	required  bool
	precision int          // decimal only
	scale     int          // decimal only
	width     int          // FIXED_LEN_BYTE_ARRAY length in bytes (decimal only)
	formats   []timeFormat // timestamp and date only

	schemaPath     []string // names from the root, as the column chunk's path_in_schema
	display        string   // schemaPath joined with ".": how errors name the column
	maxDef, maxRep uint8    // Dremel levels: 0, 0 for a required top-level column
}

// NewSchema validates and compiles cols: names unique and valid Parquet identifiers, types known,
// decimal precision 1..38 and 0 <= scale <= precision, paths valid JSON pointers. Errors name the
// column by index and name, e.g. `columns[2] (amount): type "decimal(40,2)": precision must be 1..38`.
//
// A valid name starts with a letter or underscore, holds only ASCII letters,
// digits and underscores, and is at most 255 bytes long. Names must be unique
// ignoring case, because Athena, Hive and Spark resolve Parquet columns
// case-insensitively.
func NewSchema(cols []Column) (*Schema, error) {
	if len(cols) == 0 {
		return nil, errors.New("columns: at least one column is required")
	}
	s := &Schema{}
	seen := make(map[string]int, len(cols))
	for i, c := range cols {
		n, err := s.compileNode(c, nil, 0, 0, true)
		if err != nil {
			return nil, fmt.Errorf("columns[%d] (%s): %w", i, c.Name, err)
		}
		key := strings.ToLower(c.Name)
		if j, dup := seen[key]; dup {
			return nil, fmt.Errorf("columns[%d] (%s): name duplicates columns[%d] (%s); names are compared ignoring case",
				i, c.Name, j, cols[j].Name)
		}
		seen[key] = i
		s.nodes = append(s.nodes, n)
	}
	s.elements = s.schemaElements()
	return s, nil
}

func compileColumn(c Column) (*column, error) {
	if err := validateName(c.Name); err != nil {
		return nil, err
	}
	cc := &column{name: c.Name, required: c.Required}
	if err := cc.setType(c.Type); err != nil {
		return nil, fmt.Errorf("type %q: %w", c.Type, err)
	}
	if len(c.TimestampFormats) > 0 {
		if cc.kind != kindTimestampMillis && cc.kind != kindTimestampMicros && cc.kind != kindDate {
			return nil, errors.New("timestamp_formats: only timestamp and date columns take them")
		}
		var err error
		if cc.formats, err = compileFormats(c.TimestampFormats); err != nil {
			return nil, err
		}
	}
	path := c.Path
	if path == "" {
		path = "/" + c.Name
	}
	if err := checkPointer(path); err != nil {
		return nil, fmt.Errorf("path %q: %w", c.Path, err)
	}
	var err error
	if cc.path, err = jsonpointer.Compile(path); err != nil {
		return nil, fmt.Errorf("path %q: %w", c.Path, err)
	}
	return cc, nil
}

func validateName(name string) error {
	if name == "" {
		return errors.New("name must not be empty")
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("name is %d bytes long, more than %d", len(name), maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return errors.New("name must start with a letter or underscore and hold only letters, digits and underscores")
		}
	}
	return nil
}

// setType parses a config type name (case-insensitive) into the column.
func (c *column) setType(name string) error {
	t := strings.ToLower(strings.TrimSpace(name))
	simple := map[string]struct {
		k    kind
		phys pq.Type
	}{
		"string":           {kindString, pq.Type_BYTE_ARRAY},
		"int32":            {kindInt32, pq.Type_INT32},
		"int64":            {kindInt64, pq.Type_INT64},
		"float":            {kindFloat, pq.Type_FLOAT},
		"double":           {kindDouble, pq.Type_DOUBLE},
		"boolean":          {kindBoolean, pq.Type_BOOLEAN},
		"timestamp_millis": {kindTimestampMillis, pq.Type_INT64},
		"timestamp_micros": {kindTimestampMicros, pq.Type_INT64},
		"date":             {kindDate, pq.Type_INT32},
		"json":             {kindJSON, pq.Type_BYTE_ARRAY},
	}
	if st, ok := simple[t]; ok {
		c.kind, c.phys = st.k, st.phys
		return nil
	}
	args, ok := strings.CutPrefix(t, "decimal")
	if !ok {
		return errors.New("must be one of " + typeNames)
	}
	args = strings.TrimSpace(args)
	if !strings.HasPrefix(args, "(") || !strings.HasSuffix(args, ")") {
		return errors.New("must be decimal(p,s), with precision p and scale s")
	}
	ps := strings.Split(args[1:len(args)-1], ",")
	if len(ps) != 2 {
		return errors.New("must be decimal(p,s), with precision p and scale s")
	}
	p, perr := strconv.Atoi(strings.TrimSpace(ps[0]))
	s, serr := strconv.Atoi(strings.TrimSpace(ps[1]))
	switch {
	case perr != nil || serr != nil:
		return errors.New("precision and scale must be integers")
	case p < 1 || p > 38:
		return errors.New("precision must be 1..38")
	case s < 0 || s > p:
		return fmt.Errorf("scale must be 0..precision (%d)", p)
	}
	c.kind, c.phys = kindDecimal, pq.Type_FIXED_LEN_BYTE_ARRAY
	c.precision, c.scale, c.width = p, s, decimalWidth(p)
	return nil
}

// decimalWidth is the fewest bytes whose two's complement holds every
// unscaled value of precision p: the smallest n with 2^(8n-1) > 10^p - 1.
func decimalWidth(p int) int {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p)), nil)
	limit.Sub(limit, big.NewInt(1))
	n := 1
	for limit.BitLen() > 8*n-1 {
		n++
	}
	return n
}

// checkPointer checks an RFC 6901 JSON pointer's form.
func checkPointer(p string) error {
	if !strings.HasPrefix(p, "/") {
		return errors.New(`a JSON pointer must start with "/"`)
	}
	for j := 0; j < len(p); j++ {
		if p[j] == '~' && (j+1 == len(p) || (p[j+1] != '0' && p[j+1] != '1')) {
			return errors.New(`"~" must be followed by 0 or 1 ("~0" is "~", "~1" is "/")`)
		}
	}
	return nil
}

// description is how errors name the column's type: "an int64", "a decimal(10,2)".
func (c *column) description() string {
	switch c.kind {
	case kindString:
		return "a string"
	case kindInt32:
		return "an int32"
	case kindInt64:
		return "an int64"
	case kindFloat:
		return "a float"
	case kindDouble:
		return "a double"
	case kindBoolean:
		return "a boolean"
	case kindTimestampMillis, kindTimestampMicros:
		return "a timestamp"
	case kindDate:
		return "a date"
	case kindDecimal:
		return fmt.Sprintf("a decimal(%d,%d)", c.precision, c.scale)
	}
	return "JSON"
}

func annotate(el *pq.SchemaElement, c *column) {
	converted := func(ct pq.ConvertedType) { el.ConvertedType = &ct }
	timestamp := func(unit *pq.TimeUnit) *pq.LogicalType {
		return &pq.LogicalType{TIMESTAMP: &pq.TimestampType{IsAdjustedToUTC: true, Unit: unit}}
	}
	switch c.kind {
	case kindString, kindJSON:
		converted(pq.ConvertedType_UTF8)
		el.LogicalType = &pq.LogicalType{STRING: &pq.StringType{}}
	case kindTimestampMillis:
		converted(pq.ConvertedType_TIMESTAMP_MILLIS)
		el.LogicalType = timestamp(&pq.TimeUnit{MILLIS: &pq.MilliSeconds{}})
	case kindTimestampMicros:
		converted(pq.ConvertedType_TIMESTAMP_MICROS)
		el.LogicalType = timestamp(&pq.TimeUnit{MICROS: &pq.MicroSeconds{}})
	case kindDate:
		converted(pq.ConvertedType_DATE)
		el.LogicalType = &pq.LogicalType{DATE: &pq.DateType{}}
	case kindDecimal:
		converted(pq.ConvertedType_DECIMAL)
		p, s, w := int32(c.precision), int32(c.scale), int32(c.width)
		el.Precision, el.Scale, el.TypeLength = &p, &s, &w
		el.LogicalType = &pq.LogicalType{DECIMAL: &pq.DecimalType{Precision: p, Scale: s}}
	}
}
