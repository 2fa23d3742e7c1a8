// Package shards maps records to shards and stores them durably.
//
// It provides the Kinesis mapping (partition key → MD5 as an unsigned 128-bit
// integer → the shard whose hash-key range contains it, n shards splitting
// 2^128 evenly), per-shard write quotas (bytes and records per second, admitted
// per record), the record-batch encoding of the shard log, and the log itself:
// one NATS JetStream stream per shard, embedded in the process by default, with
// a per-shard appender that coalesces concurrent puts into one message (JetStream
// does not group-commit) and acknowledges only after the store has the message.
// Checkpoints (the last delivered sequence per delivery and shard) live in a
// JetStream key-value bucket.
//
// The package knows no HTTP and no destinations.
package shards
