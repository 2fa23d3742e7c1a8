package transform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hydrant-dev/hydrant/buffer"
)

func TestAppendNewline(t *testing.T) {
	reg := NewRegistry()
	if err := RegisterBuiltins(reg); err != nil {
		t.Fatal(err)
	}
	tr, err := reg.New("append_newline", Env{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := []buffer.Record{{Data: []byte(`{"a":1}`)}, {Data: nil}}
	out, err := tr.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if string(out[0].Data) != "{\"a\":1}\n" || string(out[1].Data) != "\n" {
		t.Fatalf("outputs = %q, %q", out[0].Data, out[1].Data)
	}
	if string(in[0].Data) != `{"a":1}` {
		t.Fatal("append_newline changed its input")
	}
	if _, err := reg.New("append_newline", Env{}, map[string]any{"delimiter": ","}); err == nil {
		t.Fatal("unknown option accepted")
	}
}

func TestRegistry(t *testing.T) {
	reg := NewRegistry()
	if err := RegisterBuiltins(reg); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register("append_newline", NewAppendNewline); err == nil {
		t.Fatal("duplicate registration accepted")
	}
	if _, err := reg.New("nope", Env{}, nil); err == nil {
		t.Fatal("unknown type accepted")
	}
}

func TestChain(t *testing.T) {
	// Drop records starting with "d", fail those starting with "f", key the rest.
	filter := Func(func(r buffer.Record) Output {
		switch r.Data[0] {
		case 'd':
			return Output{Result: Dropped}
		case 'f':
			return Output{Result: ProcessingFailed, ErrorCode: "Bad", ErrorMessage: "starts with f"}
		}
		return Output{Result: Ok, Data: bytes.ToUpper(r.Data), PartitionKeys: map[string]string{"first": string(r.Data[:1])}}
	})
	seen := 0
	count := Func(func(r buffer.Record) Output {
		seen++
		return Output{Result: Ok, Data: append(r.Data, '!'), PartitionKeys: map[string]string{"n": fmt.Sprint(seen)}}
	})
	out, err := Chain(filter, count).Process(context.Background(), []buffer.Record{
		{Data: []byte("abc")}, {Data: []byte("drop")}, {Data: []byte("fail")}, {Data: []byte("xyz")},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Output{
		{Result: Ok, Data: []byte("ABC!"), PartitionKeys: map[string]string{"first": "a", "n": "1"}},
		{Result: Dropped},
		{Result: ProcessingFailed, ErrorCode: "Bad", ErrorMessage: "starts with f"},
		{Result: Ok, Data: []byte("XYZ!"), PartitionKeys: map[string]string{"first": "x", "n": "2"}},
	}
	for i := range want {
		if fmt.Sprint(out[i]) != fmt.Sprint(want[i]) {
			t.Errorf("output %d = %+v, want %+v", i, out[i], want[i])
		}
	}
	if seen != 2 {
		t.Errorf("second transform saw %d records, want 2", seen)
	}
}

// A record that yields several passes each to the next transform on its
// own; the next's outputs for it take its place, in order.
func TestChainSplits(t *testing.T) {
	// Split "a b c" at spaces, each part with its own Kinesis partition key.
	split := Func(func(r buffer.Record) Output {
		parts := bytes.Fields(r.Data)
		if len(parts) == 0 {
			return Output{Result: Dropped}
		}
		outs := make([]Output, len(parts))
		for k, p := range parts {
			outs[k] = Output{Result: Ok, Data: p, PartitionKey: "pk-" + string(p), PartitionKeys: map[string]string{"from": "split"}}
		}
		outs[0].More = outs[1:]
		return outs[0]
	})
	// Fail "f", drop "d", double "x" (a second split), key the rest by their
	// Kinesis partition key.
	next := Func(func(r buffer.Record) Output {
		switch string(r.Data) {
		case "f":
			return Output{Result: ProcessingFailed, ErrorCode: "Bad", ErrorMessage: "f"}
		case "d":
			return Output{Result: Dropped}
		case "x":
			return Output{Result: Ok, Data: []byte("x1"), More: []Output{{Result: Ok, Data: []byte("x2"), PartitionKey: "pk-x2"}}}
		}
		return Output{Result: Ok, Data: bytes.ToUpper(r.Data), PartitionKeys: map[string]string{"pk": r.PartitionKey}}
	})
	tests := []struct {
		name string
		in   string
		want []Output // each record the input yields, flattened
	}{
		{"one record", "a", []Output{
			{Result: Ok, Data: []byte("A"), PartitionKey: "pk-a", PartitionKeys: map[string]string{"from": "split", "pk": "pk-a"}}}},
		{"none", " ", []Output{{Result: Dropped}}},
		{"mixed", "a f d b x", []Output{
			{Result: Ok, Data: []byte("A"), PartitionKey: "pk-a", PartitionKeys: map[string]string{"from": "split", "pk": "pk-a"}},
			{Result: ProcessingFailed, Data: []byte("f"), PartitionKey: "pk-f", ErrorCode: "Bad", ErrorMessage: "f"},
			{Result: Dropped},
			{Result: Ok, Data: []byte("B"), PartitionKey: "pk-b", PartitionKeys: map[string]string{"from": "split", "pk": "pk-b"}},
			{Result: Ok, Data: []byte("x1"), PartitionKey: "pk-x", PartitionKeys: map[string]string{"from": "split"}},
			{Result: ProcessingFailed, Data: []byte("x2"), PartitionKey: "pk-x2", ErrorCode: "Bad", ErrorMessage: "x2"},
		}},
	}
	var in []buffer.Record
	for _, tt := range tests {
		in = append(in, buffer.Record{Data: []byte(tt.in), PartitionKey: "input"})
	}
	// Fail "x2": a piece of the second split fails as itself.
	last := Func(func(r buffer.Record) Output {
		if string(r.Data) == "x2" {
			return Output{Result: ProcessingFailed, ErrorCode: "Bad", ErrorMessage: "x2"}
		}
		return Output{Result: Ok, Data: r.Data}
	})
	out, err := Chain(split, next, last).Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(tests) {
		t.Fatalf("%d outputs for %d inputs", len(out), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := out[i].Count(); n != len(tt.want) {
				t.Fatalf("Count() = %d, want %d", n, len(tt.want))
			}
			var got []Output
			out[i].Records(func(k int, r Output) bool {
				if k != len(got) {
					t.Errorf("sub-sequence %d, want %d", k, len(got))
				}
				got = append(got, r)
				return true
			})
			for k := range tt.want {
				if fmt.Sprint(got[k]) != fmt.Sprint(tt.want[k]) {
					t.Errorf("record %d = %+v, want %+v", k, got[k], tt.want[k])
				}
			}
		})
	}
	// Sub-records do not share their partition keys' map.
	out[2].PartitionKeys["from"] = "changed"
	if out[2].More[3].PartitionKeys["from"] != "split" {
		t.Error("sub-records share a partition key map")
	}
}

// A Func stops at the record where its context ends, not at the batch's end.
func TestFuncHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	f := Func(func(r buffer.Record) Output {
		calls++
		if calls == 2 {
			cancel()
		}
		return Output{Result: Ok, Data: r.Data}
	})
	out, err := f.Process(ctx, make([]buffer.Record, 5))
	if !errors.Is(err, context.Canceled) || out != nil || calls != 2 {
		t.Fatalf("Process = %v, %v after %d calls; want context.Canceled after 2", out, err, calls)
	}
}
