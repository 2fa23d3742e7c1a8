package shards

import (
	"context"
	"fmt"
	"time"
)

// TrimResult says what one retention pass did on one shard.
type TrimResult struct {
	Shard  int
	Purged uint64 // record-batch messages removed
	// HeldBy names the delivery whose checkpoint kept records older than the
	// retention period (it is behind); empty when retention was applied in full.
	HeldBy string
	// Oldest is the arrival time of the oldest message kept (zero when the
	// shard is empty).
	Oldest time.Time
}

// Trim removes the messages of stream's shards that arrived before
// now-retention — but never one a delivery in readers has not checkpointed
// past: undelivered data is kept however old it is, and reported in HeldBy.
func (s *Store) Trim(ctx context.Context, stream string, retention time.Duration, readers []string, now time.Time) ([]TrimResult, error) {
	st, ok := s.Stream(stream)
	if !ok {
		return nil, fmt.Errorf("trim: stream %q is not open", stream)
	}
	cutoff := now.Add(-retention)
	results := make([]TrimResult, 0, st.Shards())
	for shard := range st.Shards() {
		r, err := s.trimShard(ctx, stream, shard, cutoff, readers)
		if err != nil {
			return results, err
		}
		results = append(results, r)
	}
	return results, nil
}

// TrimDelivered removes the messages of stream's shards that every delivery
// in readers has delivered, whatever the stream's retention: what the disk
// budget calls for when the log is nearly full. Undelivered data is never
// removed, and a stream without readers is left alone (nothing tells who
// has read it).
func (s *Store) TrimDelivered(ctx context.Context, stream string, readers []string) ([]TrimResult, error) {
	if len(readers) == 0 {
		return nil, nil
	}
	results, err := s.Trim(ctx, stream, 0, readers, s.cfg.Now())
	for i := range results {
		results[i].HeldBy = "" // nothing was held back past a retention
	}
	if rerr := s.refreshUsage(ctx); err == nil {
		err = rerr
	}
	return results, err
}

func (s *Store) trimShard(ctx context.Context, stream string, shard int, cutoff time.Time, readers []string) (TrimResult, error) {
	res := TrimResult{Shard: shard}
	l, err := s.log.openShard(ctx, stream, shard)
	if err != nil {
		return res, fmt.Errorf("trim %s shard %d: %w", stream, shard, err)
	}
	state := l.state()
	if state.Msgs == 0 {
		return res, nil
	}
	first, last := state.First, state.Last
	// Messages before bound are delivered by every reader.
	bound, holder := last+1, ""
	for _, d := range readers {
		cp, err := s.Checkpoint(ctx, d, shard)
		if err != nil {
			return res, err
		}
		m, err := firstUndelivered(ctx, l, cp)
		if err != nil {
			return res, fmt.Errorf("trim %s shard %d: %w", stream, shard, err)
		}
		if m = max(m, first); m < bound {
			bound, holder = m, d
		}
	}
	lo, err := firstMessageAtOrAfter(ctx, l, first, bound, cutoff)
	if err != nil {
		return res, fmt.Errorf("trim %s shard %d: %w", stream, shard, err)
	}
	if lo > first {
		if err := l.purge(ctx, lo); err != nil {
			return res, fmt.Errorf("trim %s shard %d: %w", stream, shard, err)
		}
		res.Purged = lo - first
	}
	if lo <= last {
		m, err := l.get(ctx, lo)
		if err != nil {
			return res, fmt.Errorf("trim %s shard %d: message %d: %w", stream, shard, lo, err)
		}
		res.Oldest = m.Time
		if lo == bound && res.Oldest.Before(cutoff) {
			res.HeldBy = holder
		}
	}
	return res, nil
}
