// Package destinations delivers batches and failed records.
//
// A Destination takes a batch and blocks until it is durably accepted or has
// failed; errors say whether a retry can help (Permanent, Throttled). Retry
// and timeouts are decorators (Chain, WithRetry, WithTimeout), not copied into
// each destination. Object destinations (local files, S3) share one
// implementation, Objects, over a small ObjectStore interface: JSON-lines
// encoding, compression, Firehose-style key prefixes, and names derived from
// (delivery, shard, first sequence) so that re-delivering a batch rewrites the
// same object instead of duplicating it. A partition key value becomes one
// key segment only if UnsafePartitionValue accepts it, so no record picks a
// key outside its partition. Records that cannot be delivered go
// to an ErrorOutput as Firehose-format JSON documents — never dropped.
package destinations
