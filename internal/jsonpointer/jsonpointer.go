package jsonpointer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// Pointer is a compiled RFC 6901 JSON pointer. The zero Pointer is the
// empty pointer ("").
type Pointer struct {
	tokens []string
	// path is the pointer as a gjson path, which looks the value up without
	// decoding the rest of the document; empty when a token cannot be said
	// in gjson's syntax (an empty key), and lookups decode instead.
	path string
}

var unescape = strings.NewReplacer("~1", "/", "~0", "~")

// Compile parses s ("" or "/a/b~1c"); "" compiles to the zero Pointer.
func Compile(s string) (Pointer, error) {
	if s == "" {
		return Pointer{}, nil
	}
	if s[0] != '/' {
		return Pointer{}, fmt.Errorf("JSON pointer %q must start with /", s)
	}
	tokens := strings.Split(s[1:], "/")
	for i, t := range tokens {
		tokens[i] = unescape.Replace(t)
	}
	p := Pointer{tokens: tokens}
	if !slices.Contains(tokens, "") {
		escaped := make([]string, len(tokens))
		for i, t := range tokens {
			escaped[i] = gjson.Escape(t)
		}
		p.path = strings.Join(escaped, ".")
	}
	return p, nil
}

// IsZero reports whether p is the empty pointer.
func (p Pointer) IsZero() bool { return p.tokens == nil }

// LookupString returns the string, number (as written) or boolean that p
// points at in doc, which must be valid JSON (callers validate records
// first); ok is false when there is none, or it is null, an object, an
// array or the empty string. When a key is repeated in an object, the first
// one counts. It never panics, whatever doc holds.
func (p Pointer) LookupString(doc []byte) (string, bool) {
	if p.path == "" {
		return p.lookupDecoded(doc)
	}
	if d := bytes.TrimLeft(doc, " \t\r\n"); len(d) == 0 || (d[0] != '{' && d[0] != '[') {
		// A scalar has nothing under it; gjson would look inside a string
		// document as if it were the JSON it spells.
		return "", false
	}
	r := gjson.GetBytes(doc, p.path)
	switch r.Type {
	case gjson.String:
		if strings.ContainsRune(r.Str, utf8.RuneError) && strings.Contains(r.Raw, `\u`) {
			// gjson reads a lone surrogate escape followed by another \u
			// escape as one U+FFFD; encoding/json (what every other reader
			// of the record uses) reads two characters.
			var s string
			if json.Unmarshal([]byte(r.Raw), &s) == nil {
				return s, s != ""
			}
		}
		return r.Str, r.Str != ""
	case gjson.Number:
		return r.Raw, true
	case gjson.True:
		return "true", true
	case gjson.False:
		return "false", true
	}
	return "", false
}

// Resolve returns the value p points at in v, a decoded JSON document
// (maps, slices, and scalars as encoding/json decodes them); ok is false
// when the path leads nowhere: a missing key, an array index out of range
// or not in RFC 6901's form ("0", or digits without a leading zero), or a
// step into a scalar.
func (p Pointer) Resolve(v any) (any, bool) {
	for _, tok := range p.tokens {
		switch x := v.(type) {
		case map[string]any:
			next, ok := x[tok]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, ok := arrayIndex(tok, len(x))
			if !ok {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// arrayIndex parses an RFC 6901 array index below n.
func arrayIndex(tok string, n int) (int, bool) {
	if tok == "" || len(tok) > 10 || (len(tok) > 1 && tok[0] == '0') {
		return 0, false
	}
	i := 0
	for j := 0; j < len(tok); j++ {
		if tok[j] < '0' || tok[j] > '9' {
			return 0, false
		}
		i = i*10 + int(tok[j]-'0')
	}
	return i, i < n
}

// lookupDecoded is LookupString by decoding the whole document, for
// pointers gjson cannot express.
func (p Pointer) lookupDecoded(doc []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", false
	}
	for _, tok := range p.tokens {
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
