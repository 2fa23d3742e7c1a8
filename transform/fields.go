package transform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hydrant-dev/hydrant/buffer"
)

const codeFieldError = "Transform.FieldError"

// NewDropFields builds drop_fields: it removes members from each record, a
// JSON object, named by JSON pointers (RFC 6901: ~1 for "/" and ~0 for "~"
// in a key; a number steps into an array).
//
//	transforms:
//	  - type: drop_fields
//	    fields: [/password, /user/email, /headers/authorization]
//
// Pointers apply in the order given, each to the result of the one before;
// a field that is not there is fine. A record with nothing to drop is passed
// on untouched; one that lost a field is re-encoded as compact JSON with its
// object keys sorted (numbers keep their digits). A record that is not a
// JSON object fails with Transform.NotJSON.
func NewDropFields(_ Env, options map[string]any) (Transform, error) {
	o := NewOptions(options)
	requireOption(o, "fields")
	list := o.Strings("fields")
	if list != nil && len(list) == 0 {
		o.Fail("fields", "must list at least one JSON pointer")
	}
	var ptrs []jsonPointer
	for i, s := range list {
		p, err := parsePointer(s)
		if err != nil {
			o.Fail(fmt.Sprintf("fields[%d]", i), "%q: %v", s, err)
			continue
		}
		ptrs = append(ptrs, p)
	}
	if err := o.Err(); err != nil {
		return nil, err
	}
	return eachRecord(func(r buffer.Record) Output {
		obj, failed := decodeObject(r.Data)
		if failed != nil {
			return *failed
		}
		var root any = obj
		dropped := false
		for _, p := range ptrs {
			var removed bool
			root, removed = removeAt(root, p.tokens)
			dropped = dropped || removed
		}
		if !dropped {
			return Output{Result: Ok, Data: r.Data}
		}
		return encodeObject(root)
	}), nil
}

// NewAddFields builds add_fields: it sets members of each record, a JSON
// object, named by JSON pointers, to fixed values, creating objects on the
// way and replacing what was there.
//
//	transforms:
//	  - type: add_fields
//	    fields:
//	      /env: prod
//	      /meta/source: hydrant
//	      /meta/tags: [a, b]
//
// Values may be any YAML scalar, list or mapping. A pointer's last token may
// be "-" to append to an array. One pointer may not lie inside another
// (/meta and /meta/source). The record is re-encoded as compact JSON with
// its object keys sorted (numbers keep their digits). A record that is not a
// JSON object fails with Transform.NotJSON; one where a pointer runs into a
// value that is not an object or array (/meta/source when meta is a string),
// or past an array's end, fails with Transform.FieldError.
func NewAddFields(_ Env, options map[string]any) (Transform, error) {
	o := NewOptions(options)
	requireOption(o, "fields")
	type field struct {
		ptr   jsonPointer
		value json.RawMessage
	}
	var fields []field
	raw := o.Map("fields")
	if raw != nil && len(raw) == 0 {
		o.Fail("fields", "must map at least one JSON pointer to a value")
	}
	for _, s := range slices.Sorted(maps.Keys(raw)) {
		name := "fields." + s
		p, err := parsePointer(s)
		if err != nil {
			o.Fail(name, "%v", err)
			continue
		}
		value, err := marshalJSON(raw[s])
		if err != nil {
			o.Fail(name, "cannot be written as JSON: %v", err)
			continue
		}
		fields = append(fields, field{p, value})
	}
	for i, outer := range fields {
		for j, inner := range fields {
			if i != j && outer.ptr.contains(inner.ptr) {
				o.Fail("fields", "%s lies inside %s; set it in %s's value instead", inner.ptr.text, outer.ptr.text, outer.ptr.text)
			}
		}
	}
	if err := o.Err(); err != nil {
		return nil, err
	}
	return eachRecord(func(r buffer.Record) Output {
		obj, failed := decodeObject(r.Data)
		if failed != nil {
			return *failed
		}
		var root any = obj
		for _, f := range fields {
			var err error
			// The value is shared by every record: it is raw JSON, never a
			// map a later record could change.
			if root, err = setAt(root, f.ptr, 0, f.value); err != nil {
				return failedOutput(codeFieldError, err.Error())
			}
		}
		return encodeObject(root)
	}), nil
}

// eachRecord adapts a per-record function to Transform, checking ctx
// between records.
func eachRecord(f func(buffer.Record) Output) Transform {
	return BatchFunc(func(ctx context.Context, recs []buffer.Record) ([]Output, error) {
		out := make([]Output, len(recs))
		for i, r := range recs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			out[i] = f(r)
		}
		return out, nil
	})
}

// decodeObject decodes a record that must be one JSON object.
func decodeObject(data []byte) (map[string]any, *Output) {
	v, err := decodeJSON(data)
	if err != nil {
		f := failedOutput(codeNotJSON, err.Error())
		return nil, &f
	}
	obj, isObject := v.(map[string]any)
	if !isObject {
		f := failedOutput(codeNotJSON, fmt.Sprintf("record is %s, not a JSON object", jqKind(v)))
		return nil, &f
	}
	return obj, nil
}

// encodeObject writes a decoded record back as JSON (see marshalJSON).
func encodeObject(v any) Output {
	data, err := marshalJSON(v)
	if err != nil { // not for values decodeJSON made
		return failedOutput(codeFieldError, "encoding the record: "+err.Error())
	}
	return Output{Result: Ok, Data: data}
}

// marshalJSON is json.Marshal (compact, object keys sorted, json.Number
// as written) except that it leaves '<', '>' and '&' alone: records are
// not HTML.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// jsonPointer is a parsed RFC 6901 JSON pointer other than the whole
// document ("").
type jsonPointer struct {
	text   string   // as written, for messages
	tokens []string // unescaped reference tokens
}

var pointerUnescaper = strings.NewReplacer("~1", "/", "~0", "~")

func parsePointer(s string) (jsonPointer, error) {
	if !strings.HasPrefix(s, "/") {
		return jsonPointer{}, errors.New(`must be a JSON pointer starting with "/"`)
	}
	tokens := strings.Split(s[1:], "/")
	for i, t := range tokens {
		for j := strings.IndexByte(t, '~'); j >= 0; j = strings.IndexByte(t, '~') {
			if j+1 == len(t) || (t[j+1] != '0' && t[j+1] != '1') {
				return jsonPointer{}, errors.New(`"~" must be followed by 0 or 1 (~0 is "~", ~1 is "/")`)
			}
			t = t[j+2:]
		}
		tokens[i] = pointerUnescaper.Replace(tokens[i])
	}
	return jsonPointer{text: s, tokens: tokens}, nil
}

// contains reports whether q is p or lies inside it.
func (p jsonPointer) contains(q jsonPointer) bool {
	return len(q.tokens) >= len(p.tokens) && slices.Equal(p.tokens, q.tokens[:len(p.tokens)])
}

// prefix is the pointer's first n tokens as written, for messages.
func (p jsonPointer) prefix(n int) string {
	parts := strings.SplitN(p.text, "/", n+2)
	return strings.Join(parts[:n+1], "/")
}

// arrayIndex reads an RFC 6901 array index ("0", or digits without a
// leading zero) below n.
func arrayIndex(tok string, n int) (int, bool) {
	if tok == "" || len(tok) > 1 && tok[0] == '0' || strings.Trim(tok, "0123456789") != "" {
		return 0, false
	}
	i, err := strconv.Atoi(tok)
	return i, err == nil && i < n
}

// removeAt removes the member or element at tokens below v, editing v in
// place, and returns v (shorter, if v is the array that lost an element)
// and whether there was anything to remove.
func removeAt(v any, tokens []string) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		child, ok := x[tokens[0]]
		if !ok {
			return v, false
		}
		if len(tokens) == 1 {
			delete(x, tokens[0])
			return x, true
		}
		child, removed := removeAt(child, tokens[1:])
		if removed {
			x[tokens[0]] = child
		}
		return x, removed
	case []any:
		i, ok := arrayIndex(tokens[0], len(x))
		if !ok {
			return v, false
		}
		if len(tokens) == 1 {
			return slices.Delete(x, i, i+1), true
		}
		child, removed := removeAt(x[i], tokens[1:])
		if removed {
			x[i] = child
		}
		return x, removed
	}
	return v, false
}

// setAt sets the value at p.tokens[depth:] below v, creating objects for
// missing or null members on the way, and returns v (a new value where v
// itself was replaced or was an array that grew).
func setAt(v any, p jsonPointer, depth int, value any) (any, error) {
	tok, last := p.tokens[depth], depth == len(p.tokens)-1
	switch x := v.(type) {
	case map[string]any:
		if last {
			x[tok] = value
			return x, nil
		}
		child := x[tok]
		if child == nil {
			child = map[string]any{}
		}
		child, err := setAt(child, p, depth+1, value)
		if err != nil {
			return nil, err
		}
		x[tok] = child
		return x, nil
	case []any:
		if tok == "-" {
			if last {
				return append(x, value), nil
			}
			child, err := setAt(map[string]any{}, p, depth+1, value)
			if err != nil {
				return nil, err
			}
			return append(x, child), nil
		}
		i, ok := arrayIndex(tok, len(x))
		if !ok {
			return nil, fmt.Errorf("cannot set %s: %s has no element %q (length %d)", p.text, orRoot(p.prefix(depth)), tok, len(x))
		}
		if last {
			x[i] = value
			return x, nil
		}
		child, err := setAt(x[i], p, depth+1, value)
		if err != nil {
			return nil, err
		}
		x[i] = child
		return x, nil
	}
	return nil, fmt.Errorf("cannot set %s: %s is %s, not an object or array", p.text, orRoot(p.prefix(depth)), jsonKind(v))
}

func orRoot(s string) string {
	if s == "" {
		return "the record"
	}
	return s
}

// jsonKind is jqKind for the values encodeObject writes, which include the
// raw JSON that add_fields sets.
func jsonKind(v any) string {
	if raw, isRaw := v.(json.RawMessage); isRaw {
		var x any
		if err := json.Unmarshal(raw, &x); err != nil {
			return "a value"
		}
		return jqKind(x)
	}
	return jqKind(v)
}
