package shards

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/hydrant-dev/hydrant/shards/kv"
)

// kvBucket is a bucket of the node's bbolt store (the embedded log's). With
// an AEAD its values are sealed (a random nonce each, the bucket and key as
// additional data); keys stay plaintext.
type kvBucket struct {
	b    *kv.Bucket
	aead cipher.AEAD
}

func newKVBucket(b *kv.Bucket, aead cipher.AEAD) kvBucket { return kvBucket{b: b, aead: aead} }

func (b kvBucket) ad(key string) []byte { return []byte(b.b.Name() + "\x00" + key) }

func (b kvBucket) seal(key string, value []byte) []byte {
	if b.aead == nil {
		return value
	}
	out := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(value)+b.aead.Overhead())
	rand.Read(out)
	return b.aead.Seal(out, out, value, b.ad(key))
}

func (b kvBucket) open(key string, value []byte) ([]byte, error) {
	if b.aead == nil {
		return value, nil
	}
	ns := b.aead.NonceSize()
	if len(value) >= ns {
		if v, err := b.aead.Open(nil, value[:ns], value[ns:], b.ad(key)); err == nil {
			return v, nil
		}
	}
	return nil, &localError{fmt.Errorf("bucket %s key %q: the value does not decrypt with storage.encryption_key", b.b.Name(), key)}
}

func (b kvBucket) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := b.b.Get(ctx, key)
	if err != nil {
		return nil, 0, kvError(err)
	}
	v, err := b.open(key, e.Value)
	return v, e.Revision, err
}

func (b kvBucket) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := b.b.Put(ctx, key, b.seal(key, value))
	return rev, kvError(err)
}

func (b kvBucket) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := b.b.Create(ctx, key, b.seal(key, value))
	return rev, kvError(err)
}

func (b kvBucket) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	rev, err := b.b.Update(ctx, key, b.seal(key, value), last)
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
