package jsonpointer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Pointer is a compiled RFC 6901 JSON pointer; nil is the empty pointer.
type Pointer []string

var unescape = strings.NewReplacer("~1", "/", "~0", "~")

// Compile parses s ("" or "/a/b~1c"); "" compiles to nil.
func Compile(s string) (Pointer, error) {
	if s == "" {
		return nil, nil
	}
	if s[0] != '/' {
		return nil, fmt.Errorf("JSON pointer %q must start with /", s)
	}
	parts := strings.Split(s[1:], "/")
	for i, p := range parts {
		parts[i] = unescape.Replace(p)
	}
	return Pointer(parts), nil
}

// LookupString returns the value at p in the JSON document doc as a key:
// strings as they are, numbers and booleans as written. ok is false when doc
// is not JSON or the value is absent, null, empty, an object or an array.
func (p Pointer) LookupString(doc []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", false
	}
	for _, tok := range p {
		switch node := v.(type) {
		case map[string]any:
			v = node[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(node) {
				return "", false
			}
			v = node[i]
		default:
			return "", false
		}
	}
	switch x := v.(type) {
	case string:
		return x, x != ""
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}
