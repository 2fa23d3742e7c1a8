// Package ingest is Hydrant's HTTP front door.
//
// The native API takes records at POST|PUT /v1/streams/{name}/records as
// NDJSON, a JSON array or text lines (optionally gzip- or zstd-encoded),
// routes each to its shard by partition key, admits it against the shard's
// quota, appends it to the shard log, and answers with a result per record.
// A request is validated whole before anything is written, so a rejected
// request leaves nothing behind. The package knows the log only through
// shards; it never imports the delivery side.
package ingest
