package awsapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/fxamacker/cbor/v2"

	"github.com/hydrant-dev/hydrant/ingest/awsapi"
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
		"Kinesis_20131202.SplitShard", "Kinesis_20131202.MergeShards", "Kinesis_20131202.UpdateShardCount", "Kinesis_20131202.UpdateStreamMode",
	}
	seeds := []string{
		`{"StreamName":"clicks","Data":"eA==","PartitionKey":"k"}`,
		`{"StreamName":"clicks","Records":[{"Data":"eA==","PartitionKey":"k","ExplicitHashKey":"12"}]}`,
		`{"StreamName":"clicks","ShardId":"shardId-000000000001","ShardIteratorType":"AT_TIMESTAMP","Timestamp":1.7e9}`,
		`{"ShardIterator":"AQAAAZ","Limit":10}`,
		`{"StreamName":"clicks","MaxResults":1,"ShardFilter":{"Type":"FROM_TIMESTAMP","Timestamp":1.7e9}}`,
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

// FuzzJSONDecodeMatchesEncodingJSON: the JSON decoder of the put requests
// (goccy/go-json, see unmarshalJSON) accepts exactly the bodies
// encoding/json.Unmarshal accepts, into equal requests, and refuses the
// others with encoding/json's error, word for word.
func FuzzJSONDecodeMatchesEncodingJSON(f *testing.F) {
	for _, b := range sdkPutBodies(f) {
		f.Add(b)
	}
	for _, s := range []string{
		`{"StreamName":"clicks","Records":[{"Data":"eA==","PartitionKey":"k","ExplicitHashKey":"12"}]}`,
		`{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/clicks","Data":"eA==","PartitionKey":"k","SequenceNumberForOrdering":"1"}`,
		`{"DeliveryStreamName":"events","Records":[{"Data":"eA=="},{"Data":""},{"Data":"eA\r\n=="},{"Data":[120,1]}]}`,
		`{"DeliveryStreamName":"events","Record":{"Data":"eA=="}}`,
		`{"streamname":"a","STREAMARN":"b","records":[{"data":"eA==","partitionkey":"k"}],"\u017ftreamName":"c","\u212a":1}`,
		`{"Records":[{"Data":"eA==","PartitionKey":"k"}],"Records":[{"Data":null}],"Record":{"Data":"eA==","Data":null}}`,
		`{"Records":[{"Data":"eA==","PartitionKey":"k"},{}],"Records":[null]}`,
		`{"StreamName":"a","StreamName":null,"Records":null}`,
		`{"Records":[{"Data":"eA","PartitionKey":"\ud800\u00e9"}]}`, `{"Records":[{"Data":"-_8="}]}`,
		`{"Records":[1,2]}`, `{"Records":{}}`, `{"Records":[{"Data":[1,2,300]}]}`, `{"StreamName":1}`, `{"StreamName":true}`,
		`{"StreamName":"a"} x`, `{"StreamName":"a"}{}`, "{\"StreamName\":\"caf\xe9\"}", "\ufeff{}", `{"StreamName":"a\u0000"}`,
		`{"StreamName":"\"\\\/\b\f\n\r\t"}`, `{"x":1e999}`, `{"x":-}`, `{"x":01}`, `{"x":[1,{"y":true,"z":null}]}`,
		`{"Records":[{"PartitionKey":["a"]}]}`, ` {} `, "\t{}\n", "\v{}", `[]`, `null`, `"x"`, `{`, ``,
		`{"x":` + strings.Repeat("[", 10_001), `{"StreamName":"clicks","Records":[{"Data":"eA==","PartitionKey":"k:null"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, r := range awsapi.FastJSONRequests {
			std, fast := r.New(), r.New()
			stdErr := json.Unmarshal(body, std)
			fastErr := awsapi.UnmarshalJSONRequest(body, fast)
			switch {
			case (stdErr == nil) != (fastErr == nil) || (stdErr != nil && stdErr.Error() != fastErr.Error()):
				t.Fatalf("%s %q: error %v; encoding/json: %v", r.Operation, body, fastErr, stdErr)
			case stdErr == nil && !reflect.DeepEqual(std, fast):
				t.Fatalf("%s %q: decoded %+v; encoding/json: %+v", r.Operation, body, fast, std)
			}
		}
	})
}

// sdkPutBodies returns the JSON bodies the AWS SDK for Go sends for the put
// operations: the shapes the decoder sees most.
func sdkPutBodies(tb testing.TB) [][]byte {
	tb.Helper()
	var (
		mu     sync.Mutex
		bodies [][]byte
	)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-") {
			mu.Lock()
			bodies = append(bodies, b)
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Write([]byte(`{}`))
	}))
	defer hs.Close()
	ctx := context.Background()
	kin, fh := kinesisClient(hs.URL, "AKIDEXAMPLE", "secret"), firehoseClient(hs.URL, "AKIDEXAMPLE", "secret")
	data := [][]byte{[]byte(`{"user":"u-1","n":1}`), {}, {0, 0xff, '\n'}, []byte(strings.Repeat("x", 1000))}
	var entries []types.PutRecordsRequestEntry
	var recs []fhtypes.Record
	for i, d := range data {
		entries = append(entries, types.PutRecordsRequestEntry{Data: d, PartitionKey: aws.String("user-é-" + string(rune('a'+i)))})
		recs = append(recs, fhtypes.Record{Data: d})
	}
	entries[1].ExplicitHashKey = aws.String("340282366920938463463374607431768211455")
	kin.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("clicks"), Records: entries})
	kin.PutRecords(ctx, &kinesis.PutRecordsInput{StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/clicks"), Records: entries[:1]})
	kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("clicks"), Data: data[0], PartitionKey: aws.String("k"),
		ExplicitHashKey: aws.String("12"), SequenceNumberForOrdering: aws.String("49590338271490256608559692538361571095921575989136588898")})
	fh.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("events"), Records: recs})
	fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("events"), Record: &fhtypes.Record{Data: data[0]}})
	if len(bodies) != 5 {
		tb.Fatalf("the SDK sent %d JSON put bodies, want 5", len(bodies))
	}
	return bodies
}
