package transform

import (
	"context"
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
