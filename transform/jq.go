package transform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/itchyny/gojq"

	"github.com/hydrant-dev/hydrant/buffer"
)

// Error codes of the jq-based built-ins, as ProcessingFailed outputs carry them.
const (
	codeJQError   = "Transform.JQError"
	codeNotJSON   = "Transform.NotJSON"
	codeJQTimeout = "Transform.JQTimeout"
	codeJQTooBig  = "Transform.JQOutputTooLarge"
)

// defaultJQTimeout is how long a jq query may run on one record.
const defaultJQTimeout = time.Second

// defaultJQMaxSize bounds one record's output, as JSON.
const defaultJQMaxSize = 10 << 20

// maxJQDepth bounds how deeply a query's output may nest: encoding it
// recurses, and a goroutine stack past Go's limit ends the process, which
// no recover stops. A record decodes at most this deep too (encoding/json's
// limit), so only a query that builds nesting meets it.
const maxJQDepth = 10000

// NewJQ builds jq: it runs a jq query (gojq, github.com/itchyny/gojq) on each
// record, which must hold one JSON value, and takes the query's first output.
//
//	transforms:
//	  - type: jq
//	    query: 'select(.level != "debug") | {user: .user_id, msg}'
//	    timeout: 1s   # per record (default 1s)
//	    max_size: 10MiB   # of one record's output (default 10MiB)
//
// The first output becomes the record, as compact JSON without a trailing
// newline (jq's encoding: object keys sorted, '<', '>' and '&' not escaped,
// NaN as null). No output, or null, drops the record; an error, raised by
// the query or by error/1, fails it (Transform.JQError), as does a record
// that is not JSON (Transform.NotJSON). Numbers keep the digits they were
// written with unless the query computes with them, and integers beyond
// 64 bits are exact. The query sees no environment variables ($ENV is
// empty) and cannot read other records (input, inputs). A query that runs
// longer than timeout on one record (its cost may depend on the record:
// [range(.n)] with a huge n) is stopped and the record fails
// (Transform.JQTimeout), so one record cannot pin a core; the batch goes on.
// An output larger than max_size as JSON, or nested deeper than 10000
// levels (reduce range(.n) as $i (null; [.]) with a big n), fails its
// record (Transform.JQOutputTooLarge) before it is encoded: encoding a
// deeper one would overflow the stack and end the process.
// It runs under the ctx passed to Process too: when ctx ends, Process
// returns ctx's error, so the batch may be retried.
func NewJQ(_ Env, options map[string]any) (Transform, error) {
	o := NewOptions(options)
	code := jqOption(o, "query")
	timeout := jqTimeout(o)
	maxSize := o.Size("max_size", defaultJQMaxSize)
	if maxSize <= 0 {
		o.Fail("max_size", "must be more than 0, got %d", maxSize)
	}
	if err := o.Err(); err != nil {
		return nil, err
	}
	return BatchFunc(func(ctx context.Context, recs []buffer.Record) ([]Output, error) {
		out := make([]Output, len(recs))
		for i, r := range recs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			v, failed, err := runFirst(ctx, code, r.Data, timeout)
			switch {
			case err != nil:
				return nil, err
			case failed != nil:
				out[i] = *failed
			case v == nil:
				out[i] = Output{Result: Dropped}
			default:
				out[i] = encodeResult(v, maxSize)
			}
		}
		return out, nil
	}), nil
}

// encodeResult encodes a query's output as the new record, or fails it
// when it is too large or too deep to encode safely.
func encodeResult(v any, maxSize int) Output {
	if msg := checkResult(v, maxSize); msg != "" {
		return failedOutput(codeJQTooBig, msg)
	}
	data, err := gojq.Marshal(v)
	if err != nil { // gojq.Marshal reports none today
		return failedOutput(codeJQError, "encoding the result: "+err.Error())
	}
	if len(data) > maxSize { // checkResult counts no escapes
		return failedOutput(codeJQTooBig, fmt.Sprintf("the result is larger than max_size (%d bytes) as JSON", maxSize))
	}
	return Output{Result: Ok, Data: data}
}

// checkResult walks a query's output without recursion and says why it
// must not be encoded: nested deeper than maxJQDepth, or surely larger
// than maxSize bytes as JSON (it counts at least a byte a value and stops
// there, so it reads no more than about maxSize values, and copies only
// objects' values). "" means it may be.
func checkResult(v any, maxSize int) string {
	type frame struct {
		vals  []any // values still to read
		depth int   // of vals
	}
	tooLarge := fmt.Sprintf("the result is larger than max_size (%d bytes) as JSON", maxSize)
	size, stack := 0, []frame{{[]any{v}, 0}}
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if len(top.vals) == 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		e, depth := top.vals[0], top.depth
		top.vals = top.vals[1:]
		if depth > maxJQDepth {
			return fmt.Sprintf("the result nests deeper than %d levels", maxJQDepth)
		}
		switch x := e.(type) {
		case []any:
			if size += 1 + len(x); size > maxSize { // brackets and commas
				return tooLarge
			}
			stack = append(stack, frame{x, depth + 1})
		case map[string]any:
			if size += 1 + len(x); size > maxSize {
				return tooLarge
			}
			vals := make([]any, 0, len(x))
			for k, e := range x {
				if size += len(k) + 3; size > maxSize { // quotes and colon
					return tooLarge
				}
				vals = append(vals, e)
			}
			stack = append(stack, frame{vals, depth + 1})
		case string:
			size += len(x) + 2
		case json.Number:
			size += len(x)
		default: // null, booleans and the other numbers
			size++
		}
		if size > maxSize {
			return tooLarge
		}
	}
	return ""
}

// jqOption reads a required jq query option and compiles it, recording a
// missing, mistyped or invalid query against the option's name.
func jqOption(o *Options, name string) *gojq.Code {
	src := o.String(name, "") // reports a value that is not a string
	if !requireOption(o, name) {
		return nil
	}
	if _, isString := o.raw[name].(string); !isString {
		return nil
	}
	q, err := gojq.Parse(src) // "" and blanks: gojq says the query is missing
	if err != nil {
		o.Fail(name, "%v", err)
		return nil
	}
	code, err := gojq.Compile(q)
	if err != nil {
		o.Fail(name, "%v", err)
		return nil
	}
	return code
}

// jqTimeout reads the per-record time budget of a jq query.
func jqTimeout(o *Options) time.Duration {
	d := o.Duration("timeout", defaultJQTimeout)
	if d <= 0 || d > time.Minute {
		o.Fail("timeout", "must be more than 0 and at most 1m, got %v", d)
	}
	return d
}

// requireOption records an error when name is absent or null (a YAML key
// with no value), which Options.Required lets through.
func requireOption(o *Options, name string) bool {
	if v, ok := o.raw[name]; !ok || v == nil {
		o.Fail(name, "required")
		return false
	}
	return true
}

// runFirst decodes data as one JSON value and runs code on it, returning the
// first output (nil for none). A record that cannot be processed, or whose
// query runs past timeout, gives a ProcessingFailed output instead; err is
// set only when ctx has ended, which fails the whole batch.
func runFirst(ctx context.Context, code *gojq.Code, data []byte, timeout time.Duration) (v any, failed *Output, err error) {
	in, err := decodeJSON(data)
	if err != nil {
		f := failedOutput(codeNotJSON, err.Error())
		return nil, &f, nil
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		// gojq executes user code on arbitrary input: should it ever panic,
		// fail the record rather than the process.
		if p := recover(); p != nil {
			f := failedOutput(codeJQError, fmt.Sprintf("jq panicked: %v", p))
			v, failed, err = nil, &f, nil
		}
	}()
	v, ok := code.RunWithContext(ctx, in).Next()
	if !ok {
		return nil, nil, nil
	}
	if e, isErr := v.(error); isErr {
		if ctxErr := parent.Err(); ctxErr != nil {
			return nil, nil, ctxErr
		}
		if ctx.Err() != nil {
			f := failedOutput(codeJQTimeout, fmt.Sprintf("the query ran longer than its timeout (%v) on this record", timeout))
			return nil, &f, nil
		}
		var halt *gojq.HaltError
		if errors.As(e, &halt) && halt.Value() == nil {
			return nil, nil, nil // halt: stop without output, as jq exits 0
		}
		f := failedOutput(codeJQError, e.Error())
		return nil, &f, nil
	}
	return v, nil, nil
}

// decodeJSON decodes data, which must hold exactly one JSON value (with
// optional surrounding whitespace), into the values gojq works on: nil,
// bool, string, json.Number, []any and map[string]any. gojq takes
// json.Number as it is (its own command line decodes with UseNumber), so
// numbers keep their digits and big integers stay exact.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if err == io.EOF {
			return nil, errors.New("record is not JSON: it is empty")
		}
		return nil, fmt.Errorf("record is not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("record is not JSON: unexpected data after the first value")
	}
	return v, nil
}

// failedOutput is a ProcessingFailed output.
func failedOutput(code, msg string) Output {
	return Output{Result: ProcessingFailed, ErrorCode: code, ErrorMessage: msg}
}
