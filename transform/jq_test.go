package transform

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
)

// recordCase is one record through a built-in and what must come out of it.
type recordCase struct {
	in     string
	result Result
	data   string            // for Ok
	keys   map[string]string // for Ok
	code   string            // for ProcessingFailed
	msg    string            // for ProcessingFailed: part of the message
}

// checkRecords runs every case through tr, once as a single batch in name
// order (so that the count and order of outputs are checked) and once per
// record, and checks the outputs and that the inputs were left alone.
func checkRecords(t *testing.T, tr Transform, cases map[string]recordCase) {
	t.Helper()
	names := slices.Sorted(maps.Keys(cases))
	recs := make([]buffer.Record, len(names))
	for i, name := range names {
		recs[i] = buffer.Record{Data: []byte(cases[name].in), Sequence: uint64(i)}
	}
	batch, err := tr.Process(context.Background(), recs)
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if len(batch) != len(recs) {
		t.Fatalf("Process returned %d outputs for %d records", len(batch), len(recs))
	}
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			c := cases[name]
			checkOutput(t, "in a batch", batch[i], c)
			alone, err := tr.Process(context.Background(), recs[i:i+1])
			if err != nil || len(alone) != 1 {
				t.Fatalf("Process alone = %d outputs, %v", len(alone), err)
			}
			checkOutput(t, "alone", alone[0], c)
			if string(recs[i].Data) != c.in {
				t.Errorf("the input record changed to %q", recs[i].Data)
			}
		})
	}
}

func checkOutput(t *testing.T, how string, got Output, want recordCase) {
	t.Helper()
	if got.Result != want.result {
		t.Errorf("%s: result = %v (%s: %s), want %v", how, got.Result, got.ErrorCode, got.ErrorMessage, want.result)
		return
	}
	switch got.Result {
	case Ok:
		if string(got.Data) != want.data {
			t.Errorf("%s: data = %s, want %s", how, got.Data, want.data)
		}
		if !maps.Equal(got.PartitionKeys, want.keys) {
			t.Errorf("%s: partition keys = %v, want %v", how, got.PartitionKeys, want.keys)
		}
	case ProcessingFailed:
		if got.ErrorCode != want.code || !strings.Contains(got.ErrorMessage, want.msg) {
			t.Errorf("%s: failed with %s: %q, want %s containing %q", how, got.ErrorCode, got.ErrorMessage, want.code, want.msg)
		}
	}
}

// optionCase is a factory given options it must refuse.
type optionCase struct {
	factory Factory
	options map[string]any
	want    string // part of the error
}

func checkBadOptions(t *testing.T, cases map[string]optionCase) {
	t.Helper()
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			tr, err := c.factory(Env{}, c.options)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
			if tr != nil {
				t.Errorf("a transform came back with the error")
			}
		})
	}
}

func mustBuild(t testing.TB, f Factory, options map[string]any) Transform {
	t.Helper()
	tr, err := f(Env{Delivery: "test"}, options)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestJQ(t *testing.T) {
	tests := map[string]struct {
		query string
		recordCase
	}{
		"path":                             {".a", recordCase{in: `{"a":{"b":1}}`, result: Ok, data: `{"b":1}`}},
		"object construction":              {"{user: .user_id, n: .seq}", recordCase{in: `{"user_id":"u1","seq":7,"x":true}`, result: Ok, data: `{"n":7,"user":"u1"}`}},
		"identity compacts and sorts keys": {".", recordCase{in: "{ \"b\": [1, 2],\n \"a\": \"x\" }\n", result: Ok, data: `{"a":"x","b":[1,2]}`}},
		"large integer kept exactly":       {".", recordCase{in: `{"id": 12345678901234567890}`, result: Ok, data: `{"id":12345678901234567890}`}},
		"large integer arithmetic":         {".id + 1", recordCase{in: `{"id": 12345678901234567890}`, result: Ok, data: `12345678901234567891`}},
		"decimal digits kept":              {".f", recordCase{in: `{"f": 1.50}`, result: Ok, data: `1.50`}},
		"string result":                    {".name", recordCase{in: `{"name":"x"}`, result: Ok, data: `"x"`}},
		"html characters not escaped":      {".s", recordCase{in: `{"s":"<a&b>"}`, result: Ok, data: `"<a&b>"`}},
		"first of several outputs":         {".[]", recordCase{in: `[3,4]`, result: Ok, data: `3`}},
		"false is a value":                 {".ok", recordCase{in: `{"ok":false}`, result: Ok, data: `false`}},
		"select keeps":                     {`select(.level != "debug")`, recordCase{in: `{"level":"info"}`, result: Ok, data: `{"level":"info"}`}},
		"select drops":                     {`select(.level != "debug")`, recordCase{in: `{"level":"debug"}`, result: Dropped}},
		"null drops":                       {".missing", recordCase{in: `{"a":1}`, result: Dropped}},
		"empty drops":                      {"empty", recordCase{in: `{"a":1}`, result: Dropped}},
		"halt drops":                       {"halt", recordCase{in: `{"a":1}`, result: Dropped}},
		"type error":                       {".a.b", recordCase{in: `{"a":"s"}`, result: ProcessingFailed, code: "Transform.JQError", msg: "expected an object"}},
		"error function":                   {`error("boom")`, recordCase{in: `{}`, result: ProcessingFailed, code: "Transform.JQError", msg: "boom"}},
		"error after an output":            {`1, error("late")`, recordCase{in: `{}`, result: Ok, data: `1`}},
		"halt_error":                       {`"bye" | halt_error`, recordCase{in: `{}`, result: ProcessingFailed, code: "Transform.JQError", msg: "bye"}},
		"no environment":                   {`$ENV | length`, recordCase{in: `{}`, result: Ok, data: `0`}},
		"not JSON":                         {".", recordCase{in: `hello`, result: ProcessingFailed, code: "Transform.NotJSON", msg: "invalid character"}},
		"truncated JSON":                   {".", recordCase{in: `{"a":`, result: ProcessingFailed, code: "Transform.NotJSON", msg: "not JSON"}},
		"empty record":                     {".", recordCase{in: ``, result: ProcessingFailed, code: "Transform.NotJSON", msg: "empty"}},
		"two values":                       {".", recordCase{in: `{"a":1} {"a":2}`, result: ProcessingFailed, code: "Transform.NotJSON", msg: "after the first value"}},
		"trailing garbage":                 {".", recordCase{in: `{"a":1}x`, result: ProcessingFailed, code: "Transform.NotJSON", msg: "after the first value"}},
		"scalar record":                    {". * 2", recordCase{in: "21\n", result: Ok, data: `42`}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			tr := mustBuild(t, NewJQ, map[string]any{"query": tt.query})
			checkRecords(t, tr, map[string]recordCase{name: tt.recordCase})
		})
	}
}

func TestJQBatch(t *testing.T) {
	tr := mustBuild(t, NewJQ, map[string]any{"query": `select(.keep) | .n`})
	checkRecords(t, tr, map[string]recordCase{
		"a kept":     {in: `{"keep":true,"n":1}`, result: Ok, data: `1`},
		"b dropped":  {in: `{"keep":false,"n":2}`, result: Dropped},
		"c not JSON": {in: `{`, result: ProcessingFailed, code: "Transform.NotJSON", msg: "not JSON"},
		"d failed":   {in: `[]`, result: ProcessingFailed, code: "Transform.JQError", msg: "expected an object"},
		"e kept":     {in: `{"keep":1,"n":"five"}`, result: Ok, data: `"five"`},
	})
}

func TestJQOptions(t *testing.T) {
	checkBadOptions(t, map[string]optionCase{
		"missing query":  {NewJQ, nil, "query: required"},
		"null query":     {NewJQ, map[string]any{"query": nil}, "query: required"},
		"empty query":    {NewJQ, map[string]any{"query": ""}, "query: missing query"},
		"query not text": {NewJQ, map[string]any{"query": 3}, "query: must be a string"},
		"parse error":    {NewJQ, map[string]any{"query": ".a |"}, "query: unexpected EOF"},
		"unknown func":   {NewJQ, map[string]any{"query": "nosuch(1)"}, "query: function not defined: nosuch/1"},
		"input disabled": {NewJQ, map[string]any{"query": "input"}, "query: "},
		"unknown option": {NewJQ, map[string]any{"query": ".", "filter": "."}, "filter: unknown option (valid: max_size, query, timeout)"},
		"partition too":  {NewPartition, map[string]any{"query": "{a:"}, "query: "},
	})
}

func TestJQContext(t *testing.T) {
	recs := []buffer.Record{{Data: []byte(`{}`)}}
	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, f := range []Factory{NewJQ, NewPartition} {
			out, err := mustBuild(t, f, map[string]any{"query": "."}).Process(ctx, recs)
			if !errors.Is(err, context.Canceled) || out != nil {
				t.Errorf("Process = %v, %v; want context.Canceled", out, err)
			}
		}
	})
	t.Run("query that never ends", func(t *testing.T) {
		// The query loops until ctx ends: the batch fails (to be retried)
		// rather than a record, and Process returns.
		for _, f := range []Factory{NewJQ, NewPartition} {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			out, err := mustBuild(t, f, map[string]any{"query": "def f: f; f"}).Process(ctx, recs)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) || out != nil {
				t.Errorf("Process = %v, %v; want context.DeadlineExceeded", out, err)
			}
		}
	})
}

// benchRecords makes n JSON records of about size bytes each.
func benchRecords(n, size int) ([]buffer.Record, int64) {
	recs := make([]buffer.Record, n)
	var total int64
	for i := range recs {
		head := fmt.Sprintf(`{"user_id":"user-%d","customer_id":"customer-%d","seq":%d,"ts":%d,"level":"info","msg":"`,
			i, i%7, i, 1764000000+i)
		pad := max(size-len(head)-2, 0)
		data := []byte(head + strings.Repeat("x", pad) + `"}`)
		recs[i] = buffer.Record{Data: data, Sequence: uint64(i)}
		total += int64(len(data))
	}
	return recs, total
}

func BenchmarkJQ(b *testing.B) {
	tr := mustBuild(b, NewJQ, map[string]any{"query": "{user: .user_id, n: .seq}"})
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

// A query whose cost depends on the record is stopped after its per-record
// timeout: that record fails (to the error output) and the others of the
// batch go on. (On the old main it ran until the process stopped.)
func TestJQTimeoutPerRecord(t *testing.T) {
	recs := []buffer.Record{{Data: []byte(`{"n":1e15}`)}, {Data: []byte(`{"n":3}`)}}
	for _, tt := range []struct {
		name    string
		factory Factory
		query   string
	}{
		{"jq, a huge range", NewJQ, "[range(.n)] | length"},
		{"jq, endless recursion on big n", NewJQ, "if .n > 10 then (def f: f; f) else .n end"},
		{"jq, repeat on big n", NewJQ, "if .n > 10 then last(repeat(.)) else .n end"},
		{"partition, a huge range", NewPartition, "{k: ([range(.n)] | length)}"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := mustBuild(t, tt.factory, map[string]any{"query": tt.query, "timeout": "100ms"})
			start := time.Now()
			out, err := tr.Process(context.Background(), recs)
			if err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Fatalf("took %v with a 100ms budget", took)
			}
			if out[0].Result != ProcessingFailed || !strings.Contains(out[0].ErrorMessage, "longer than its timeout (100ms)") {
				t.Errorf("the costly record: %+v", out[0])
			}
			if out[1].Result != Ok {
				t.Errorf("the cheap record: %+v", out[1])
			}
		})
	}
	for _, bad := range []any{"0s", "2m", "soon"} {
		if _, err := NewJQ(Env{}, map[string]any{"query": ".", "timeout": bad}); err == nil {
			t.Errorf("timeout %v accepted", bad)
		}
	}
}

// A query's output that is too large, or nested too deep to encode, fails
// its record before it is encoded. (On the old main, an output nested 3
// million deep, which a query builds from one small record in under a
// second, overflowed the stack while being encoded: a fatal error that no
// recover stops, so the process died, and again on every restart.)
func TestJQOutputBounds(t *testing.T) {
	const tooBig = "Transform.JQOutputTooLarge"
	query := `if .deep then reduce range(.deep) as $i (null; [.]) elif .wide then [range(.wide)] elif .esc then "\u0000" * .esc else . end`
	tr := mustBuild(t, NewJQ, map[string]any{"query": query, "max_size": "64KiB", "timeout": "1m"})
	nested := func(n int) string { return strings.Repeat("[", n) + "null" + strings.Repeat("]", n) }
	wide := make([]string, 1000)
	for i := range wide {
		wide[i] = strconv.Itoa(i)
	}
	checkRecords(t, tr, map[string]recordCase{
		"deep, at the limit":           {in: `{"deep":10000}`, result: Ok, data: nested(10000)},
		"deep, past the limit":         {in: `{"deep":10001}`, result: ProcessingFailed, code: tooBig, msg: "the result nests deeper than 10000 levels"},
		"deep enough to end the stack": {in: `{"deep":3000000}`, result: ProcessingFailed, code: tooBig, msg: "nests deeper than 10000 levels"},
		"wide, within max_size":        {in: `{"wide":1000}`, result: Ok, data: "[" + strings.Join(wide, ",") + "]"},
		"wide, past max_size":          {in: `{"wide":70000}`, result: ProcessingFailed, code: tooBig, msg: "the result is larger than max_size (65536 bytes) as JSON"},
		"escaped past max_size":        {in: `{"esc":20000}`, result: ProcessingFailed, code: tooBig, msg: "larger than max_size"},
		"small":                        {in: `{"a":1}`, result: Ok, data: `{"a":1}`},
	})
	for _, bad := range []any{0, "-1KiB", "lots"} {
		if _, err := NewJQ(Env{}, map[string]any{"query": ".", "max_size": bad}); err == nil {
			t.Errorf("max_size %v accepted", bad)
		}
	}
}
