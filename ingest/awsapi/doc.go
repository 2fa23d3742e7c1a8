// Package awsapi serves the AWS wire protocols of Firehose
// (Firehose_20150804) and Kinesis Data Streams (Kinesis_20131202): POST /
// with an X-Amz-Target header and an AWS JSON 1.1 (or, for Kinesis, CBOR)
// body, answered with the shapes, limits and error types AWS uses, so that
// the AWS SDKs and CLI, Fluent Bit, Vector and the Kinesis Agent work by
// changing only their endpoint URL. Records put here land in the same shard
// log as the native API's and flow to the same deliveries.
//
// Besides puts and reads, it serves enhanced fan-out (stream consumers,
// kept in the shard store's meta, and SubscribeToShard: an event stream of
// application/vnd.amazon.eventstream messages, pushed from the shard log's
// readers, over HTTP/2 or HTTP/1.1), the control plane that infrastructure
// tools call (streams, resharding, tags, limits, enhanced monitoring,
// encryption as the store really has it; Firehose delivery streams, their
// tags and UpdateDestination), through the Control interface and resource
// settings kept in the shard store's meta.
package awsapi
