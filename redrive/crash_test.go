package redrive_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/redrive"
	"github.com/hydrant-dev/hydrant/transform"
)

// errCrash stands for the process dying right after a call returned.
var errCrash = errors.New("crash")

// crashAfter delegates every call and fails the one numbered at (from 1),
// after it did its work: the redrive stops as if killed right there.
type crashAfter struct {
	destinations.Destination
	errors destinations.ErrorOutput
	at     int
	calls  int
}

func (c *crashAfter) crash() error {
	if c.calls++; c.calls == c.at {
		return errCrash
	}
	return nil
}

func (c *crashAfter) Deliver(ctx context.Context, b *buffer.Batch) error {
	if err := c.Destination.Deliver(ctx, b); err != nil {
		return err
	}
	return c.crash()
}

func (c *crashAfter) WriteErrors(ctx context.Context, b *destinations.ErrorBatch) error {
	if err := c.errors.WriteErrors(ctx, b); err != nil {
		return err
	}
	return c.crash()
}

// A redrive cut short at each point where a crash can land — after each
// batch it delivered, after it wrote the records that failed again — and
// run again, with another transform meanwhile, delivers every record once
// and writes every failed record to one error object.
func TestRedriveCutShortAtEachCall(t *testing.T) {
	// Three partitions (three batches) and one record the transform fails.
	recs := []string{`{"p":"a","id":1}`, `{"p":"b","id":2}`, `{"p":"c","id":3,"v":"bad"}`, `{"p":"c","id":4}`, `{"p":"a","id":5,"v":"bad"}`}
	byP := func(fix bool) transform.Transform {
		return transform.Func(func(r buffer.Record) transform.Output {
			if bytes.Contains(r.Data, []byte("bad")) && !fix {
				return transform.Output{Result: transform.ProcessingFailed, ErrorCode: "Test.Bad", ErrorMessage: "bad"}
			}
			p := string(r.Data[6:7])
			return transform.Output{Result: transform.Ok, Data: r.Data, PartitionKeys: map[string]string{"p": p}}
		})
	}
	good := []string{`{"p":"a","id":1}`, `{"p":"b","id":2}`, `{"p":"c","id":4}`}
	tests := map[string]struct {
		at        int
		want      redrive.Result
		delivered []string
	}{
		"after batch 1": {1, redrive.Result{Objects: 1, Records: 5, Delivered: 3, Failed: 2}, good},
		"after batch 2": {2, redrive.Result{Objects: 1, Records: 5, Delivered: 3, Failed: 2}, good},
		"after batch 3": {3, redrive.Result{Objects: 1, Records: 5, Delivered: 3, Failed: 2}, good},
		// The records that failed again are an error object already, which
		// the second run lists and redrives (with the fixed transform)
		// before it replays the plan: the replay writes the same object
		// again, with the same records.
		"after the error output": {4, redrive.Result{Objects: 2, Records: 7, Delivered: 5, Failed: 2},
			append([]string{recs[2], recs[4]}, good...)},
	}
	for name, tc := range tests {
		at := tc.at
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dir, objs, place := setup(t, "none", recs...)
			cut := &crashAfter{Destination: objs, errors: objs, at: at}
			d := redrive.Delivery{Name: "orders", Transform: byP(false), Destination: cut, Errors: cut, Place: place, Prefix: "errors/"}
			now := func() time.Time { return arrival.Add(time.Hour) }
			if _, err := redrive.Run(ctx, d, redrive.Filter{}, now); !errors.Is(err, errCrash) {
				t.Fatalf("redrive cut short at call %d: %v", at, err)
			}
			d.Transform, d.Destination, d.Errors = byP(true), objs, objs // the transform fixed meanwhile: the plan is kept
			res, err := redrive.Run(ctx, d, redrive.Filter{}, now)
			if err != nil || res != tc.want {
				t.Fatalf("redrive run again: %+v, %v; want %+v", res, err, tc.want)
			}
			want := slices.Sorted(slices.Values(tc.delivered))
			if got := delivered(t, dir, "none"); !slices.Equal(got, want) {
				t.Fatalf("delivered %q, want %q once each", got, want)
			}
			entries, _, err := redrive.Entries(ctx, place, "errors/", "orders", redrive.Filter{}, 0)
			if err != nil {
				t.Fatal(err)
			}
			var again []string
			for _, e := range entries {
				if strings.HasPrefix(e.ShardID, "redrive-") {
					again = append(again, e.DataPreview)
				}
			}
			slices.Sort(again)
			if want := []string{recs[4], recs[2]}; !slices.Equal(again, want) {
				t.Fatalf("failed again: %q, want %q once each", again, want)
			}
		})
	}
}
