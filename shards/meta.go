package shards

import (
	"context"
	"errors"
	"fmt"
)

const metaBucket = "hydrant-catalog"

// PutMeta stores a definition (a stream or delivery created through an API)
// under key, durably.
func (s *Store) PutMeta(ctx context.Context, key string, value []byte) error {
	if _, err := s.meta.Put(ctx, key, value); err != nil {
		return fmt.Errorf("catalog %s: %w", key, err)
	}
	return nil
}

// MetaOnce stores value under key unless the key holds one already, and
// returns what the key holds: the first value stored wins, on every node
// sharing the log (a shared secret, say).
func (s *Store) MetaOnce(ctx context.Context, key string, value []byte) ([]byte, error) {
	if _, err := s.meta.Create(ctx, key, value); err == nil {
		return value, nil
	} else if !casConflict(err) {
		return nil, fmt.Errorf("catalog %s: %w", key, err)
	}
	v, _, err := s.meta.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", key, err)
	}
	return v, nil
}

// DeleteMeta removes a definition; removing one that is absent is no error.
func (s *Store) DeleteMeta(ctx context.Context, key string) error {
	if err := s.meta.Delete(ctx, key); err != nil {
		return fmt.Errorf("catalog %s: %w", key, err)
	}
	return nil
}

// ListMeta returns the definitions whose keys start with prefix.
func (s *Store) ListMeta(ctx context.Context, prefix string) (map[string][]byte, error) {
	out := map[string][]byte{}
	keys, err := s.meta.Keys(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	for _, k := range keys {
		v, _, err := s.meta.Get(ctx, k)
		if errors.Is(err, errKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("catalog %s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

// DeleteStream stops a stream's appenders and deletes its shards' logs.
// What they held is gone.
func (s *Store) DeleteStream(ctx context.Context, name string) error {
	s.mu.Lock()
	st, ok := s.streams[name]
	delete(s.streams, name)
	s.open.Store(int32(len(s.streams)))
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("stream %q is not open", name)
	}
	st.closeAppenders()
	if err := s.log.deleteShards(ctx, name, st.Shards()); err != nil {
		return err
	}
	if err := s.lineages.Delete(ctx, name); err != nil {
		return fmt.Errorf("delete stream %q: %w", name, err)
	}
	s.logger.Info("stream deleted", "stream", name)
	return nil
}

// DeleteCheckpoints forgets where delivery was, for every shard.
func (s *Store) DeleteCheckpoints(ctx context.Context, delivery string, shards int) error {
	for i := range shards {
		if err := s.cps.Delete(ctx, checkpointKey(delivery, i)); err != nil {
			return fmt.Errorf("checkpoint %s/%d: %w", delivery, i, err)
		}
	}
	return nil
}

// ErrMetaChanged is SwapMeta's error when the key is not at the revision
// the write expected: someone else wrote it since it was read.
var ErrMetaChanged = errors.New("changed since it was read")

// GetMeta returns key's value and revision (nil and 0 when absent).
func (s *Store) GetMeta(ctx context.Context, key string) ([]byte, uint64, error) {
	v, rev, err := s.meta.Get(ctx, key)
	if errors.Is(err, errKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("catalog %s: %w", key, err)
	}
	return v, rev, nil
}

// SwapMeta writes key only if it is still at revision last (0: only if it
// is absent), and returns its new revision: a writer that lost its claim
// on a key (a lease that moved) cannot overwrite its successor's value.
// ErrMetaChanged otherwise.
func (s *Store) SwapMeta(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	var rev uint64
	var err error
	if last == 0 {
		rev, err = s.meta.Create(ctx, key, value)
	} else {
		rev, err = s.meta.Update(ctx, key, value, last)
	}
	if casConflict(err) {
		return 0, fmt.Errorf("catalog %s: %w", key, ErrMetaChanged)
	}
	if err != nil {
		return 0, fmt.Errorf("catalog %s: %w", key, err)
	}
	return rev, nil
}
