package jsonpointer

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func TestLookupString(t *testing.T) {
	doc := []byte(`{"id":"a-1","n":12345678901234567890,"ok":true,"a/b":{"c~d":"x"},"list":[10,"y"],"null":null,"obj":{},"empty":""}`)
	tests := []struct {
		pointer string
		want    string
		ok      bool
	}{
		{"/id", "a-1", true},
		{"/n", "12345678901234567890", true}, // as written, not through float64
		{"/ok", "true", true},
		{"/a~1b/c~0d", "x", true},
		{"/list/0", "10", true},
		{"/list/1", "y", true},
		{"/list/2", "", false},
		{"/list/x", "", false},
		{"/missing", "", false},
		{"/null", "", false},
		{"/obj", "", false},
		{"/empty", "", false},
		{"/id/deeper", "", false},
	}
	for _, tt := range tests {
		p, err := Compile(tt.pointer)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tt.pointer, err)
		}
		got, ok := p.LookupString(doc)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: got %q, %v; want %q, %v", tt.pointer, got, ok, tt.want, tt.ok)
		}
	}
	id, _ := Compile("/id")
	if _, ok := id.LookupString([]byte(`not json`)); ok {
		t.Error("a lookup in a non-JSON document succeeded")
	}
}

// TestLookupStringSpecialKeys covers keys that mean something in gjson's
// path syntax, and the empty key, which it cannot express.
func TestLookupStringSpecialKeys(t *testing.T) {
	doc := []byte(`{"a.b":"dot","*":"star","#":"hash","@this":"at","a\\b":"backslash","":{"x":"empty"},"dup":"first","dup":"second","k":{"0":"zero"}}`)
	tests := []struct{ pointer, want string }{
		{"/a.b", "dot"},
		{"/*", "star"},
		{"/#", "hash"},
		{"/@this", "at"},
		{"/a\\b", "backslash"},
		{"//x", "empty"},
		{"/dup", "first"},
		{"/k/0", "zero"},
	}
	for _, tt := range tests {
		p, err := Compile(tt.pointer)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tt.pointer, err)
		}
		if got, ok := p.LookupString(doc); got != tt.want || !ok {
			t.Errorf("%s: got %q, %v; want %q", tt.pointer, got, ok, tt.want)
		}
	}
}

// FuzzLookupMatchesDecode checks the path lookup against decoding the whole
// document, on valid UTF-8 JSON (what ingest accepts) without repeated keys
// (where the two differ by design: the first key counts, not the last).
func FuzzLookupMatchesDecode(f *testing.F) {
	f.Add([]byte(`{"user_id":"u-1","n":1}`), "/user_id")
	f.Add([]byte(`{"a":{"b":[1,"x",{"c":true}]}}`), "/a/b/2/c")
	f.Add([]byte(`{"a":{"b":[1,"x",{"c":true}]}}`), "/a/b/1")
	f.Add([]byte(`{"k\u00e9y":"\ud83d\ude00 \"q\""}`), "/k\u00e9y")
	f.Add([]byte(`{"n":-1.5e+10,"s":""}`), "/n")
	f.Add([]byte(`[["a"],["b"]]`), "/1/0")
	f.Add([]byte(`{"a.b":{"*":"x"}}`), "/a.b/*")
	f.Fuzz(func(t *testing.T, doc []byte, pointer string) {
		p, err := Compile(pointer)
		if err != nil || p.path == "" || !utf8.Valid(doc) || !json.Valid(doc) || hasRepeatedKey(doc) {
			return
		}
		got, gotOK := p.LookupString(doc)
		want, wantOK := p.lookupDecoded(doc)
		if got != want || gotOK != wantOK {
			t.Fatalf("%s in %s: got %q, %v; decoding gives %q, %v", pointer, doc, got, gotOK, want, wantOK)
		}
	})
}

// hasRepeatedKey reports whether an object in doc (valid JSON) repeats a key.
func hasRepeatedKey(doc []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.object {
					top.key = true
				}
				stack = append(stack, &frame{object: v == '{', keys: map[string]bool{}, key: v == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
		default:
			if top != nil && top.object {
				if top.key {
					s := v.(string)
					if top.keys[s] {
						return true
					}
					top.keys[s] = true
				}
				top.key = !top.key
			}
		}
	}
}

func TestCompile(t *testing.T) {
	if p, err := Compile(""); err != nil || !p.IsZero() {
		t.Errorf(`Compile("") = %v, %v; want the zero Pointer`, p, err)
	}
	if _, err := Compile("id"); err == nil {
		t.Error(`Compile("id") succeeded; a pointer must start with /`)
	}
}
