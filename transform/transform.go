package transform

import (
	"context"
	"fmt"
	"maps"

	"github.com/hydrant-dev/hydrant/buffer"
)

// Result is the outcome of transforming one record, as in Firehose's
// Lambda contract.
type Result int

const (
	Ok Result = iota
	Dropped
	ProcessingFailed
)

func (r Result) String() string {
	switch r {
	case Ok:
		return "Ok"
	case Dropped:
		return "Dropped"
	case ProcessingFailed:
		return "ProcessingFailed"
	}
	return fmt.Sprintf("Result(%d)", int(r))
}

// Output is the outcome for one input record.
type Output struct {
	Result        Result
	Data          []byte            // the new record, for Ok
	PartitionKeys map[string]string // optional, for Ok: added to the record's keys
	ErrorCode     string            // for ProcessingFailed, e.g. "Lambda.FunctionError"
	ErrorMessage  string            // for ProcessingFailed
}

// Transform processes a batch. Process returns exactly one Output per input
// record, in input order, and must honour ctx. Per-record failures are
// ProcessingFailed outputs; an error from Process means the whole batch could
// not be processed and may be retried. Process must not keep recs.
type Transform interface {
	Process(ctx context.Context, recs []buffer.Record) ([]Output, error)
}

// Func adapts a per-record function to Transform.
type Func func(r buffer.Record) Output

// Process calls f for each record.
func (f Func) Process(_ context.Context, recs []buffer.Record) ([]Output, error) {
	out := make([]Output, len(recs))
	for i, r := range recs {
		out[i] = f(r)
	}
	return out, nil
}

// BatchFunc adapts a function over a whole batch to Transform.
type BatchFunc func(ctx context.Context, recs []buffer.Record) ([]Output, error)

// Process calls f.
func (f BatchFunc) Process(ctx context.Context, recs []buffer.Record) ([]Output, error) {
	return f(ctx, recs)
}

// Chain runs transforms in order: a record that one drops or fails is not
// passed to the next, and partition keys accumulate (later keys win).
func Chain(ts ...Transform) Transform {
	if len(ts) == 1 {
		return ts[0]
	}
	return chain(ts)
}

type chain []Transform

func (c chain) Process(ctx context.Context, recs []buffer.Record) ([]Output, error) {
	out := make([]Output, len(recs))
	live := make([]int, len(recs)) // indexes into recs still Ok
	cur := make([]buffer.Record, len(recs))
	for i, r := range recs {
		out[i] = Output{Result: Ok, Data: r.Data}
		live[i] = i
		cur[i] = r
	}
	for _, t := range c {
		if len(cur) == 0 {
			break
		}
		res, err := t.Process(ctx, cur)
		if err != nil {
			return nil, err
		}
		if len(res) != len(cur) {
			return nil, fmt.Errorf("transform %T returned %d results for %d records", t, len(res), len(cur))
		}
		nextLive, next := live[:0], cur[:0]
		for j, o := range res {
			i := live[j]
			if o.Result != Ok {
				out[i] = Output{Result: o.Result, ErrorCode: o.ErrorCode, ErrorMessage: o.ErrorMessage}
				continue
			}
			keys := out[i].PartitionKeys
			if len(o.PartitionKeys) > 0 {
				if keys == nil {
					keys = make(map[string]string, len(o.PartitionKeys))
				}
				maps.Copy(keys, o.PartitionKeys)
			}
			out[i] = Output{Result: Ok, Data: o.Data, PartitionKeys: keys}
			r := cur[j]
			r.Data = o.Data
			nextLive, next = append(nextLive, i), append(next, r)
		}
		live, cur = nextLive, next
	}
	return out, nil
}
