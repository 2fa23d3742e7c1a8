package shards

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ReadResult is a page of records read from one shard.
type ReadResult struct {
	Records []StoredRecord
	// Next is where the following read starts: the record after the last
	// one returned (or the start position when nothing was returned).
	Next Sequence
	// Behind is how far the page's last record is from the tip of the
	// shard (0 when the page reaches it), by arrival time.
	Behind time.Duration
}

// Read returns up to maxRecords records, and about maxBytes of data at most
// (at least one record), of shard starting at from (inclusive). A position
// before the oldest record kept starts at the oldest; one past the newest
// returns no records. Reads are by sequence (positional reads of the
// segment log, direct gets on JetStream), so any number of readers may read
// any position without consumer state.
func (s *Store) Read(ctx context.Context, stream string, shard int, from Sequence, maxRecords, maxBytes int) (ReadResult, error) {
	l, err := s.log.openShard(ctx, stream, shard)
	if err != nil {
		return ReadResult{}, fmt.Errorf("read %s shard %d: %w", stream, shard, err)
	}
	state := l.state()
	res := ReadResult{Next: from}
	msg, idx := from.Message(), from.Index()
	if state.Msgs == 0 || msg > state.Last {
		return res, nil
	}
	if msg < state.First {
		msg, idx = state.First, 0
	}
	size := 0
	var last time.Time
	for ; msg <= state.Last; msg, idx = msg+1, 0 {
		m, err := l.get(ctx, msg)
		if errors.Is(err, errMsgNotFound) {
			continue // trimmed while reading
		}
		if err != nil {
			return res, fmt.Errorf("read %s shard %d message %d: %w", stream, shard, msg, err)
		}
		recs, err := DecodeBatch(nil, msg, m.Data)
		if err != nil {
			return res, fmt.Errorf("read %s shard %d: %w", stream, shard, err)
		}
		for _, r := range recs[min(idx, len(recs)):] {
			if len(res.Records) == maxRecords || (len(res.Records) > 0 && size+len(r.Data) > maxBytes) {
				res.Next = r.Sequence
				res.Behind = state.LastTime.Sub(last)
				return res, nil
			}
			res.Records = append(res.Records, r)
			size += len(r.Data)
			last = r.Arrival
			res.Next = r.Sequence + 1
		}
		res.Next = MakeSequence(msg+1, 0)
	}
	return res, nil
}

// Position returns the sequence where a Kinesis shard iterator of kind
// starts: "TRIM_HORIZON" (the oldest record kept), "LATEST" (just after the
// newest), or "AT_TIMESTAMP" (the first record that arrived at or after at).
func (s *Store) Position(ctx context.Context, stream string, shard int, kind string, at time.Time) (Sequence, error) {
	l, err := s.log.openShard(ctx, stream, shard)
	if err != nil {
		return 0, fmt.Errorf("stream %s shard %d: %w", stream, shard, err)
	}
	state := l.state()
	first := max(state.First, 1)
	switch kind {
	case "TRIM_HORIZON":
		return MakeSequence(first, 0), nil
	case "LATEST":
		return MakeSequence(state.Last+1, 0), nil
	case "AT_TIMESTAMP":
		if state.Msgs == 0 {
			return MakeSequence(state.Last+1, 0), nil
		}
		msg, err := firstMessageAtOrAfter(ctx, l, first, state.Last+1, at)
		if err != nil {
			return 0, fmt.Errorf("stream %s shard %d: %w", stream, shard, err)
		}
		return MakeSequence(msg, 0), nil
	}
	return 0, fmt.Errorf("unknown position %q", kind)
}
