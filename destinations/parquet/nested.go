package parquet

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	pq "github.com/xitongsys/parquet-go/parquet"

	"github.com/hydrant-dev/hydrant/internal/jsonpointer"
)

// Nested columns are written as the Parquet format specifies them
// (LogicalTypes.md), which Arrow, Spark, Hive, Athena and DuckDB read:
//
//	struct  <optional|required> group name { fields }
//	list    <optional|required> group name (LIST) { repeated group list { <optional|required> element } }
//	map     <optional|required> group name (MAP) { repeated group key_value { required key; <optional|required> value } }
//
// Each leaf is one column chunk whose entries carry Dremel's repetition and
// definition levels: an optional node adds one definition level, a list's or
// map's repeated group one definition and one repetition level. A null or
// missing value, an empty list and an empty object as a map each leave one
// entry in every leaf below them, defined up to the level reached.

// nodeKind is the shape of a schema node.
type nodeKind int

const (
	nodeLeaf nodeKind = iota
	nodeStruct
	nodeList
	nodeMap
)

// node is a compiled column of any shape.
type node struct {
	kind     nodeKind
	name     string
	display  string // dotted path, for errors
	required bool
	path     jsonpointer.Pointer // top-level nodes only
	leaf     *column             // nodeLeaf
	children []*node             // struct fields; list: element; map: key, value
	def      uint8               // definition level when this node is present (not null)
	rep      uint8               // list and map: the repetition level of their entries
	first    int                 // the leaves under this node: s.cols[first:end]
	end      int
}

// compileNode compiles c and the columns under it, appending its leaves to
// s.cols. def and rep are the levels of its parent.
func (s *Schema) compileNode(c Column, parent []string, def, rep uint8, top bool) (*node, error) {
	t := strings.ToLower(strings.TrimSpace(c.Type))
	nested := t == "struct" || t == "list" || t == "map"
	if !nested && (len(c.Fields) > 0 || c.Element != nil || c.Key != nil || c.Value != nil) {
		return nil, fmt.Errorf("type %q: fields, element, key and value are for struct, list and map", c.Type)
	}
	if !top && c.Path != "" {
		return nil, errors.New("path: only top-level columns take a path; a field is read from its parent's key of its name")
	}
	if def > 200 || rep > 100 {
		return nil, errors.New("nested too deeply")
	}
	schemaPath := append(slices.Clone(parent), c.Name)
	n := &node{name: c.Name, display: strings.Join(schemaPath, "."), required: c.Required, first: len(s.cols)}
	n.def = def
	if !c.Required {
		n.def++
	}
	if !nested {
		cc, err := compileColumn(c)
		if err != nil {
			return nil, err
		}
		cc.schemaPath, cc.display, cc.maxDef, cc.maxRep = schemaPath, n.display, n.def, rep
		n.kind, n.leaf, n.path = nodeLeaf, cc, cc.path
		s.cols = append(s.cols, cc)
		n.end = len(s.cols)
		return n, nil
	}
	if err := validateName(c.Name); err != nil {
		return nil, err
	}
	if len(c.TimestampFormats) > 0 {
		return nil, errors.New("timestamp_formats: only timestamp and date columns take them")
	}
	if top {
		path := c.Path
		if path == "" {
			path = "/" + c.Name
		}
		if err := checkPointer(path); err != nil {
			return nil, fmt.Errorf("path %q: %w", c.Path, err)
		}
		var err error
		if n.path, err = jsonpointer.Compile(path); err != nil {
			return nil, fmt.Errorf("path %q: %w", c.Path, err)
		}
	}
	child := func(what string, cc Column, parent []string, def, rep uint8) error {
		cn, err := s.compileNode(cc, parent, def, rep, false)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		n.children = append(n.children, cn)
		return nil
	}
	switch t {
	case "struct":
		n.kind = nodeStruct
		if len(c.Fields) == 0 {
			return nil, errors.New("type struct: fields must list at least one field")
		}
		seen := map[string]int{}
		for i, f := range c.Fields {
			if j, dup := seen[strings.ToLower(f.Name)]; dup {
				return nil, fmt.Errorf("fields[%d] (%s): name duplicates fields[%d]; names are compared ignoring case", i, f.Name, j)
			}
			seen[strings.ToLower(f.Name)] = i
			if err := child(fmt.Sprintf("fields[%d] (%s)", i, f.Name), f, schemaPath, n.def, rep); err != nil {
				return nil, err
			}
		}
	case "list":
		n.kind, n.rep = nodeList, rep+1
		if c.Element == nil || c.Key != nil || c.Value != nil || len(c.Fields) > 0 {
			return nil, errors.New("type list: takes an element {type, ...} and nothing else")
		}
		el := *c.Element
		el.Name = "element"
		if err := child("element", el, append(schemaPath, "list"), n.def+1, n.rep); err != nil {
			return nil, err
		}
	case "map":
		n.kind, n.rep = nodeMap, rep+1
		if c.Value == nil || c.Element != nil || len(c.Fields) > 0 {
			return nil, errors.New("type map: takes a value {type, ...} and an optional key {type} (string by default), nothing else")
		}
		key := Column{Type: "string"}
		if c.Key != nil {
			key = *c.Key
		}
		if kt := strings.ToLower(strings.TrimSpace(key.Type)); kt == "struct" || kt == "list" || kt == "map" || kt == "json" {
			return nil, fmt.Errorf("key: type %q: a map's key must be a scalar type", key.Type)
		}
		key.Name, key.Required = "key", true
		val := *c.Value
		val.Name = "value"
		kv := append(schemaPath, "key_value")
		if err := child("key", key, kv, n.def+1, n.rep); err != nil {
			return nil, err
		}
		if err := child("value", val, slices.Clone(kv), n.def+1, n.rep); err != nil {
			return nil, err
		}
	}
	n.end = len(s.cols)
	return n, nil
}

// shred appends v, the value of n (nil when null or missing), to the
// chunks of n's leaves. rep is the repetition level of the first entry.
func (e *encoder) shred(n *node, v any, rep uint8) *ConversionError {
	if v == nil {
		if n.required {
			return &ConversionError{Column: n.display, Reason: reasonMissing}
		}
		e.nullUnder(n, n.def-1, rep)
		return nil
	}
	switch n.kind {
	case nodeLeaf:
		c := e.chunks[n.first]
		c.rep = rep
		if err := c.add(v, e.json); err != nil {
			return &ConversionError{Column: n.display, Reason: err.Error()}
		}
	case nodeStruct:
		obj, ok := v.(map[string]any)
		if !ok {
			return &ConversionError{Column: n.display, Reason: show(v) + " is not an object (struct)"}
		}
		for _, f := range n.children {
			if cerr := e.shred(f, obj[f.name], rep); cerr != nil {
				return cerr
			}
		}
	case nodeList:
		arr, ok := v.([]any)
		if !ok {
			return &ConversionError{Column: n.display, Reason: show(v) + " is not an array (list)"}
		}
		if len(arr) == 0 {
			e.nullUnder(n, n.def, rep)
			return nil
		}
		for i, el := range arr {
			if i > 0 {
				rep = n.rep
			}
			if cerr := e.shred(n.children[0], el, rep); cerr != nil {
				return cerr
			}
		}
	case nodeMap:
		obj, ok := v.(map[string]any)
		if !ok {
			return &ConversionError{Column: n.display, Reason: show(v) + " is not an object (map)"}
		}
		if len(obj) == 0 {
			e.nullUnder(n, n.def, rep)
			return nil
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				rep = n.rep
			}
			if cerr := e.shred(n.children[0], k, rep); cerr != nil {
				return cerr
			}
			if cerr := e.shred(n.children[1], obj[k], rep); cerr != nil {
				return cerr
			}
		}
	}
	return nil
}

// nullUnder appends to every leaf under n one entry without a value,
// defined up to def.
func (e *encoder) nullUnder(n *node, def, rep uint8) {
	for _, c := range e.chunks[n.first:n.end] {
		c.rep = rep
		c.appendNullAt(def)
	}
}

// schemaElements builds the Parquet schema, depth first: a root group named
// "schema", then each column; leaves are annotated with both the legacy
// converted type (read by older Hive and Spark) and the logical type.
func (s *Schema) schemaElements() []*pq.SchemaElement {
	required := pq.FieldRepetitionType_REQUIRED
	n := int32(len(s.nodes))
	els := []*pq.SchemaElement{{Name: "schema", RepetitionType: &required, NumChildren: &n}}
	for _, nd := range s.nodes {
		els = appendElements(els, nd)
	}
	return els
}

func appendElements(els []*pq.SchemaElement, n *node) []*pq.SchemaElement {
	rt := func(r pq.FieldRepetitionType) *pq.FieldRepetitionType { return &r }
	repetition := rt(pq.FieldRepetitionType_OPTIONAL)
	if n.required {
		repetition = rt(pq.FieldRepetitionType_REQUIRED)
	}
	group := func(name string, r *pq.FieldRepetitionType, children int) *pq.SchemaElement {
		nc := int32(children)
		return &pq.SchemaElement{Name: name, RepetitionType: r, NumChildren: &nc}
	}
	switch n.kind {
	case nodeLeaf:
		phys := n.leaf.phys
		el := &pq.SchemaElement{Name: n.name, Type: &phys, RepetitionType: repetition}
		annotate(el, n.leaf)
		return append(els, el)
	case nodeStruct:
		els = append(els, group(n.name, repetition, len(n.children)))
		for _, f := range n.children {
			els = appendElements(els, f)
		}
		return els
	case nodeList:
		el := group(n.name, repetition, 1)
		ct := pq.ConvertedType_LIST
		el.ConvertedType, el.LogicalType = &ct, &pq.LogicalType{LIST: &pq.ListType{}}
		els = append(els, el, group("list", rt(pq.FieldRepetitionType_REPEATED), 1))
		return appendElements(els, n.children[0])
	}
	el := group(n.name, repetition, 1)
	ct := pq.ConvertedType_MAP
	el.ConvertedType, el.LogicalType = &ct, &pq.LogicalType{MAP: &pq.MapType{}}
	els = append(els, el, group("key_value", rt(pq.FieldRepetitionType_REPEATED), 2))
	els = appendElements(els, n.children[0])
	return appendElements(els, n.children[1])
}
