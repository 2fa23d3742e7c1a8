package shards

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// openRecord reads spec's stream from the streams bucket, or creates it
// there: n even shards, all open. A stream of a cluster written before
// lineages were kept is read from its shards' JetStream metadata.
func (s *Store) openRecord(ctx context.Context, spec StreamSpec) (created time.Time, l *Lineage, rev uint64, err error) {
	err = retryTransient(ctx, func() (bool, error) {
		v, r, err := s.lineages.Get(ctx, spec.Name)
		if err == nil {
			if created, l, err = decodeRecord(v); err != nil {
				return false, fmt.Errorf("stream %q: its entry in the store: %w", spec.Name, err)
			}
			if l.Configured == 0 {
				l.Configured = len(l.Shards) // written before reshards existed
			}
			rev = r
			return false, nil
		}
		if !errors.Is(err, errKeyNotFound) {
			return true, fmt.Errorf("stream %q: %w", spec.Name, err)
		}
		if spec.Existing {
			return false, fmt.Errorf("stream %q: %w", spec.Name, ErrStreamNotFound)
		}
		n, at, err := s.log.legacyShards(ctx, spec.Name)
		if err != nil {
			return true, err
		}
		if n == 0 {
			n, at = spec.Shards, s.cfg.Now().UTC()
		}
		l = uniformLineage(n, at)
		if spec.Capacity != "" {
			l.Capacity = spec.Capacity
		}
		// A conflict (created meanwhile, by another node) is read again.
		if rev, err = s.lineages.Create(ctx, spec.Name, encodeRecord(at, l)); err != nil {
			return true, fmt.Errorf("stream %q: %w", spec.Name, err)
		}
		created = at
		return false, nil
	})
	return created, l, rev, err
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

// closeAppenders stops the appenders of the stream's open shards. They
// are closed before st.mu is locked, as refreshLineage does: a put holding
// it for reading while it retries a publish gives up once its appender is
// closed, instead of holding the lock (and whoever waits for it, a
// catalog change) for as long as it retries.
func (st *Stream) closeAppenders() {
	st.mu.RLock()
	open := slices.Clone(st.appenders)
	st.mu.RUnlock()
	for _, a := range open {
		if a != nil {
			a.close()
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, a := range st.appenders {
		if a != nil {
			a.close() // opened meanwhile; close is idempotent
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
	if !st.reshardBusy.CompareAndSwap(false, true) {
		return fmt.Errorf("stream %q: %w", stream, ErrReshardInProgress)
	}
	defer st.reshardBusy.Store(false)
	// Waits for a refresh of the lineage in progress (not a reshard: one
	// at a time, above), which holds it for a moment.
	st.resharding.Lock()
	defer st.resharding.Unlock()
	st.updating.Store(true)
	defer st.updating.Store(false)

	if err := s.refreshLineage(ctx, st); err != nil {
		return err
	}
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
	undo := func() {
		for _, id := range closed {
			if err := s.log.reopenShard(context.WithoutCancel(ctx), stream, id); err != nil {
				s.logger.Error("reshard failed and a shard it closed could not be opened again; it opens at the next start",
					"stream", stream, "shard", ShardID(id), "error", err)
			}
		}
	}
	for _, sh := range old.Shards {
		if sh.IsOpen() && !next.Shards[sh.ID].IsOpen() {
			// No node appends to it from here on (on a cluster; alone, the
			// lock does it): what it holds now is all it will hold.
			if err := s.log.closeShard(ctx, stream, sh.ID); err != nil {
				undo()
				return err
			}
			closed = append(closed, sh.ID)
			l, err := s.log.openShard(ctx, stream, sh.ID)
			if err != nil {
				undo()
				return err
			}
			next.Shards[sh.ID].LastMessage = l.state().Last
		}
	}
	rev, err := s.lineages.Update(ctx, stream, encodeRecord(st.created, next), st.rev)
	if err != nil {
		undo()
		if errors.Is(err, errCASConflict) {
			return fmt.Errorf("stream %q: resharded by another node meanwhile: %w", stream, ErrReshardInProgress)
		}
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

// refreshLineages reads the lineage of every open stream from the streams
// bucket and adopts those another node changed (on a cluster).
func (s *Store) refreshLineages(ctx context.Context) {
	for _, st := range s.Streams() {
		if !st.resharding.TryLock() {
			continue // this node is resharding it
		}
		err := s.refreshLineage(ctx, st)
		st.resharding.Unlock()
		if err != nil {
			s.logger.Warn("shard log: cannot read a stream's shards", "stream", st.Name(), "error", err)
		}
	}
}

// refreshLineage adopts st's lineage from the streams bucket when another
// node changed it. st.resharding is held.
func (s *Store) refreshLineage(ctx context.Context, st *Stream) error {
	if s.cfg.NATS == nil {
		return nil // alone: this node's lineage is the bucket's
	}
	var v []byte
	var rev uint64
	err := retryTransient(ctx, func() (again bool, err error) {
		v, rev, err = s.lineages.Get(ctx, st.Name())
		return true, err
	})
	if err != nil {
		return fmt.Errorf("stream %q: %w", st.Name(), err)
	}
	if rev == st.rev {
		return nil
	}
	_, l, err := decodeRecord(v)
	if err != nil {
		return fmt.Errorf("stream %q: its entry in the store: %w", st.Name(), err)
	}
	// Stop the appenders of the shards closed elsewhere first: a publish
	// they retry (nothing answers on a closed shard's subject) gives up, so
	// that the puts holding the stream return.
	st.mu.RLock()
	var stale []*appender
	for _, sh := range l.Shards {
		if !sh.IsOpen() && sh.ID < len(st.appenders) && st.appenders[sh.ID] != nil {
			stale = append(stale, st.appenders[sh.ID])
		}
	}
	st.mu.RUnlock()
	for _, a := range stale {
		a.close()
	}
	st.mu.Lock()
	st.install(l)
	st.rev = rev
	st.mu.Unlock()
	s.logger.Info("stream resharded by another node", "stream", st.Name(), "open_shards", len(l.Open()), "shards", len(l.Shards))
	return nil
}
