package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree into Go values by reflection, following
// `yaml:"name"` struct tags. It never stops at the first problem: each one
// becomes a FieldError and the walk goes on with the next key. Values that
// fail to decode keep what they held (their default).
//
// Rules: unknown and duplicate keys are errors; null leaves a value as it is,
// except that a null pointer-to-struct is allocated with its defaults; list
// elements and pointed-to structs start from their defaults (see defaulter);
// aliases and merge keys (<<) are followed.
type decoder struct {
	pos    map[string]position // every path that is written
	errs   []FieldError        // Line, Column, Path and Message set
	failed []string            // paths whose value could not be decoded
	active map[*yaml.Node]bool // anchors being decoded, to stop alias cycles
}

// defaulter is implemented by the structs that the decoder allocates (list
// elements and pointer targets); setDefaults resets to the constructor's
// value.
type defaulter interface{ setDefaults() }

// nodeDecoder is implemented by types whose YAML form the struct-tag rules do
// not fit.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

func newDecoder() *decoder {
	return &decoder{pos: map[string]position{}, active: map[*yaml.Node]bool{}}
}

func (d *decoder) at(n *yaml.Node) position {
	return position{line: n.Line, col: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	p := d.at(n)
	d.errs = append(d.errs, FieldError{Line: p.line, Column: p.col, Path: path, Message: fmt.Sprintf(format, args...)})
}

// fail reports that the value at path could not be decoded, so that the
// default it kept is not validated as if the user had written it.
func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errorf(n, path, format, args...)
	d.failed = append(d.failed, path)
}

// record remembers where path is written; the first occurrence wins.
func (d *decoder) record(path string, n *yaml.Node) {
	if _, ok := d.pos[path]; !ok {
		d.pos[path] = d.at(n)
	}
}

func (d *decoder) typeError(n *yaml.Node, path string, t reflect.Type) {
	d.fail(n, path, "must be %s, got %s", expected(t), describe(n))
}

// decode stores n into v, which must be addressable.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		target := n.Alias
		if target == nil || d.active[target] {
			d.fail(n, path, "alias *%s refers to itself", n.Value)
			return
		}
		d.active[target] = true
		d.decode(target, v, path)
		delete(d.active, target)
		return
	}
	if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
		nd.decodeNode(d, n, path)
		return
	}
	if isNull(n) {
		if v.Kind() == reflect.Pointer && v.IsNil() && v.Type().Elem().Kind() == reflect.Struct {
			v.Set(newValue(v.Type().Elem()))
		}
		return
	}
	if tu, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if n.Kind != yaml.ScalarNode {
			d.typeError(n, path, v.Type())
			return
		}
		if err := tu.UnmarshalText([]byte(n.Value)); err != nil {
			d.fail(n, path, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(newValue(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.typeError(n, path, v.Type())
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.typeError(n, path, v.Type())
			return
		}
		if v.OverflowInt(i) {
			d.fail(n, path, "%s is out of range", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Bool, reflect.Float32, reflect.Float64, reflect.Interface:
		tmp := reflect.New(v.Type())
		if n.Decode(tmp.Interface()) != nil {
			d.typeError(n, path, v.Type())
			return
		}
		v.Set(tmp.Elem())
	default:
		d.fail(n, path, "cannot decode into %s", v.Type()) // a bug in the model, not in the file
	}
}

// newValue returns a pointer to a new t holding t's defaults.
func newValue(t reflect.Type) reflect.Value {
	p := reflect.New(t)
	if df, ok := p.Interface().(defaulter); ok {
		df.setDefaults()
	}
	return p
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.typeError(n, path, v.Type())
		return
	}
	names, index := structFields(v.Type())
	for _, kv := range d.pairs(n, path) {
		p := joinPath(path, kv.key.Value)
		i, ok := index[kv.key.Value]
		if !ok {
			d.errorf(kv.key, p, "unknown key (valid: %s)", strings.Join(names, ", "))
			continue
		}
		d.record(p, kv.key)
		d.decode(kv.value, v.Field(i), p)
	}
}

// structFields returns the YAML names of t's fields in declaration order and
// the field index of each name.
func structFields(t reflect.Type) ([]string, map[string]int) {
	var names []string
	index := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name)
		}
		names = append(names, name)
		index[name] = i
	}
	return names, index
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.typeError(n, path, v.Type())
		return
	}
	s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, c := range n.Content {
		p := indexPath(path, i)
		d.record(p, c)
		e := newValue(v.Type().Elem()).Elem()
		d.decode(c, e, p)
		s = reflect.Append(s, e)
	}
	v.Set(s)
}

// decodeMap decodes a mapping with string keys (a map of named entries,
// such as server.auth.policies) into v, a map keyed by string.
func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode || v.Type().Key().Kind() != reflect.String {
		d.typeError(n, path, v.Type())
		return
	}
	m := reflect.MakeMap(v.Type())
	for _, kv := range d.pairs(n, path) {
		p := path + "." + kv.key.Value
		d.record(p, kv.value)
		e := newValue(v.Type().Elem()).Elem()
		d.decode(kv.value, e, p)
		m.SetMapIndex(reflect.ValueOf(kv.key.Value).Convert(v.Type().Key()), e)
	}
	v.Set(m)
}

type keyValue struct{ key, value *yaml.Node }

// pairs returns the entries of mapping n with string keys, reporting
// duplicate and non-string keys. Entries merged in with << come after the
// mapping's own and never override them.
func (d *decoder) pairs(n *yaml.Node, path string) []keyValue {
	var out []keyValue
	var merges []*yaml.Node
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "keys must be strings, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			where := fmt.Sprintf("line %d", first.Line)
			if first.Line == k.Line {
				where = fmt.Sprintf("column %d", d.at(first).col)
			}
			d.errorf(k, joinPath(path, k.Value), "duplicate key (first at %s)", where)
			continue
		}
		seen[k.Value] = k
		out = append(out, keyValue{k, v})
	}
	for _, m := range merges {
		for _, kv := range d.mergePairs(m, path) {
			if _, ok := seen[kv.key.Value]; !ok {
				seen[kv.key.Value] = kv.key
				out = append(out, kv)
			}
		}
	}
	return out
}

// mergePairs returns the entries a << value brings in: a mapping or a list
// of mappings, earlier ones winning.
func (d *decoder) mergePairs(m *yaml.Node, path string) []keyValue {
	if m.Kind == yaml.AliasNode {
		if m.Alias == nil || d.active[m.Alias] {
			d.errorf(m, path, "alias *%s refers to itself", m.Value)
			return nil
		}
		d.active[m.Alias] = true
		defer delete(d.active, m.Alias)
		return d.mergePairs(m.Alias, path)
	}
	switch m.Kind {
	case yaml.MappingNode:
		return d.pairs(m, path)
	case yaml.SequenceNode:
		var out []keyValue
		for _, c := range m.Content {
			target := c
			if c.Kind == yaml.AliasNode && c.Alias != nil {
				target = c.Alias
			}
			if target.Kind != yaml.MappingNode {
				d.errorf(c, path, "<< must merge a mapping or a list of mappings, got %s", describe(target))
				continue
			}
			out = append(out, d.mergePairs(c, path)...)
		}
		return out
	}
	d.errorf(m, path, "<< must merge a mapping or a list of mappings, got %s", describe(m))
	return nil
}

// recordTree records the position of every path below n, for values that
// are decoded wholesale (transform options).
func (d *decoder) recordTree(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
				continue
			}
			p := joinPath(path, k.Value)
			d.record(p, k)
			d.recordTree(n.Content[i+1], p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := indexPath(path, i)
			d.record(p, c)
			d.recordTree(c, p)
		}
	}
}

// decodeNode reads a transform: a mapping whose "type" key names the
// transform and whose other keys are its options, kept as plain Go values;
// or, as shorthand, a mapping of one key, the transform's name, to its
// options ({kpl_deaggregate: {}}).
func (t *TransformConfig) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "must be a mapping with a type key, got %s", describe(n))
		return
	}
	if len(n.Content) == 2 && n.Content[0].Value != "type" && (n.Content[1].Kind == yaml.MappingNode || isNull(n.Content[1])) {
		key, opts := n.Content[0], n.Content[1]
		p := joinPath(path, key.Value)
		d.record(p, key)
		t.Type = key.Value
		if isNull(opts) {
			return
		}
		t.decodeOptions(d, opts, p)
		if t.Type != key.Value {
			d.fail(opts, p, "names its transform twice (%s and type: %s): write either {%s: {options}} or {type: %s, options}", key.Value, t.Type, key.Value, key.Value)
		}
		return
	}
	t.decodeOptions(d, n, path)
}

// decodeOptions reads the pairs of mapping n into t: "type" names the
// transform, every other key is an option.
func (t *TransformConfig) decodeOptions(d *decoder, n *yaml.Node, path string) {
	for _, kv := range d.pairs(n, path) {
		p := joinPath(path, kv.key.Value)
		d.record(p, kv.key)
		if kv.key.Value == "type" {
			d.decode(kv.value, reflect.ValueOf(&t.Type).Elem(), p)
			continue
		}
		var x any
		if err := kv.value.Decode(&x); err != nil {
			d.fail(kv.value, p, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
			continue
		}
		d.recordTree(kv.value, p)
		if t.Options == nil {
			t.Options = map[string]any{}
		}
		t.Options[kv.key.Value] = x
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// expected says in words what a value of type t looks like in YAML.
func expected(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[Size]():
		return "a size like 5MiB"
	case reflect.TypeFor[Duration]():
		return "a duration like 60s"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Pointer, reflect.Map:
		return "a mapping"
	}
	return "a " + t.String()
}

// describe says in words what n is, for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	v := n.Value
	if r := []rune(v); len(r) > 40 {
		v = string(r[:37]) + "..."
	}
	switch n.ShortTag() {
	case "!!null":
		return "null"
	case "!!str":
		return "string " + strconv.Quote(v)
	case "!!int":
		return "integer " + v
	case "!!float":
		return "number " + v
	case "!!bool":
		return "boolean " + v
	}
	return n.ShortTag() + " " + strconv.Quote(v)
}

// decodeNode reads columns: the word auto, or a list of columns.
func (c *PostgresColumns) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode && n.Value == "auto" {
		c.Auto = true
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "must be auto or a list of {name, path, type}, got %s", describe(n))
		return
	}
	d.decode(n, reflect.ValueOf(&c.List).Elem(), path)
}

// decodeNode reads Parquet settings, whose schema is the word auto or a list
// of columns: a schema of auto sets SchemaAuto, and the other keys are
// decoded as struct fields.
func (c *ParquetConfig) decodeNode(d *decoder, n *yaml.Node, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.typeError(n, path, reflect.TypeOf(c).Elem())
		return
	}
	rest := &yaml.Node{Kind: yaml.MappingNode, Tag: n.Tag, Line: n.Line, Column: n.Column}
	for _, kv := range d.pairs(n, path) {
		v := kv.value
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		if kv.key.Value == "schema" && v.Kind == yaml.ScalarNode && !isNull(v) {
			p := joinPath(path, "schema")
			d.record(p, kv.key)
			if v.Value != "auto" {
				d.fail(v, p, "must be auto or a list of columns {name, type, path, required}, got %s", describe(v))
				continue
			}
			c.SchemaAuto = true
			continue
		}
		rest.Content = append(rest.Content, kv.key, kv.value)
	}
	d.decodeStruct(rest, reflect.ValueOf(c).Elem(), path)
}

// decodeNode reads an application's schema: the word auto, or a list of
// columns.
func (c *AnalyticsSchema) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode && n.Value == "auto" {
		c.Auto = true
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "must be auto or a list of {name, type, path}, got %s", describe(n))
		return
	}
	d.decode(n, reflect.ValueOf(&c.List).Elem(), path)
}
