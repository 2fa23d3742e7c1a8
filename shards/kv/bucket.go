package kv

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// Bucket is a named set of keys with one revision counter. Safe for
// concurrent use; valid until its DB is closed.
type Bucket struct {
	db    *DB
	name  string
	bname []byte
}

// Entry is a key's value and the revision of the write that stored it.
type Entry struct {
	Key      string
	Value    []byte // a copy: the caller may keep and change it
	Revision uint64
}

// revLen is the length of the revision before each stored value.
const revLen = 8

// Name returns the bucket's name.
func (b *Bucket) Name() string { return b.name }

// Get returns key's value and revision, or ErrKeyNotFound.
func (b *Bucket) Get(ctx context.Context, key string) (Entry, error) {
	if err := checkKey(key); err != nil {
		return Entry{}, err
	}
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	var e Entry
	err := b.db.bolt.View(func(tx *bolt.Tx) error {
		bk, err := b.bucket(tx)
		if err != nil {
			return err
		}
		raw := bk.Get([]byte(key))
		if raw == nil {
			return ErrKeyNotFound
		}
		e, err = decode(key, raw)
		return err
	})
	if err != nil {
		return Entry{}, b.fail(err, "get", key)
	}
	return e, nil
}

// Put stores value under key, whatever the key holds, and returns the new
// revision.
func (b *Bucket) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	return b.write(ctx, "put", key, value, nil)
}

// Create stores value under key if the key is absent (ErrKeyExists
// otherwise), and returns the new revision.
func (b *Bucket) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	return b.write(ctx, "create", key, value, func(cur []byte) error {
		if cur != nil {
			return ErrKeyExists
		}
		return nil
	})
}

// Update stores value under key if the key's revision is last, and returns
// the new revision. If the key is at another revision, or absent (JetStream
// takes last 0 to mean absent; here 0 is never a revision, so it always
// fails), it writes nothing and returns ErrRevisionMismatch.
func (b *Bucket) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	return b.write(ctx, "update", key, value, func(cur []byte) error {
		if cur == nil || len(cur) < revLen || binary.BigEndian.Uint64(cur) != last {
			return ErrRevisionMismatch
		}
		return nil
	})
}

// Delete removes key, or returns ErrKeyNotFound if it is absent. The
// bucket's revisions go on from where they were: a later write of the key
// gets a revision larger than the deleted one's.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	err := b.db.update(ctx, func(tx *bolt.Tx) error {
		bk, err := b.bucket(tx)
		if err != nil {
			return err
		}
		k := []byte(key)
		if bk.Get(k) == nil {
			return ErrKeyNotFound
		}
		return bk.Delete(k)
	})
	if err != nil {
		return b.fail(err, "delete", key)
	}
	return nil
}

// Keys returns the keys that start with prefix, in byte order.
func (b *Bucket) Keys(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	err := b.scan(ctx, prefix, func(k, _ []byte) error {
		keys = append(keys, string(k))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// List returns the entries whose keys start with prefix, in byte order, all
// as they were at one moment.
func (b *Bucket) List(ctx context.Context, prefix string) ([]Entry, error) {
	var entries []Entry
	err := b.scan(ctx, prefix, func(k, raw []byte) error {
		e, err := decode(string(k), raw)
		entries = append(entries, e)
		return err
	})
	if err != nil {
		return nil, err
	}
	return entries, nil
}

// scan calls f with the keys that start with prefix and their stored bytes,
// in one read transaction. f must copy what it keeps.
func (b *Bucket) scan(ctx context.Context, prefix string, f func(k, raw []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := []byte(prefix)
	err := b.db.bolt.View(func(tx *bolt.Tx) error {
		bk, err := b.bucket(tx)
		if err != nil {
			return err
		}
		c := bk.Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if err := f(k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return b.fail(err, "list", prefix+"*")
	}
	return nil
}

// write stores value under key at the bucket's next revision, if check
// (given what the key holds, nil when absent) lets it.
func (b *Bucket) write(ctx context.Context, op, key string, value []byte, check func(cur []byte) error) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	if len(value) > MaxValueLen {
		return 0, fmt.Errorf("%w: value of %d bytes, over %d", ErrInvalidKey, len(value), MaxValueLen)
	}
	var rev uint64
	err := b.db.update(ctx, func(tx *bolt.Tx) error {
		bk, err := b.bucket(tx)
		if err != nil {
			return err
		}
		k := []byte(key)
		if check != nil {
			if err := check(bk.Get(k)); err != nil {
				return err
			}
		}
		if rev, err = bk.NextSequence(); err != nil {
			return err
		}
		stored := make([]byte, revLen+len(value))
		binary.BigEndian.PutUint64(stored, rev)
		copy(stored[revLen:], value)
		return bk.Put(k, stored)
	})
	if err != nil {
		return 0, b.fail(err, op, key)
	}
	return rev, nil
}

// bucket returns the bbolt bucket in tx.
func (b *Bucket) bucket(tx *bolt.Tx) (*bolt.Bucket, error) {
	bk := tx.Bucket(bucketsName).Bucket(b.bname)
	if bk == nil {
		return nil, fmt.Errorf("bucket %q missing from the file", b.name)
	}
	return bk, nil
}

func (b *Bucket) fail(err error, op, key string) error {
	return b.db.fail(err, op+" "+b.name+" "+strconv.Quote(key))
}

// decode copies a stored value out of the file's memory.
func decode(key string, raw []byte) (Entry, error) {
	if len(raw) < revLen {
		return Entry{}, fmt.Errorf("stored value of %d bytes, shorter than its revision", len(raw))
	}
	return Entry{Key: key, Value: bytes.Clone(raw[revLen:]), Revision: binary.BigEndian.Uint64(raw)}, nil
}
