package transform

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/hydrant-dev/hydrant/buffer"
)

func TestDropFields(t *testing.T) {
	const notJSON = "Transform.NotJSON"
	tests := map[string]struct {
		fields []any
		recordCase
	}{
		"top level": {[]any{"/password"}, recordCase{
			in: `{"user":"u","password":"p"}`, result: Ok, data: `{"user":"u"}`}},
		"nested": {[]any{"/user/email", "/user/phone"}, recordCase{
			in: `{"user":{"name":"n","email":"e@x","phone":"1"},"email":"kept"}`, result: Ok, data: `{"email":"kept","user":{"name":"n"}}`}},
		"whole subtree": {[]any{"/user"}, recordCase{
			in: `{"user":{"email":"e"},"n":1}`, result: Ok, data: `{"n":1}`}},
		"missing is fine, record untouched": {[]any{"/password", "/user/email", "/a/0/b"}, recordCase{
			in: `{ "z": 1, "a": 2.50 }`, result: Ok, data: `{ "z": 1, "a": 2.50 }`}},
		"through a scalar": {[]any{"/name/first"}, recordCase{
			in: `{"name":"x"}`, result: Ok, data: `{"name":"x"}`}},
		"escaped keys": {[]any{"/a~1b", "/t~0k", "/~01"}, recordCase{
			in: `{"a/b":1,"t~k":2,"~1":3,"a":{"b":4}}`, result: Ok, data: `{"a":{"b":4}}`}},
		"empty key": {[]any{"/"}, recordCase{
			in: `{"":1,"x":2}`, result: Ok, data: `{"x":2}`}},
		"into arrays": {[]any{"/items/1/secret"}, recordCase{
			in: `{"items":[{"secret":1,"id":1},{"secret":2,"id":2}]}`, result: Ok, data: `{"items":[{"id":1,"secret":1},{"id":2}]}`}},
		"array element": {[]any{"/tags/0"}, recordCase{
			in: `{"tags":["a","b","c"]}`, result: Ok, data: `{"tags":["b","c"]}`}},
		"pointers apply in order": {[]any{"/tags/0", "/tags/0"}, recordCase{
			in: `{"tags":["a","b","c"]}`, result: Ok, data: `{"tags":["c"]}`}},
		"not an index": {[]any{"/tags/01", "/tags/-", "/tags/x", "/tags/9"}, recordCase{
			in: `{"tags":["a","b"]}`, result: Ok, data: `{"tags":["a","b"]}`}},
		"numbers kept": {[]any{"/password"}, recordCase{
			in: `{"id":12345678901234567890,"f":1.50,"password":"p"}`, result: Ok, data: `{"f":1.50,"id":12345678901234567890}`}},
		"html not escaped": {[]any{"/x"}, recordCase{
			in: `{"s":"<b>&","x":1}`, result: Ok, data: `{"s":"<b>&"}`}},
		"array record":  {[]any{"/0"}, recordCase{in: `[1,2]`, result: ProcessingFailed, code: notJSON, msg: "record is an array, not a JSON object"}},
		"string record": {[]any{"/a"}, recordCase{in: `"s"`, result: ProcessingFailed, code: notJSON, msg: "record is a string"}},
		"not JSON":      {[]any{"/a"}, recordCase{in: `a=1`, result: ProcessingFailed, code: notJSON, msg: "not JSON"}},
		"empty":         {[]any{"/a"}, recordCase{in: ``, result: ProcessingFailed, code: notJSON, msg: "empty"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			tr := mustBuild(t, NewDropFields, map[string]any{"fields": tt.fields})
			checkRecords(t, tr, map[string]recordCase{name: tt.recordCase})
		})
	}
}

func TestAddFields(t *testing.T) {
	const fieldErr = "Transform.FieldError"
	tests := map[string]struct {
		fields map[string]any
		recordCase
	}{
		"top level and nested": {map[string]any{"/env": "prod", "/meta/source": "hydrant"}, recordCase{
			in: `{"msg":"hi"}`, result: Ok, data: `{"env":"prod","meta":{"source":"hydrant"},"msg":"hi"}`}},
		"overwrites": {map[string]any{"/env": "prod"}, recordCase{
			in: `{"env":{"old":true}}`, result: Ok, data: `{"env":"prod"}`}},
		"into an existing object": {map[string]any{"/meta/source": "hydrant"}, recordCase{
			in: `{"meta":{"host":"h"}}`, result: Ok, data: `{"meta":{"host":"h","source":"hydrant"}}`}},
		"null becomes an object": {map[string]any{"/meta/source": "hydrant"}, recordCase{
			in: `{"meta":null}`, result: Ok, data: `{"meta":{"source":"hydrant"}}`}},
		"deep": {map[string]any{"/a/b/c/d": 1}, recordCase{
			in: `{}`, result: Ok, data: `{"a":{"b":{"c":{"d":1}}}}`}},
		"yaml values": {map[string]any{"/n": 3, "/f": 1.5, "/b": true, "/z": nil, "/l": []any{"a", 1}, "/m": map[string]any{"k": "v"}}, recordCase{
			in: `{}`, result: Ok, data: `{"b":true,"f":1.5,"l":["a",1],"m":{"k":"v"},"n":3,"z":null}`}},
		"escaped key": {map[string]any{"/a~1b": 1}, recordCase{
			in: `{}`, result: Ok, data: `{"a/b":1}`}},
		"html not escaped": {map[string]any{"/s": "<a&b>"}, recordCase{
			in: `{}`, result: Ok, data: `{"s":"<a&b>"}`}},
		"numbers kept": {map[string]any{"/env": "prod"}, recordCase{
			in: `{"id":12345678901234567890,"f":1.50}`, result: Ok, data: `{"env":"prod","f":1.50,"id":12345678901234567890}`}},
		"append": {map[string]any{"/tags/-": "new"}, recordCase{
			in: `{"tags":["a"]}`, result: Ok, data: `{"tags":["a","new"]}`}},
		"append an object": {map[string]any{"/items/-/id": 3}, recordCase{
			in: `{"items":[{"id":1}]}`, result: Ok, data: `{"items":[{"id":1},{"id":3}]}`}},
		"replace element": {map[string]any{"/tags/0": "A"}, recordCase{
			in: `{"tags":["a","b"]}`, result: Ok, data: `{"tags":["A","b"]}`}},
		"into an element": {map[string]any{"/items/1/seen": true}, recordCase{
			in: `{"items":[{},{"id":2}]}`, result: Ok, data: `{"items":[{},{"id":2,"seen":true}]}`}},
		"past the end": {map[string]any{"/tags/5": "x"}, recordCase{
			in: `{"tags":["a"]}`, result: ProcessingFailed, code: fieldErr, msg: `cannot set /tags/5: /tags has no element "5" (length 1)`}},
		"through a string": {map[string]any{"/meta/source": "hydrant"}, recordCase{
			in: `{"meta":"m"}`, result: ProcessingFailed, code: fieldErr, msg: "cannot set /meta/source: /meta is a string, not an object or array"}},
		"through a number": {map[string]any{"/a/b/c": 1}, recordCase{
			in: `{"a":{"b":7}}`, result: ProcessingFailed, code: fieldErr, msg: "/a/b is a number"}},
		"array record":  {map[string]any{"/a": 1}, recordCase{in: `[]`, result: ProcessingFailed, code: "Transform.NotJSON", msg: "record is an array"}},
		"null record":   {map[string]any{"/a": 1}, recordCase{in: `null`, result: ProcessingFailed, code: "Transform.NotJSON", msg: "record is null"}},
		"not JSON":      {map[string]any{"/a": 1}, recordCase{in: `{"a"`, result: ProcessingFailed, code: "Transform.NotJSON", msg: "not JSON"}},
		"fields record": {map[string]any{"/a": 1}, recordCase{in: "{\"b\":2}\n", result: Ok, data: `{"a":1,"b":2}`}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			tr := mustBuild(t, NewAddFields, map[string]any{"fields": tt.fields})
			checkRecords(t, tr, map[string]recordCase{name: tt.recordCase})
		})
	}
}

// TestAddFieldsSharedValues checks that a value set in one record is not
// changed through another.
func TestAddFieldsSharedValues(t *testing.T) {
	tr := mustBuild(t, NewAddFields, map[string]any{"fields": map[string]any{"/meta": map[string]any{"a": 1}}})
	drop := mustBuild(t, NewDropFields, map[string]any{"fields": []any{"/meta/a"}})
	recs := []buffer.Record{{Data: []byte(`{}`)}, {Data: []byte(`{}`)}}
	out, err := Chain(tr, drop).Process(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	again, err := tr.Process(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if string(out[0].Data) != `{"meta":{}}` || string(again[1].Data) != `{"meta":{"a":1}}` {
		t.Errorf("outputs = %s, then %s", out[0].Data, again[1].Data)
	}
}

func TestFieldsOptions(t *testing.T) {
	checkBadOptions(t, map[string]optionCase{
		"drop: missing":          {NewDropFields, nil, "fields: required"},
		"drop: null":             {NewDropFields, map[string]any{"fields": nil}, "fields: required"},
		"drop: not a list":       {NewDropFields, map[string]any{"fields": "/a"}, "fields: must be a list of strings"},
		"drop: empty list":       {NewDropFields, map[string]any{"fields": []any{}}, "fields: must list at least one JSON pointer"},
		"drop: no slash":         {NewDropFields, map[string]any{"fields": []any{"/ok", "password"}}, `fields[1]: "password": must be a JSON pointer starting with "/"`},
		"drop: whole record":     {NewDropFields, map[string]any{"fields": []any{""}}, `fields[0]: "": must be a JSON pointer`},
		"drop: bad escape":       {NewDropFields, map[string]any{"fields": []any{"/a~2"}}, `fields[0]: "/a~2": "~" must be followed by 0 or 1`},
		"drop: trailing tilde":   {NewDropFields, map[string]any{"fields": []any{"/a~"}}, `"~" must be followed by 0 or 1`},
		"drop: not a string":     {NewDropFields, map[string]any{"fields": []any{1}}, "fields[0]: must be a string"},
		"drop: unknown option":   {NewDropFields, map[string]any{"fields": []any{"/a"}, "field": "/b"}, "field: unknown option (valid: fields)"},
		"add: missing":           {NewAddFields, map[string]any{}, "fields: required"},
		"add: a list":            {NewAddFields, map[string]any{"fields": []any{"/a"}}, "fields: must be a mapping"},
		"add: empty":             {NewAddFields, map[string]any{"fields": map[string]any{}}, "fields: must map at least one JSON pointer"},
		"add: no slash":          {NewAddFields, map[string]any{"fields": map[string]any{"env": "prod"}}, `fields.env: must be a JSON pointer starting with "/"`},
		"add: bad escape":        {NewAddFields, map[string]any{"fields": map[string]any{"/~x": 1}}, `fields./~x: "~" must be followed by 0 or 1`},
		"add: overlap":           {NewAddFields, map[string]any{"fields": map[string]any{"/meta": map[string]any{}, "/meta/source": "h"}}, "fields: /meta/source lies inside /meta"},
		"add: overlap, unsorted": {NewAddFields, map[string]any{"fields": map[string]any{"/a": 1, "/a!": 2, "/a/b": 3}}, "fields: /a/b lies inside /a"},
		"add: not JSON":          {NewAddFields, map[string]any{"fields": map[string]any{"/m": map[any]any{1: "a"}}}, "fields./m: cannot be written as JSON"},
		"add: NaN":               {NewAddFields, map[string]any{"fields": map[string]any{"/x": math.NaN()}}, "fields./x: cannot be written as JSON"},
		"add: unknown option":    {NewAddFields, map[string]any{"fields": map[string]any{"/a": 1}, "overwrite": false}, "overwrite: unknown option (valid: fields)"},
	})
}

func TestFieldsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tr := range []Transform{
		mustBuild(t, NewDropFields, map[string]any{"fields": []any{"/a"}}),
		mustBuild(t, NewAddFields, map[string]any{"fields": map[string]any{"/a": 1}}),
	} {
		out, err := tr.Process(ctx, []buffer.Record{{Data: []byte(`{}`)}})
		if !errors.Is(err, context.Canceled) || out != nil {
			t.Errorf("Process = %v, %v; want context.Canceled", out, err)
		}
	}
}

func BenchmarkDropFields(b *testing.B) {
	tr := mustBuild(b, NewDropFields, map[string]any{"fields": []any{"/msg", "/user/email"}})
	recs, total := benchRecords(500, 1024)
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		out, err := tr.Process(context.Background(), recs)
		if err != nil || out[0].Result != Ok {
			b.Fatal(err, out[0])
		}
	}
}

// FuzzFields feeds arbitrary records to the JSON built-ins: one output each,
// Ok outputs are JSON, never a panic.
func FuzzFields(f *testing.F) {
	for _, s := range []string{`{"a":{"b":[1,{"c":2}]}}`, `{"tags":["x"]}`, `[]`, `null`, `{"a":1e999}`, `{"a":"\ud800"}`, `{`} {
		f.Add([]byte(s))
	}
	trs := []Transform{
		mustBuild(f, NewDropFields, map[string]any{"fields": []any{"/a/b/1/c", "/a/b/0", "/tags/-", "/"}}),
		mustBuild(f, NewAddFields, map[string]any{"fields": map[string]any{"/a/b/-": 1, "/tags/0": "t", "/x/y": nil}}),
		mustBuild(f, NewJQ, map[string]any{"query": `.a.b[1]? // .`}),
		mustBuild(f, NewPartition, map[string]any{"query": `{a: (.a | tostring)}`}),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tr := range trs {
			out, err := tr.Process(context.Background(), []buffer.Record{{Data: data}})
			if err != nil || len(out) != 1 {
				t.Fatalf("Process = %d outputs, %v", len(out), err)
			}
			if out[0].Result == Ok {
				if _, err := decodeJSON(out[0].Data); err != nil {
					t.Fatalf("Ok output %q is not JSON: %v", out[0].Data, err)
				}
			}
		}
	})
}
