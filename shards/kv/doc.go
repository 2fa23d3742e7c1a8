// Package kv is a small revisioned key-value store in one bbolt file: the
// semantics of a NATS JetStream key-value bucket (Get with revision, Put,
// Create that fails when the key exists, Update as compare-and-set on the
// key's last revision, Delete, key listing), for the checkpoints and the
// catalog of a Hydrant that runs without JetStream.
//
// A DB is one file holding named buckets. Every write to a bucket gets a
// revision larger than any the bucket gave before, to any key, also after
// deletes and restarts: a key deleted and created again never comes back at
// a revision a reader may still hold, so Update against a revision read
// before the delete fails. Revisions start at 1; 0 is never a revision.
//
// A write is durable (fsynced) when it returns, unless Options.NoSync. Writes
// are serialised, one transaction and one fsync each; reads run in parallel
// with each other and with a write, on a consistent snapshot. Values returned
// are copies, never slices of the file's memory map.
//
// Every method takes a context, honoured until the write starts: a write
// waiting for another to finish gives up when the context is done, but once
// its transaction has begun it runs to the end (bbolt is not cancellable).
// Reads check the context only at the start: they do not wait for writes,
// except briefly while a write remaps the file it has grown.
//
// Errors: ErrKeyNotFound, ErrKeyExists and ErrRevisionMismatch are answers,
// returned bare (the caller knows the bucket and key); the last two are both
// ErrConflict, after which reading the key again and writing on its new
// revision may succeed. ErrInvalidKey and ErrClosed are never worth a retry,
// ErrLocked (from Open) only once the other holder of the file has closed it.
// Any other error is a failure of the file (I/O, a full disk) and names the
// file, bucket and key; the write it failed may or may not be on disk.
//
// The file is bbolt's own format with one bucket "meta" holding the format
// version and one bucket "buckets" holding a bucket per name, whose keys map
// to the 8-byte big-endian revision followed by the value; each bucket's
// bbolt sequence is its last revision. The file never shrinks: space freed by
// deletes and overwrites is reused by later writes.
package kv
