// Package ingest is Hydrant's HTTP front door.
//
// The native API takes records at POST|PUT /v1/streams/{name}/records as
// NDJSON, a JSON array or text lines (optionally gzip- or zstd-encoded),
// routes each to its shard by partition key, admits it against the shard's
// quota, appends it to the shard log, and answers with a result per record.
// A request is validated whole before anything is written, so a rejected
// request leaves nothing behind. The package knows the log only through
// shards; it never imports the delivery side.
//
// Every request meets the same front-door rules: InFlight bounds the bytes
// requests being served may make the process hold, counted as they grow
// (a body as declared, a compressed one as it decompresses, a GetRecords
// answer until it is written; 503 past it), a stream name must be 1-128
// of [a-zA-Z0-9_.-], and with credentials configured a request is
// authenticated (package auth) before its body is read, and authorized per
// action and resource (authorizePut, RequireAction; the AWS APIs do the
// same per operation).
package ingest
