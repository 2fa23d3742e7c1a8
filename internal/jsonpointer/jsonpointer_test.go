package jsonpointer

import "testing"

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
	if _, ok := (Pointer{"id"}).LookupString([]byte(`not json`)); ok {
		t.Error("a lookup in a non-JSON document succeeded")
	}
}

func TestCompile(t *testing.T) {
	if p, err := Compile(""); err != nil || p != nil {
		t.Errorf(`Compile("") = %v, %v; want nil, nil`, p, err)
	}
	if _, err := Compile("id"); err == nil {
		t.Error(`Compile("id") succeeded; a pointer must start with /`)
	}
}
