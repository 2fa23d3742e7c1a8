package buffer

import (
	"time"

	"github.com/robfig/cron/v3"
)

// Record is one record travelling through a delivery.
type Record struct {
	Data         []byte
	PartitionKey string
	Sequence     uint64 // position in the source shard
	// SubSequence is the record's position among the records its source
	// record yielded (a KPL aggregate's sub-records); 0 for the first, and
	// for a record that yielded one. With Sequence it names the record.
	SubSequence uint32
	Arrival     time.Time
}

// FlushReason names why a buffer was flushed; it is a metric label.
type FlushReason string

const (
	FlushSize     FlushReason = "size"
	FlushInterval FlushReason = "interval"
	FlushSchedule FlushReason = "schedule"
	FlushShutdown FlushReason = "shutdown"
	FlushMemory   FlushReason = "memory"
)

// FlushReasons lists every flush reason, for metric labels.
var FlushReasons = []FlushReason{FlushSize, FlushInterval, FlushSchedule, FlushShutdown, FlushMemory}

// Batch is what a buffer hands to a destination: records of one delivery,
// shard and set of partition keys, in shard order.
type Batch struct {
	Delivery      string
	ShardID       string
	PartitionKeys map[string]string // nil without dynamic partitioning
	Records       []Record
	Bytes         int // sum of len(Data)
	Reason        FlushReason
}

// FirstSequence returns the sequence of the batch's first record; it names
// the batch, so a re-delivered batch overwrites rather than duplicates.
func (b *Batch) FirstSequence() uint64 { return b.Records[0].Sequence }

// LastSequence returns the sequence of the batch's last record.
func (b *Batch) LastSequence() uint64 { return b.Records[len(b.Records)-1].Sequence }

// OldestArrival returns the earliest arrival time in the batch, which
// Firehose uses to evaluate !{timestamp:…} prefixes.
func (b *Batch) OldestArrival() time.Time {
	oldest := b.Records[0].Arrival
	for _, r := range b.Records[1:] {
		if r.Arrival.Before(oldest) {
			oldest = r.Arrival
		}
	}
	return oldest
}

// Config says when a buffer is full or old enough.
type Config struct {
	Size int // flush when this many data bytes are held
	// Interval flushes this long after the first record entered; 0 as
	// soon as records are read (Firehose's zero buffering); NoInterval
	// never by time (size and Schedule decide).
	Interval time.Duration
	Schedule cron.Schedule // optional: flush at the schedule's next time after the first record
}

// NoInterval is a Config.Interval that never flushes by time.
const NoInterval time.Duration = -1

// Buffer holds records until a flush is due. Not safe for concurrent use.
type Buffer struct {
	cfg       Config
	batch     Batch
	opened    time.Time // when the first record of the current batch entered
	scheduled time.Time // the schedule's next time after opened
	oldest    time.Time // the earliest arrival among the held records
}

// New returns an empty buffer for one delivery, shard and set of partition keys.
func New(cfg Config, delivery, shardID string, keys map[string]string) *Buffer {
	return &Buffer{cfg: cfg, batch: Batch{Delivery: delivery, ShardID: shardID, PartitionKeys: keys}}
}

// Add appends r, received at now.
func (b *Buffer) Add(now time.Time, r Record) {
	if len(b.batch.Records) == 0 {
		b.opened = now
		if b.cfg.Schedule != nil {
			b.scheduled = b.cfg.Schedule.Next(now)
		}
		b.oldest = r.Arrival
	} else if r.Arrival.Before(b.oldest) {
		b.oldest = r.Arrival
	}
	b.batch.Records = append(b.batch.Records, r)
	b.batch.Bytes += len(r.Data)
}

// PartitionKeys returns the partition keys of the buffer's records.
func (b *Buffer) PartitionKeys() map[string]string { return b.batch.PartitionKeys }

// Len returns the number of records held.
func (b *Buffer) Len() int { return len(b.batch.Records) }

// Bytes returns the data bytes held.
func (b *Buffer) Bytes() int { return b.batch.Bytes }

// FirstSequence returns the sequence of the oldest record held; ok is false
// when the buffer is empty.
func (b *Buffer) FirstSequence() (seq uint64, ok bool) {
	if len(b.batch.Records) == 0 {
		return 0, false
	}
	return b.batch.Records[0].Sequence, true
}

// OldestArrival returns the earliest arrival time of the records held; ok
// is false when the buffer is empty.
func (b *Buffer) OldestArrival() (t time.Time, ok bool) {
	if len(b.batch.Records) == 0 {
		return time.Time{}, false
	}
	return b.oldest, true
}

// Due reports whether the buffer must flush at now, and why. Size wins over
// time, and the schedule over the interval when both are due.
func (b *Buffer) Due(now time.Time) (FlushReason, bool) {
	if len(b.batch.Records) == 0 {
		return "", false
	}
	switch {
	case b.batch.Bytes >= b.cfg.Size:
		return FlushSize, true
	case b.cfg.Schedule != nil && !now.Before(b.scheduled):
		return FlushSchedule, true
	case b.cfg.Interval >= 0 && now.Sub(b.opened) >= b.cfg.Interval:
		return FlushInterval, true
	}
	return "", false
}

// Deadline returns the next time a time-based flush falls due; ok is false
// when the buffer is empty or flushes only by size.
func (b *Buffer) Deadline() (t time.Time, ok bool) {
	if len(b.batch.Records) == 0 {
		return time.Time{}, false
	}
	if b.cfg.Interval >= 0 {
		t, ok = b.opened.Add(b.cfg.Interval), true
	}
	if b.cfg.Schedule != nil && (!ok || b.scheduled.Before(t)) {
		t, ok = b.scheduled, true
	}
	return t, ok
}

// Take returns the held records as a batch flushed for reason and empties
// the buffer. The buffer keeps no reference to the returned batch.
func (b *Buffer) Take(reason FlushReason) *Batch {
	out := b.batch
	out.Reason = reason
	b.batch.Records = make([]Record, 0, len(out.Records))
	b.batch.Bytes = 0
	return &out
}
