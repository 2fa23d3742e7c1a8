// Package elasticsearch delivers batches to Elasticsearch or OpenSearch with
// the _bulk API, as Firehose's OpenSearch destination does, and retries only
// what failed.
//
// Every item of a bulk response is read. Items the server could not take for
// now (429, 5xx, es_rejected_execution_exception) are sent again alone, with
// backoff, until the retry duration has passed since the first attempt;
// items no retry can fix (mapping errors, other 4xx, 409 on create) are
// returned at once as per-record errors, and the pipeline writes them to the
// error output as "elasticsearch-failed" with esIndexName and esDocumentId.
// A request the server refuses as a whole is retried (connection errors,
// 429, 5xx) or split in halves until the culprit document stands alone (413,
// 400). Items already indexed are never sent again within a delivery.
//
// Document ids are "auto" by default: derived from the delivery, shard and
// sequence number of the record, so a batch re-delivered after a crash
// overwrites what it indexed before instead of adding copies (and a 409 on
// create with such an id means the document is already there). Index names
// rotate on the record's arrival time (UTC) as Firehose names them:
// idx-2026-11-25-13, idx-2026-11-25, idx-2026-w47 (weeks start on Sunday),
// idx-2026-11.
//
// The two flavours differ only in the client that carries the requests
// (go-elasticsearch, which insists on a genuine Elasticsearch, or
// opensearch-go); building bulk bodies and reading their results is shared.
package elasticsearch
