// Package httpendpoint delivers batches to an HTTP endpoint by Amazon Data
// Firehose's HTTP endpoint delivery request and response specification
// (protocol version 1.0), the one Splunk, Datadog, New Relic, Grafana
// Alloy's loki.source.awsfirehose, Vector's aws_kinesis_firehose source and
// other receivers accept.
//
// Each request is a POST of Content-Type application/json, optionally
// gzip-compressed (Content-Encoding: gzip), with the body
//
//	{"requestId":"<uuid>","timestamp":<epoch ms>,"records":[{"data":"<base64>"},…]}
//
// and the headers X-Amz-Firehose-Protocol-Version: 1.0,
// X-Amz-Firehose-Request-Id (the body's requestId),
// X-Amz-Firehose-Access-Key (when an access key is configured) and
// X-Amz-Firehose-Common-Attributes ({"commonAttributes":{…}}, when common
// attributes are configured). A request is accepted only by a 200 answer
// whose JSON body {"requestId","timestamp","errorMessage"} carries the same
// requestId; any other answer, a timeout or a connection error is retried,
// with backoff, until the retry duration has passed since the first attempt,
// and the records still not accepted are then returned as per-record errors
// of type "http-endpoint-failed" for the error output.
//
// A batch goes in one request, or in several of at most MaxRequestBytes
// (body before compression) when that is set. Each request's id is a
// name-based (version 5) UUID of the delivery, the shard, the first and
// last record (sequence and sub-sequence) and the record count: a retry
// sends the same id, as Firehose does, and two requests with the same id
// carry the same records, so a receiver may drop a request whose id it has
// already accepted. With a Ledger, each shard's requests are noted before
// they are sent, and a batch read again after a crash is cut into the same
// requests where it holds their records: the same ids again, and only the
// other records in new requests. Delivery is at least once, as Firehose's
// HTTP endpoint delivery: a batch read again that is shorter than a request
// sent before goes under a new id.
package httpendpoint
