package shards

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// openRecord reads spec's stream from the streams bucket, or creates it
// there: n even shards, all open. A stream of a cluster written before
// lineages were kept is read from its shards' JetStream metadata.
func (s *Store) openRecord(ctx context.Context, spec StreamSpec) (time.Time, *Lineage, uint64, error) {
	for {
		v, rev, err := s.lineages.Get(ctx, spec.Name)
		if err == nil {
			created, l, err := decodeRecord(v)
			if err != nil {
				return time.Time{}, nil, 0, fmt.Errorf("stream %q: its entry in the store: %w", spec.Name, err)
			}
			if l.Configured == 0 {
				l.Configured = len(l.Shards) // written before reshards existed
			}
			return created, l, rev, nil
		}
		if !errors.Is(err, errKeyNotFound) {
			return time.Time{}, nil, 0, fmt.Errorf("stream %q: %w", spec.Name, err)
		}
		n, created, err := s.log.legacyShards(ctx, spec.Name)
		if err != nil {
			return time.Time{}, nil, 0, err
		}
		if n == 0 {
			n, created = spec.Shards, s.cfg.Now().UTC()
		}
		l := uniformLineage(n, created)
		if spec.Capacity != "" {
			l.Capacity = spec.Capacity
		}
		rev, err = s.lineages.Create(ctx, spec.Name, encodeRecord(created, l))
		if errors.Is(err, errCASConflict) {
			continue // created meanwhile (by another node)
		}
		if err != nil {
			return time.Time{}, nil, 0, fmt.Errorf("stream %q: %w", spec.Name, err)
		}
		return created, l, rev, nil
	}
}

// streamShards returns when stream was created and how many shards it has
// had: the open stream's, or else its record's (errShardNotFound when it
// has none).
func (s *Store) streamShards(ctx context.Context, stream string) (time.Time, int, error) {
	if st, ok := s.Stream(stream); ok {
		return st.created, st.Shards(), nil
	}
	v, _, err := s.lineages.Get(ctx, stream)
	if errors.Is(err, errKeyNotFound) {
		return time.Time{}, 0, fmt.Errorf("stream %q: %w", stream, errShardNotFound)
	}
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("stream %q: %w", stream, err)
	}
	created, l, err := decodeRecord(v)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("stream %q: its entry in the store: %w", stream, err)
	}
	return created, len(l.Shards), nil
}

// closeAppenders stops the appenders of the stream's open shards.
func (st *Stream) closeAppenders() {
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, a := range st.appenders {
		if a != nil {
			a.close()
			st.appenders[i] = nil
		}
	}
}

// SplitShard closes shard of stream and opens two children in its place:
// one from its first hash key to at−1, one from at to its last (Kinesis'
// SplitShard).
func (s *Store) SplitShard(ctx context.Context, stream string, shard int, at HashKey) error {
	return s.reshard(ctx, stream, "split", func(l *Lineage, now time.Time) error { return l.split(shard, at, now) })
}

// MergeShards closes two adjacent open shards of stream and opens one child
// covering both, with shard as its parent and adjacent as its adjacent
// parent (Kinesis' MergeShards).
func (s *Store) MergeShards(ctx context.Context, stream string, shard, adjacent int) error {
	return s.reshard(ctx, stream, "merge", func(l *Lineage, now time.Time) error { return l.merge(shard, adjacent, now) })
}

// Plan is a reshard of several shards at once: each shard of Split is
// split in the middle of its hash-key range, each pair of Merge merged.
type Plan struct {
	Split []int
	Merge [][2]int
}

// Reshard applies plan to stream in one switch (what on-demand capacity
// does).
func (s *Store) Reshard(ctx context.Context, stream string, plan Plan) error {
	return s.reshard(ctx, stream, "scale", func(l *Lineage, now time.Time) error {
		for _, id := range plan.Split {
			sh, err := l.openShard(id)
			if err != nil {
				return err
			}
			if err := l.split(id, sh.Range.middle(), now); err != nil {
				return err
			}
		}
		for _, m := range plan.Merge {
			if err := l.merge(m[0], m[1], now); err != nil {
				return err
			}
		}
		return nil
	})
}

// UpdateShardCount reshards stream to n open shards of even hash-key
// ranges (Kinesis' UNIFORM_SCALING), in one switch. Limits on how far one
// call may go are the caller's (the API's). With configured, n also
// becomes the count the stream's definition asks for (see Configured).
func (s *Store) UpdateShardCount(ctx context.Context, stream string, n int, configured bool) error {
	return s.reshard(ctx, stream, "update_shard_count", func(l *Lineage, now time.Time) error {
		if configured {
			l.Configured = n
		}
		if len(l.Open()) == n && isUniform(l) {
			return nil
		}
		return l.scale(n, now)
	})
}

// isUniform reports whether l's open shards are the even split of the
// hash-key space among them.
func isUniform(l *Lineage) bool {
	open := l.Open()
	even := NewShardMap(len(open))
	for i, s := range open {
		if s.Range != even.Range(i) {
			return false
		}
	}
	return true
}

// SetCapacity sets stream's capacity mode (Provisioned or OnDemand).
func (s *Store) SetCapacity(ctx context.Context, stream, mode string) error {
	if mode != Provisioned && mode != OnDemand {
		return fmt.Errorf("%w: capacity mode %q: want %s or %s", ErrReshard, mode, Provisioned, OnDemand)
	}
	return s.reshard(ctx, stream, "capacity", func(l *Lineage, _ time.Time) error {
		l.Capacity = mode
		return nil
	})
}

// reshard changes stream's lineage with change, one reshard at a time
// (ErrReshardInProgress otherwise). Children's logs are created first;
// then, with the stream's puts held off, the shards change closes get
// their last message, the new lineage is stored in one write, and the puts
// go on to the children. A crash before that write leaves the lineage as
// it was; after it, as it is now.
func (s *Store) reshard(ctx context.Context, stream, op string, change func(*Lineage, time.Time) error) error {
	st, ok := s.Stream(stream)
	if !ok {
		return fmt.Errorf("%w: stream %q is not open", errShardNotFound, stream)
	}
	if !st.resharding.TryLock() {
		return fmt.Errorf("stream %q: %w", stream, ErrReshardInProgress)
	}
	defer st.resharding.Unlock()
	st.updating.Store(true)
	defer st.updating.Store(false)

	old := st.lineage.Load()
	next := old.clone()
	if err := change(next, s.cfg.Now().UTC()); err != nil {
		return fmt.Errorf("stream %q: %w", stream, err)
	}
	var born []int
	for id := len(old.Shards); id < len(next.Shards); id++ {
		born = append(born, id)
	}
	if err := s.log.createShards(ctx, stream, born); err != nil {
		return err
	}
	if s.isClosed() {
		return fmt.Errorf("stream %q: %w", stream, ErrStoreClosed)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var closed []int
	for _, sh := range old.Shards {
		if sh.IsOpen() && !next.Shards[sh.ID].IsOpen() {
			closed = append(closed, sh.ID)
			l, err := s.log.openShard(ctx, stream, sh.ID)
			if err != nil {
				return err
			}
			next.Shards[sh.ID].LastMessage = l.state().Last
		}
	}
	rev, err := s.lineages.Update(ctx, stream, encodeRecord(st.created, next), st.rev)
	if err != nil {
		return fmt.Errorf("stream %q: store its shards: %w", stream, err)
	}
	st.rev = rev
	st.install(next)
	var opened []int
	for _, sh := range next.Shards[len(old.Shards):] {
		if sh.IsOpen() {
			opened = append(opened, sh.ID)
		}
	}
	if len(closed) > 0 || len(opened) > 0 {
		s.logger.Info("stream resharded", "stream", stream, "op", op, "closed", closed, "opened", opened,
			"open_shards", len(next.Open()))
	}
	return nil
}
