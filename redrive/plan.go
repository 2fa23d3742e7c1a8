package redrive

import (
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
)

// Plan is what a redrive decided to do with an error object's records, kept
// in its marker until the object is done, so that a redrive cut short does
// the same again: the batches to deliver, the records that failed in the
// transform, and how many it dropped.
type Plan struct {
	Batches []PlannedBatch   `json:"batches,omitempty"`
	Failed  []PlannedFailure `json:"failed,omitempty"`
	Dropped int              `json:"dropped,omitempty"`
}

// PlannedBatch is one batch of a plan: the records of one set of partition
// keys, in line order.
type PlannedBatch struct {
	PartitionKeys map[string]string `json:"partition_keys,omitempty"`
	Records       []PlannedRecord   `json:"records"`
}

// PlannedRecord is one record as the transform left it: Line is its line in
// the error object (its sequence in the redrive shard), Sub its place among
// the records its line yielded.
type PlannedRecord struct {
	Line         int    `json:"line"`
	Sub          uint32 `json:"sub,omitempty"`
	PartitionKey string `json:"partition_key,omitempty"`
	Data         []byte `json:"data"`
	Arrival      int64  `json:"arrival"` // ms since the epoch
}

// PlannedFailure is a record the transform failed.
type PlannedFailure struct {
	PlannedRecord
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	At      int64  `json:"at"` // ms since the epoch
}

func (r PlannedRecord) record() buffer.Record {
	return buffer.Record{Data: r.Data, PartitionKey: r.PartitionKey, Sequence: uint64(r.Line), SubSequence: r.Sub,
		Arrival: time.UnixMilli(r.Arrival).UTC()}
}

func (f PlannedFailure) errorRecord() destinations.ErrorRecord {
	return destinations.ErrorRecord{Record: f.record(), AttemptsMade: 1, ErrorCode: f.Code, ErrorMessage: f.Message,
		AttemptEnding: time.UnixMilli(f.At).UTC()}
}

// batch is b as the destination takes it, from the redrive shard.
func (b PlannedBatch) batch(delivery, shard string) *buffer.Batch {
	out := &buffer.Batch{Delivery: delivery, ShardID: shard, PartitionKeys: b.PartitionKeys, Reason: RecordSource,
		Records: make([]buffer.Record, len(b.Records))}
	for i, r := range b.Records {
		out.Records[i] = r.record()
		out.Bytes += len(r.Data)
	}
	return out
}
