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

// Output is the outcome for one input record: the first record it yields,
// then each of More.
type Output struct {
	Result        Result
	Data          []byte            // the new record, for Ok; for ProcessingFailed, see Transform
	PartitionKeys map[string]string // optional, for Ok: added to the record's keys
	// PartitionKey, when set, replaces the record's Kinesis partition key
	// (a KPL sub-record carries its own); "" keeps the input's.
	PartitionKey string
	ErrorCode    string // for ProcessingFailed, e.g. "Lambda.FunctionError"
	ErrorMessage string // for ProcessingFailed
	// More are the further records the input yields, after this one, in
	// order; each has its own Result (and may itself have More). An input
	// that yields no record at all is Dropped.
	More []Output
}

// Records calls yield for each record o stands for, in order: o itself
// (without More), then each of More, depth first. k counts from 0; it is
// the record's sub-sequence within its input. It is an iterator:
// for k, r := range o.Records { … }.
func (o Output) Records(yield func(k int, r Output) bool) {
	k := 0
	o.each(&k, yield)
}

func (o Output) each(k *int, yield func(int, Output) bool) bool {
	more := o.More
	o.More = nil
	if !yield(*k, o) {
		return false
	}
	*k++
	for _, m := range more {
		if !m.each(k, yield) {
			return false
		}
	}
	return true
}

// Count returns the number of records o stands for: 1 + those of More.
func (o Output) Count() int {
	n := 1
	for _, m := range o.More {
		n += m.Count()
	}
	return n
}

// Transform processes a batch. Process returns exactly one Output per input
// record, in input order, and must honour ctx. Process must not keep recs,
// but an Output's Data may share their bytes (a sub-record is a slice of its
// input's): the pipeline never reuses a record's data.
//
// One input may yield several records (a KPL aggregate's sub-records, a
// split): its Output is the first and Output.More the rest, in order, each
// with its own Result, partition keys and Kinesis partition key. They are
// delivered in that order, each marked with the input's sequence and its
// position among the input's records (buffer.Record.SubSequence), so a
// destination's names and ids stay unique; a transform must yield the same
// records, in the same order, from the same input, so that a re-read after
// a crash names them as before. A record that fails is written to the
// error output alone: with Data set, that is what the error output gets as
// the failed record (a sub-record); nil means the input record as it was
// read. Per-record
// failures are ProcessingFailed outputs; an error from Process means the
// whole batch could not be processed and may be retried.
type Transform interface {
	Process(ctx context.Context, recs []buffer.Record) ([]Output, error)
}

// Func adapts a per-record function to Transform.
type Func func(r buffer.Record) Output

// Process calls f for each record. It stops with ctx's error once ctx
// ends: f may be slow per record (a KPL aggregate of 50,000 user records).
func (f Func) Process(ctx context.Context, recs []buffer.Record) ([]Output, error) {
	out := make([]Output, len(recs))
	for i, r := range recs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
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
// passed to the next, partition keys accumulate (later keys win), and each
// record an input yields (Output.More) is passed to the next transform on
// its own, whose outputs for it take its place among its input's records.
func Chain(ts ...Transform) Transform {
	if len(ts) == 1 {
		return ts[0]
	}
	return chain(ts)
}

type chain []Transform

// slot is one record an input has yielded so far in a chain.
type slot struct {
	out  Output
	live bool          // Ok: passed to the next transform
	rec  buffer.Record // what the next transform gets
	// sub is the record's data when it last became a record of its own,
	// one of several a record yielded; nil while it stands for its input.
	sub []byte
}

// apply returns what s becomes after a transform's output r for it; split
// says that r is one of several records that output stands for.
func (s slot) apply(r Output, split bool) slot {
	pk := s.out.PartitionKey
	if r.PartitionKey != "" {
		pk = r.PartitionKey
	}
	switch r.Result {
	case Ok:
		keys := s.out.PartitionKeys
		if len(r.PartitionKeys) > 0 {
			if keys == nil || split {
				keys = maps.Clone(keys) // sub-records must not share their input's map
				if keys == nil {
					keys = make(map[string]string, len(r.PartitionKeys))
				}
			}
			maps.Copy(keys, r.PartitionKeys)
		}
		sub := s.sub
		if split {
			sub = r.Data // a record of its own from here on
		}
		rec := s.rec
		rec.Data = r.Data
		if pk != "" {
			rec.PartitionKey = pk
		}
		return slot{out: Output{Result: Ok, Data: r.Data, PartitionKeys: keys, PartitionKey: pk}, live: true, rec: rec, sub: sub}
	case ProcessingFailed:
		data := r.Data
		if data == nil {
			data = s.sub // a sub-record fails as itself; a whole input as it was read
		}
		return slot{out: Output{Result: ProcessingFailed, Data: data, PartitionKey: pk, ErrorCode: r.ErrorCode, ErrorMessage: r.ErrorMessage}}
	}
	return slot{out: Output{Result: r.Result}}
}

func (c chain) Process(ctx context.Context, recs []buffer.Record) ([]Output, error) {
	slots := make([][]slot, len(recs))
	one := make([]slot, len(recs)) // the common case: one record per input
	for i, r := range recs {
		one[i] = slot{out: Output{Result: Ok, Data: r.Data}, live: true, rec: r}
		slots[i] = one[i : i+1 : i+1]
	}
	cur := make([]buffer.Record, 0, len(recs))
	for _, t := range c {
		cur = cur[:0]
		for _, ss := range slots {
			for _, s := range ss {
				if s.live {
					cur = append(cur, s.rec)
				}
			}
		}
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
		j := 0
		for i, ss := range slots {
			var grown []slot // nil while each live record of input i yields one
			for si, s := range ss {
				if !s.live {
					if grown != nil {
						grown = append(grown, s)
					}
					continue
				}
				o := res[j]
				j++
				if len(o.More) == 0 {
					if ns := s.apply(o, false); grown != nil {
						grown = append(grown, ns)
					} else {
						ss[si] = ns
					}
					continue
				}
				if grown == nil {
					grown = append(make([]slot, 0, len(ss)+o.Count()-1), ss[:si]...)
				}
				o.Records(func(_ int, r Output) bool {
					grown = append(grown, s.apply(r, true))
					return true
				})
			}
			if grown != nil {
				slots[i] = grown
			}
		}
	}
	out := make([]Output, len(recs))
	for i, ss := range slots {
		out[i] = ss[0].out
		if len(ss) > 1 {
			out[i].More = make([]Output, len(ss)-1)
			for k, s := range ss[1:] {
				out[i].More[k] = s.out
			}
		}
	}
	return out, nil
}
