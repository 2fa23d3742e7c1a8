package shards

import (
	"context"
	"errors"
	"fmt"

	"github.com/hydrant-dev/hydrant/shards/kv"
)

// kvBucket is a bucket of the node's bbolt store (the embedded log's).
type kvBucket struct{ b *kv.Bucket }

func (b kvBucket) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := b.b.Get(ctx, key)
	if err != nil {
		return nil, 0, kvError(err)
	}
	return e.Value, e.Revision, nil
}

func (b kvBucket) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := b.b.Put(ctx, key, value)
	return rev, kvError(err)
}

func (b kvBucket) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := b.b.Create(ctx, key, value)
	return rev, kvError(err)
}

func (b kvBucket) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	rev, err := b.b.Update(ctx, key, value, last)
	if errors.Is(err, kv.ErrKeyNotFound) {
		return 0, fmt.Errorf("%w: %w", errCASConflict, err)
	}
	return rev, kvError(err)
}

func (b kvBucket) Delete(ctx context.Context, key string) error {
	if err := b.b.Delete(ctx, key); err != nil && !errors.Is(err, kv.ErrKeyNotFound) {
		return kvError(err)
	}
	return nil
}

func (b kvBucket) Keys(ctx context.Context, prefix string) ([]string, error) {
	keys, err := b.b.Keys(ctx, prefix)
	return keys, kvError(err)
}

// kvError marks a bbolt store error with what it means for the bucket; any
// other is the file's (I/O, a full disk), which trying again at once does
// not mend.
func kvError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kv.ErrKeyNotFound):
		return fmt.Errorf("%w: %w", errKeyNotFound, err)
	case errors.Is(err, kv.ErrConflict):
		return fmt.Errorf("%w: %w", errCASConflict, err)
	}
	return &localError{err}
}

// localError is an error of a store on this node's own disk: unlike a NATS
// cluster between leaders, it is not retried.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }
