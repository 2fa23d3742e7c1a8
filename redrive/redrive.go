package redrive

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/transform"
)

// Delivery is what a redrive sends records through: the delivery's
// current transforms and destination, and its error output.
type Delivery struct {
	Name string
	// Transform is optional (nil: records go to the destination as they are).
	Transform transform.Transform
	// Destination must not retry for long: a redrive is a request an
	// operator waits for, and an error other than RecordErrors stops it.
	Destination destinations.Destination
	Errors      destinations.ErrorOutput
	// Place and Prefix are where Errors writes: Prefix is the static start
	// of its error prefix ("" lists the whole place).
	Place  Place
	Prefix string
	// Node names this node in the markers it writes. A marker planned by
	// another node less than Lease ago (0: DefaultLease) is that node's
	// redrive under way: the object is skipped (Result.SkippedBusy). An
	// older one, or this node's own (one redrive of a delivery runs at a
	// time on a node: its own plan is of a redrive cut short), is replayed.
	Node  string
	Lease time.Duration
	// BatchBytes cuts the planned batches at this many bytes of records
	// (0: no bound): the delivery's buffer size.
	BatchBytes int
}

// DefaultLease is how long a node's plan of an error object keeps other
// nodes' redrives away from it.
const DefaultLease = 10 * time.Minute

// errBusy says another node is redriving an object.
var errBusy = errors.New("another node is redriving it")

// Result counts what a redrive did. Objects and Records are what it
// redrove; Skipped counts the error objects it left alone, done already.
type Result struct {
	Objects   int `json:"objects"`
	Records   int `json:"records"`
	Delivered int `json:"delivered"`
	Dropped   int `json:"dropped"` // the transform dropped them
	Failed    int `json:"failed"`  // failed again, written to the error output again
	Skipped   int `json:"skipped"`
	// SkippedBusy counts the error objects another node is redriving.
	SkippedBusy int `json:"skipped_busy"`
}

// RecordSource is the batch reason of redriven records.
const RecordSource buffer.FlushReason = "redrive"

// Run redrives the error objects of d that filter selects and that no
// earlier redrive finished, one object at a time. On an error the objects
// not yet done stay as they are (planned, or unmarked) and a later Run
// redrives them without duplicating what this one delivered: the error is
// worth retrying unless destinations.IsPermanent says otherwise.
func Run(ctx context.Context, d Delivery, filter Filter, now func() time.Time) (Result, error) {
	var res Result
	err := Scan(ctx, d.Place, d.Prefix, d.Name, filter, false, func(o *Object, old *Marker) (bool, error) {
		if old != nil && old.State == StateDone {
			res.Skipped++
			return true, nil
		}
		m, err := redriveObject(ctx, d, o, old, now)
		if errors.Is(err, errBusy) {
			res.SkippedBusy++
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("redrive %s: %w", o.Key, err)
		}
		res.Objects++
		res.Records += m.Records
		res.Delivered += m.Delivered
		res.Dropped += m.Dropped
		res.Failed += m.Failed
		return true, nil
	})
	return res, err
}

// redriveObject sends one error object's records through d and marks it.
// The transform's outcome is written into the marker (state planned)
// before anything is sent, and a redrive cut short replays that plan, not
// the transform: records go out in the same batches under the same names
// whatever the transform says by then, so a destination that holds a batch
// already (same object key, the Postgres ledger) does not take it twice,
// and a record that failed again is in one error object only.
func redriveObject(ctx context.Context, d Delivery, o *Object, old *Marker, now func() time.Time) (Marker, error) {
	lease := d.Lease
	if lease <= 0 {
		lease = DefaultLease
	}
	m := Marker{State: StatePlanned, Shard: RedriveShard(o.Key), Owner: d.Node, Records: len(o.Docs), At: now().UTC(), Time: o.Time}
	switch {
	case old != nil && old.State == StatePlanned && old.Plan != nil && old.Shard == m.Shard:
		if old.Owner != d.Node && now().Sub(old.At) < lease {
			return m, errBusy
		}
		m.Plan = old.Plan // abandoned, or this node's own cut short: replayed
	default:
		in := make([]buffer.Record, len(o.Docs))
		for i, doc := range o.Docs {
			in[i] = buffer.Record{Data: doc.RawData, PartitionKey: doc.PartitionKey, Sequence: uint64(i + 1), Arrival: doc.Arrival()}
		}
		plan, err := process(ctx, d, in, now)
		if err != nil {
			return m, err
		}
		m.Plan = plan
		if old == nil {
			// The plan is created only where there is none: of two
			// redrives planning at once (on two nodes, maybe with
			// different transforms), one sends its plan.
			created, err := createMarker(ctx, d.Place, o.Key, m)
			if err != nil {
				return m, err
			}
			if !created {
				return m, errBusy
			}
		} else if err := writeMarker(ctx, d.Place, o.Key, m); err != nil { // a damaged marker, or a plan of another key
			return m, err
		}
	}
	failed := map[string][]destinations.ErrorRecord{}
	for _, pf := range m.Plan.Failed {
		failed[pf.Type] = append(failed[pf.Type], pf.errorRecord())
	}
	m.Dropped = m.Plan.Dropped
	for _, pb := range m.Plan.Batches {
		b := pb.batch(d.Name, m.Shard)
		err := d.Destination.Deliver(ctx, b)
		var re *destinations.RecordErrors
		switch {
		case errors.As(err, &re):
			failed[re.Type] = append(failed[re.Type], recordErrors(b, re, now())...)
		case err != nil:
			return m, fmt.Errorf("deliver: %w", err)
		}
		m.Delivered += len(b.Records)
		if re != nil {
			m.Delivered -= len(re.Failed)
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(failed)) {
		recs := failed[typ]
		slices.SortFunc(recs, func(a, b destinations.ErrorRecord) int {
			if c := cmp.Compare(a.Sequence, b.Sequence); c != 0 {
				return c
			}
			return cmp.Compare(a.SubSequence, b.SubSequence)
		})
		eb := &destinations.ErrorBatch{Delivery: d.Name, ShardID: m.Shard, Type: typ, Records: recs}
		if err := d.Errors.WriteErrors(ctx, eb); err != nil {
			return m, fmt.Errorf("error output: %w", err)
		}
		m.Failed += len(recs)
	}
	m.State, m.At, m.Plan = StateDone, now().UTC(), nil
	return m, writeMarker(ctx, d.Place, o.Key, m)
}

// process runs the transform on in and plans the batches of what it keeps,
// per set of partition keys, each of at most d.BatchBytes (but at least
// one record), in a stable order, and the records it fails.
func process(ctx context.Context, d Delivery, in []buffer.Record, now func() time.Time) (*Plan, error) {
	outs := make([]transform.Output, len(in))
	if d.Transform == nil {
		for i, r := range in {
			outs[i] = transform.Output{Result: transform.Ok, Data: r.Data}
		}
	} else {
		var err error
		if outs, err = d.Transform.Process(ctx, in); err != nil {
			return nil, fmt.Errorf("transform: %w", err)
		}
	}
	plan := &Plan{}
	byKeys := map[string][]PlannedBatch{} // by partition: the last one filling
	bytesOf := map[string]int{}           // of the last batch of each partition
	at := now().UnixMilli()
	for i, out := range outs {
		out.Records(func(k int, o transform.Output) bool {
			r := in[i]
			pr := PlannedRecord{Line: int(r.Sequence), Sub: uint32(k), PartitionKey: r.PartitionKey, Data: r.Data,
				Arrival: r.Arrival.UnixMilli()}
			if o.PartitionKey != "" {
				pr.PartitionKey = o.PartitionKey
			}
			switch o.Result {
			case transform.Ok:
				pr.Data = o.Data
				id := partitionID(o.PartitionKeys)
				bs := byKeys[id]
				if len(bs) == 0 || (d.BatchBytes > 0 && bytesOf[id]+len(pr.Data) > d.BatchBytes && len(bs[len(bs)-1].Records) > 0) {
					bs = append(bs, PlannedBatch{PartitionKeys: o.PartitionKeys})
					bytesOf[id] = 0
				}
				bs[len(bs)-1].Records = append(bs[len(bs)-1].Records, pr)
				bytesOf[id] += len(pr.Data)
				byKeys[id] = bs
			case transform.ProcessingFailed:
				if o.Data != nil {
					pr.Data = o.Data
				}
				plan.Failed = append(plan.Failed, PlannedFailure{PlannedRecord: pr, Type: destinations.ErrorTypeProcessingFailed,
					Code: o.ErrorCode, Message: o.ErrorMessage, At: at})
			default:
				plan.Dropped++
			}
			return true
		})
	}
	for _, id := range slices.Sorted(maps.Keys(byKeys)) {
		plan.Batches = append(plan.Batches, byKeys[id]...)
	}
	return plan, nil
}

// recordErrors are the error records of the records of b that re names.
func recordErrors(b *buffer.Batch, re *destinations.RecordErrors, at time.Time) []destinations.ErrorRecord {
	out := make([]destinations.ErrorRecord, 0, len(re.Failed))
	for _, i := range slices.Sorted(maps.Keys(re.Failed)) {
		er := destinations.ErrorRecord{Record: b.Records[i], AttemptsMade: 1, ErrorCode: re.Code,
			ErrorMessage: re.Failed[i].Error(), AttemptEnding: at}
		var de *destinations.DocumentError
		if errors.As(re.Failed[i], &de) {
			er.ErrorCode, er.AttemptsMade, er.IndexName, er.DocumentID = de.Code, max(de.Attempts, 1), de.Index, de.DocumentID
		}
		out = append(out, er)
	}
	return out
}

// partitionID is a canonical form of a set of partition keys.
func partitionID(keys map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(keys[k])
		b.WriteByte(0)
	}
	return b.String()
}
