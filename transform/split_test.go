package transform

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hydrant-dev/hydrant/buffer"
)

func TestSplit(t *testing.T) {
	jsonl := map[string]any{"format": "json"}
	hashes := map[string]any{"format": "delimited", "delimiter": "####"}
	tests := []struct {
		name    string
		options map[string]any
		in      string
		want    []string // "result data code" of each record out
	}{
		{"json lines", jsonl, "{\"a\":1}\n{\"a\":2}\n", []string{"Ok {\"a\":1} ", "Ok {\"a\":2} "}},
		{"json objects back to back", jsonl, `{"a":1}{"b":{"c":[1,2]}} {"d":"}"}`, []string{"Ok {\"a\":1} ", "Ok {\"b\":{\"c\":[1,2]}} ", "Ok {\"d\":\"}\"} "}},
		{"one object", jsonl, ` {"a":1} `, []string{"Ok {\"a\":1} "}},
		{"nothing", jsonl, " \n", []string{"Dropped  "}},
		{"an array is not split", jsonl, `[{"a":1},{"a":2}]`, []string{"ProcessingFailed  Transform.SplitError"}},
		{"not JSON after an object", jsonl, `{"a":1} oops`, []string{"ProcessingFailed  Transform.SplitError"}},
		{"truncated", jsonl, `{"a":1}{"a":`, []string{"ProcessingFailed  Transform.SplitError"}},
		{"delimited", hashes, "a####b########c####", []string{"Ok a ", "Ok b ", "Ok c "}},
		{"no delimiter", hashes, "abc", []string{"Ok abc "}},
		{"only delimiters", hashes, "########", []string{"Dropped  "}},
		{"past max_records", map[string]any{"format": "delimited", "delimiter": ",", "max_records": 2}, "a,b,c", []string{"ProcessingFailed  Transform.SplitError"}},
		{"at max_records", map[string]any{"format": "json", "max_records": 2}, "{}{}", []string{"Ok {} ", "Ok {} "}},
		{"json past max_records", map[string]any{"format": "json", "max_records": 2}, "{}{}{}", []string{"ProcessingFailed  Transform.SplitError"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := mustBuild(t, NewSplit, tt.options).Process(context.Background(), []buffer.Record{{Data: []byte(tt.in), PartitionKey: "p"}})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			out[0].Records(func(_ int, r Output) bool {
				got = append(got, fmt.Sprintf("%s %s %s", r.Result, r.Data, r.ErrorCode))
				if r.PartitionKey != "" {
					t.Errorf("record %q has Kinesis partition key %q; it keeps its input's", r.Data, r.PartitionKey)
				}
				return true
			})
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
				t.Errorf("records %q, want %q", got, tt.want)
			}
		})
	}
	for _, bad := range []map[string]any{
		nil, {"format": "xml"}, {"format": "delimited"}, {"format": "json", "delimiter": ","},
		{"format": "json", "max_records": 0}, {"format": "json", "extra": 1},
	} {
		if _, err := NewSplit(Env{}, bad); err == nil {
			t.Errorf("options %v accepted", bad)
		}
	}
	_, err := NewSplit(Env{}, map[string]any{"format": "xml"})
	if err == nil || !strings.Contains(err.Error(), "format: must be json or delimited") {
		t.Errorf("bad format: %v", err)
	}
}

func FuzzSplit(f *testing.F) {
	f.Add([]byte(`{"a":1}{"b":[1,2]}`+"\n"+`{"c":"}"}`), []byte("\n"))
	f.Add([]byte(`[{"a":1}]`), []byte("##"))
	f.Add([]byte("a,b,,c"), []byte(","))
	f.Fuzz(func(t *testing.T, data, delim []byte) {
		if len(delim) == 0 {
			delim = []byte("\n")
		}
		js := mustBuild(t, NewSplit, map[string]any{"format": "json", "max_records": 50})
		dl := mustBuild(t, NewSplit, map[string]any{"format": "delimited", "delimiter": string(delim), "max_records": 50})
		for i, tr := range []Transform{js, dl} {
			isJSON := i == 0
			out, err := tr.Process(context.Background(), []buffer.Record{{Data: data}})
			if err != nil || len(out) != 1 {
				t.Fatalf("Process = %d outputs, %v", len(out), err)
			}
			if out[0].Count() > 50 {
				t.Fatalf("%d records, over max_records", out[0].Count())
			}
			out[0].Records(func(_ int, r Output) bool {
				switch {
				case r.Result != Ok:
				case len(r.Data) == 0:
					t.Fatalf("an empty record out of %q", data)
				case isJSON && (r.Data[0] != '{' || !json.Valid(r.Data)):
					t.Fatalf("%q is not a JSON object", r.Data)
				case !isJSON && bytes.Contains(r.Data, delim):
					t.Fatalf("%q holds the delimiter %q", r.Data, delim)
				}
				return true
			})
		}
	})
}
