// Package shards maps records to shards and stores them durably.
//
// It provides the Kinesis mapping (partition key → MD5 as an unsigned 128-bit
// integer → the shard whose hash-key range contains it, n shards splitting
// 2^128 evenly), per-shard write quotas (bytes and records per second, admitted
// per record), the record-batch encoding of the shard log, and the log itself.
// A per-shard appender coalesces concurrent puts into one record-batch message
// and acknowledges them only once the log has it. Each shard's messages are
// numbered 1, 2, 3…; a record's Sequence is its message's number and its
// index in the message. Checkpoints (the last delivered sequence per delivery
// and shard) live in a key-value bucket; a consumer claims one
// (ClaimCheckpoint), which fences the writes of whoever held it before.
//
// # The embedded log
//
// By default (StoreConfig.NATS nil) the log is Hydrant's own, in DataDir:
//
//	DataDir/hydrant-store.json     whether it is encrypted, and a check of the key
//	DataDir/log/segments/          the segment log (package seglog): every shard's
//	                               messages, in segment files shared by all shards
//	DataDir/log/hydrant.db         bbolt (package kv): buckets hydrant-checkpoints,
//	                               hydrant-catalog, hydrant-streams (lineages)
//	DataDir/jetstream.migrated     the store of earlier versions, once carried over
//
// Every shard is one key of the segment log, "stream/shard". Its appends, from
// every shard's appender at once, are group-committed: one write and, with
// SyncAlways, one fsync acknowledge all the messages that were waiting, the
// technique of the disk floor `hydrant-load -floor disk` measures. The fsync
// runs beside the log's writer, which meanwhile writes what came during it,
// and an appender hands the log its next message while the last one is being
// stored, so that the disk is never idle while puts wait. This is why the log
// is one file for every shard rather than one per shard (JetStream's layout):
// one fsync makes every shard's waiting puts durable. An entry
// holds one message with its sequence, arrival time, record count and the
// shard's running record count (which Lag reads instead of the records), under
// a CRC-32C. Each sealed segment has an index file (sequence → offset, per
// shard), so reads are positional and what is read is not cached by Hydrant:
// memory does not grow with throughput or readers. A crash's torn tail is cut
// off at Open; retention trims a shard's prefix at once for readers and frees
// the disk segment by segment, once every shard's entries in a segment are
// trimmed (under a DiskBudget segments are a sixteenth of it, so that space
// comes back in small steps). With StoreConfig.EncryptionKey, payloads and the
// buckets' values are sealed with AES-256-GCM under a key derived by
// HKDF-SHA256; stream names, sequences and times are not.
//
// A DataDir written by earlier versions holds an embedded JetStream store in
// DataDir/jetstream. Open carries it over once (migrate.go): each shard's
// messages with their sequences and times, its trimmed prefix, checkpoints and
// catalog, built in DataDir/log.migrating and renamed into place, so a crash
// leaves the old store as it was and the next start begins again.
//
// The embedded log refuses puts at once (ErrUnavailable) while its disk is
// nearly full or a write has failed, instead of leaving them unanswered, and
// recovers by itself once space is free: a failed write is undone, and after a
// failed fsync (when what is on disk is unknown) the log is opened again,
// which reads it back (Store.Writable tells /readyz).
//
// # Resharding
//
// A stream's shards form a lineage (lineage.go), as in Kinesis: shard IDs
// are dense and only grow, a split closes one shard and opens two children,
// a merge closes two adjacent shards and opens one, and UpdateShardCount
// (UNIFORM_SCALING) is splits and merges applied in one switch. The lineage
// is one value in the streams bucket, written in one write. Puts hold the
// stream shared while they route and append; a reshard holds it alone
// while it takes each closing shard's last message, stores the lineage and
// starts the children's appenders, so no record of a key lands in a child
// before its parent's last one. Closed shards keep their records until
// retention. On a cluster the resharding node first moves each closing
// shard's JetStream stream off its subject (every node's appends to it then
// fail), and the other nodes adopt the lineage from the bucket every
// UsageInterval. Ordering to destinations is the readers' part: a delivery
// reads a child only after its parents (package pipeline).
//
// # On a NATS cluster
//
// Instead, the log may live on an external NATS JetStream cluster
// (StoreConfig.NATS), one replicated stream per shard and JetStream key-value
// buckets, shared by several Hydrant nodes: appends ride out the cluster's
// leader elections, appenders of several nodes keep one record count per
// shard, and each node enforces its share of the quotas (SetNodes). Both logs
// implement logBackend, and contract_test.go runs one suite against both.
//
// The package knows no HTTP and no destinations.
package shards
