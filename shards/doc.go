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
// JetStream key-value bucket; a consumer claims one (ClaimCheckpoint), which
// fences the writes of whoever held it before.
//
// The embedded log refuses puts at once (ErrUnavailable) while its disk is
// nearly full or a write has failed for want of space, instead of leaving
// them unanswered, and recovers by itself once space is free: a JetStream
// stream that failed a write answers no publish until it is reloaded, so
// the store then reopens JetStream (Store.Writable tells /readyz).
//
// Instead of the embedded server the log may live on an external NATS
// cluster (StoreConfig.NATS), replicated, and be shared by several Hydrant
// nodes: appends ride out the cluster's leader elections, appenders of
// several nodes keep one record count per shard, and each node enforces its
// share of the quotas (SetNodes).
//
// The package knows no HTTP and no destinations.
package shards
