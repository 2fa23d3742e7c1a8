package shards

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// bucket is a key-value bucket whose every write gets a revision larger
// than any before it in the bucket: the checkpoints and the catalog. A
// write is durable when it returns (as the store syncs). Errors wrap
// errKeyNotFound and errCASConflict where they say so; any other error may
// be transient on a cluster (see retryTransient) and leaves the key as it
// was or as written.
type bucket interface {
	// Get returns key's value and revision, or errKeyNotFound.
	Get(ctx context.Context, key string) (value []byte, rev uint64, err error)
	// Put writes key whatever it holds.
	Put(ctx context.Context, key string, value []byte) (uint64, error)
	// Create writes key only if it is absent (errCASConflict otherwise).
	Create(ctx context.Context, key string, value []byte) (uint64, error)
	// Update writes key only if its revision is last (errCASConflict
	// otherwise, errKeyNotFound never: an absent key is a conflict too).
	Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error)
	// Delete removes key; removing an absent key is no error.
	Delete(ctx context.Context, key string) error
	// Keys returns the keys that start with prefix.
	Keys(ctx context.Context, prefix string) ([]string, error)
}

var (
	errKeyNotFound = errors.New("key not found")
	// errCASConflict: the key was not at the revision the write expected
	// (or, for a Create, present). An answer, not a failure: read it again.
	errCASConflict = errors.New("key changed since read")
)

// jsBucket is a bucket in a JetStream key-value store.
type jsBucket struct{ kv jetstream.KeyValue }

func (b jsBucket) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := b.kv.Get(ctx, key)
	if err != nil {
		return nil, 0, jsKVError(err)
	}
	return e.Value(), e.Revision(), nil
}

func (b jsBucket) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := b.kv.Put(ctx, key, value)
	return rev, jsKVError(err)
}

func (b jsBucket) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := b.kv.Create(ctx, key, value)
	return rev, jsKVError(err)
}

func (b jsBucket) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	rev, err := b.kv.Update(ctx, key, value, last)
	return rev, jsKVError(err)
}

func (b jsBucket) Delete(ctx context.Context, key string) error {
	err := b.kv.Purge(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return jsKVError(err)
}

func (b jsBucket) Keys(ctx context.Context, prefix string) ([]string, error) {
	lister, err := b.kv.ListKeys(ctx)
	if err != nil {
		return nil, jsKVError(err)
	}
	var keys []string
	for k := range lister.Keys() {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// jsKVError marks a JetStream KV error with what it means for the bucket,
// keeping it (a cluster's transient errors are told apart by it).
func jsKVError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return fmt.Errorf("%w: %w", errKeyNotFound, err)
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch), isWrongLastSequence(err):
		return fmt.Errorf("%w: %w", errCASConflict, err)
	}
	return err
}
