package awsapi_test

import (
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// FuzzRequests sends arbitrary bodies to every operation, as JSON and as
// CBOR: the server must answer every one, with a client error unless the
// request is valid — never a panic, a hang or a 5xx.
func FuzzRequests(f *testing.F) {
	targets := []string{
		"Kinesis_20131202.PutRecord", "Kinesis_20131202.PutRecords", "Kinesis_20131202.ListStreams",
		"Kinesis_20131202.DescribeStream", "Kinesis_20131202.DescribeStreamSummary", "Kinesis_20131202.ListShards",
		"Kinesis_20131202.GetShardIterator", "Kinesis_20131202.GetRecords",
		"Firehose_20150804.PutRecord", "Firehose_20150804.PutRecordBatch", "Firehose_20150804.ListDeliveryStreams",
		"Firehose_20150804.DescribeDeliveryStream",
		"Kinesis_20131202.CreateStream", "Kinesis_20131202.DeleteStream", "Kinesis_20131202.IncreaseStreamRetentionPeriod",
		"Kinesis_20131202.DecreaseStreamRetentionPeriod", "Firehose_20150804.CreateDeliveryStream", "Firehose_20150804.DeleteDeliveryStream",
	}
	seeds := []string{
		`{"StreamName":"clicks","Data":"eA==","PartitionKey":"k"}`,
		`{"StreamName":"clicks","Records":[{"Data":"eA==","PartitionKey":"k","ExplicitHashKey":"12"}]}`,
		`{"StreamName":"clicks","ShardId":"shardId-000000000001","ShardIteratorType":"AT_TIMESTAMP","Timestamp":1.7e9}`,
		`{"ShardIterator":"AQAAAZ","Limit":10}`,
		`{"DeliveryStreamName":"events","Records":[{"Data":"eA=="}]}`,
		`{"Limit":1,"ExclusiveStartStreamName":"a"}`, `{`, `[]`, `null`, ``,
	}
	for i, s := range seeds {
		f.Add(uint8(i), false, []byte(s))
	}
	b, _ := cbor.Marshal(map[string]any{"StreamName": "clicks", "Data": []byte("x"), "PartitionKey": "k"})
	f.Add(uint8(0), true, b)
	e := newEnv(f, nil)
	f.Fuzz(func(t *testing.T, target uint8, asCBOR bool, body []byte) {
		ct := "application/x-amz-json-1.1"
		if asCBOR {
			ct = "application/x-amz-cbor-1.1"
		}
		status, _, out := post(t, e.url, targets[int(target)%len(targets)], ct, body)
		if status >= 500 {
			t.Fatalf("status %d for %q: %s", status, body, out)
		}
	})
}
