// Package awsapi serves the AWS wire protocols of Firehose
// (Firehose_20150804) and Kinesis Data Streams (Kinesis_20131202): POST /
// with an X-Amz-Target header and an AWS JSON 1.1 (or, for Kinesis, CBOR)
// body, answered with the shapes, limits and error types AWS uses, so that
// the AWS SDKs and CLI, Fluent Bit, Vector and the Kinesis Agent work by
// changing only their endpoint URL. Records put here land in the same shard
// log as the native API's and flow to the same deliveries.
package awsapi
