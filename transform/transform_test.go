package transform

import (
	"bytes"
	"context"
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
