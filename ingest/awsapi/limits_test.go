package awsapi_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/hydrant-dev/hydrant/ingest/awsapi"
)

// A PutRecords request over 5 MiB of data and partition keys is refused
// whole, with InvalidArgumentException, and writes nothing, as Kinesis
// does; where records may be over 1 MiB the request may carry 10 MiB. (On
// the old main 5-10 MiB requests were taken.)
func TestPutRecordsRequestSize(t *testing.T) {
	record := func(size int) string {
		return fmt.Sprintf(`{"PartitionKey":"k","Data":%q}`, base64.StdEncoding.EncodeToString(make([]byte, size-1)))
	}
	request := func(n, size int) []byte {
		recs := make([]string, n)
		for i := range recs {
			recs[i] = record(size)
		}
		return []byte(`{"StreamName":"clicks","Records":[` + strings.Join(recs, ",") + `]}`)
	}
	tests := []struct {
		name          string
		maxRecordSize int
		body          []byte
		status        int
		want          string
	}{
		{"5 MiB in all", 0, request(5, 1<<20), http.StatusOK, `"FailedRecordCount":0`},
		{"over 5 MiB", 0, request(6, 1000<<10), http.StatusBadRequest, `"__type":"InvalidArgumentException"`},
		{"over 5 MiB by a partition key", 0, append(request(5, 1<<20)[:len(request(5, 1<<20))-2], `,{"PartitionKey":"k","Data":""}]}`...),
			http.StatusBadRequest, `"__type":"InvalidArgumentException"`},
		{"larger records: 10 MiB in all", 2 << 20, request(5, 2<<20), http.StatusOK, `"FailedRecordCount":0`},
		{"larger records: over 10 MiB", 2 << 20, request(6, 2<<20-1<<10), http.StatusBadRequest, `"__type":"InvalidArgumentException"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvOptions(t, awsapi.Options{MaxRecordSize: tt.maxRecordSize})
			status, _, body := post(t, e.url, "Kinesis_20131202.PutRecords", "application/x-amz-json-1.1", tt.body)
			if status != tt.status || !strings.Contains(string(body), tt.want) {
				t.Fatalf("%d %.300s; want %d %s", status, body, tt.status, tt.want)
			}
			if tt.status != http.StatusOK {
				if n := messages(t, e, "clicks", 4); n != 0 {
					t.Fatalf("a refused request wrote %d messages", n)
				}
			}
		})
	}
}

// Names too long or of other characters are 400 in AWS's shapes on every
// operation that takes one, never 500.
func TestNamesAreValidated(t *testing.T) {
	e := newEnv(t, nil)
	long, dots := strings.Repeat("a", 129), strings.Repeat(".", 128)
	tests := []struct {
		target, body, want string
	}{
		{"Kinesis_20131202.PutRecord", `{"StreamName":"` + long + `","PartitionKey":"k","Data":"eA=="}`, "ValidationException"},
		{"Kinesis_20131202.PutRecords", `{"StreamName":"a b","Records":[{"PartitionKey":"k","Data":"eA=="}]}`, "ValidationException"},
		{"Kinesis_20131202.DescribeStreamSummary", `{"StreamName":"` + long + `"}`, "ValidationException"},
		{"Kinesis_20131202.DescribeStream", `{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/` + long + `"}`, "ValidationException"},
		{"Kinesis_20131202.ListShards", `{"StreamName":"é"}`, "ValidationException"},
		{"Kinesis_20131202.GetShardIterator", `{"StreamName":"` + long + `","ShardId":"shardId-000000000000","ShardIteratorType":"LATEST"}`, "ValidationException"},
		{"Kinesis_20131202.DescribeStreamSummary", `{"StreamName":"` + dots + `"}`, "ResourceNotFoundException"},
		{"Firehose_20150804.PutRecord", `{"DeliveryStreamName":"` + strings.Repeat("a", 65) + `","Record":{"Data":"eA=="}}`, "ValidationException"},
		{"Firehose_20150804.PutRecordBatch", `{"DeliveryStreamName":"a/b","Records":[{"Data":"eA=="}]}`, "ValidationException"},
		{"Firehose_20150804.DescribeDeliveryStream", `{"DeliveryStreamName":"` + long + `"}`, "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			status, _, body := post(t, e.url, tt.target, "application/x-amz-json-1.1", []byte(tt.body))
			if status != http.StatusBadRequest || !strings.Contains(string(body), `"__type":"`+tt.want+`"`) {
				t.Fatalf("%d %.300s; want 400 %s", status, body, tt.want)
			}
		})
	}
}
