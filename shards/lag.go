package shards

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ShardLag is how far a reader of one shard (a delivery) is behind.
type ShardLag struct {
	// Records is the number of records stored after the reader's
	// checkpoint; -1 when unknown (messages written by a Hydrant that did
	// not count records yet).
	Records int64
	Oldest  time.Time // when the oldest of them was stored; zero when none
}

// Lag returns how many records of stream's shard lie after checkpoint cp,
// and when the oldest of them was stored.
func (s *Store) Lag(ctx context.Context, stream string, shard int, cp Sequence) (ShardLag, error) {
	var lag ShardLag
	l, err := s.log.openShard(ctx, stream, shard)
	if err != nil {
		return lag, fmt.Errorf("lag of %s shard %d: %w", stream, shard, err)
	}
	state := l.state()
	if state.Msgs == 0 {
		return lag, nil
	}
	from, err := firstUndelivered(ctx, l, cp)
	if err != nil {
		return lag, fmt.Errorf("lag of %s shard %d: %w", stream, shard, err)
	}
	from = max(from, state.First)
	if from > state.Last {
		return lag, nil
	}
	last, err := l.get(ctx, state.Last)
	if err != nil {
		return lag, fmt.Errorf("lag of %s shard %d: %w", stream, shard, err)
	}
	first, err := l.get(ctx, from)
	if err != nil {
		return lag, fmt.Errorf("lag of %s shard %d: %w", stream, shard, err)
	}
	lag.Oldest = first.Time
	if last.Total < 0 || first.Total < 0 {
		lag.Records = -1
		return lag, nil
	}
	n, err := batchCount(first.Data)
	if err != nil {
		n = 0 // a corrupt message holds no records to deliver
	}
	before := first.Total - int64(n) // records stored before the first undelivered message
	if cp.Message() == from {        // part of that message is delivered
		before += int64(cp.Index()) + 1
	}
	lag.Records = max(last.Total-before, 0)
	return lag, nil
}

// RecordsTotal returns how many records stream's shard has stored since it
// was created (trimmed ones included): two readings apart in time give its
// write rate. It is -1 when unknown (the last message was written by a
// Hydrant that did not count records yet).
func (s *Store) RecordsTotal(ctx context.Context, stream string, shard int) (int64, error) {
	l, err := s.log.openShard(ctx, stream, shard)
	if err != nil {
		return 0, fmt.Errorf("records of %s shard %d: %w", stream, shard, err)
	}
	state := l.state()
	if state.Msgs == 0 {
		return 0, nil
	}
	m, err := l.get(ctx, state.Last)
	if errors.Is(err, errMsgNotFound) {
		return 0, nil // trimmed since
	}
	if err != nil {
		return 0, fmt.Errorf("records of %s shard %d: %w", stream, shard, err)
	}
	return m.Total, nil
}
