package awsapi_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// post sends a raw AWS request and returns the status, content type and body.
func post(t testing.TB, url, target, contentType string, body []byte) (int, string, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Amz-Target", target)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), out
}

// The AWS Java SDKs and the KCL speak CBOR to Kinesis: the same shapes, blobs
// as byte strings, timestamps as tag 1 with epoch milliseconds.
func TestKinesisOverCBOR(t *testing.T) {
	e := newEnv(t, nil)
	const ct = "application/x-amz-cbor-1.1"
	mustCBOR := func(v any) []byte {
		b, err := cbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	status, gotCT, body := post(t, e.url, "Kinesis_20131202.PutRecords", ct, mustCBOR(map[string]any{
		"StreamName": "clicks",
		"Records": []map[string]any{
			{"Data": []byte{0, 1, 2, 0xff}, "PartitionKey": "user-1"},
			{"Data": []byte("second"), "PartitionKey": "user-1"},
		},
	}))
	if status != 200 || gotCT != ct {
		t.Fatalf("PutRecords over CBOR: %d %s %x", status, gotCT, body)
	}
	var put struct {
		FailedRecordCount int
		Records           []struct{ SequenceNumber, ShardId string }
	}
	if err := cbor.Unmarshal(body, &put); err != nil || put.FailedRecordCount != 0 || len(put.Records) != 2 {
		t.Fatalf("PutRecords response %+v: %v", put, err)
	}

	start := time.Now().Add(-time.Minute)
	status, _, body = post(t, e.url, "Kinesis_20131202.GetShardIterator", ct, mustCBOR(map[string]any{
		"StreamName": "clicks", "ShardId": put.Records[0].ShardId, "ShardIteratorType": "AT_TIMESTAMP",
		"Timestamp": cbor.Tag{Number: 1, Content: start.UnixMilli()},
	}))
	var it struct{ ShardIterator string }
	if status != 200 || cbor.Unmarshal(body, &it) != nil || it.ShardIterator == "" {
		t.Fatalf("GetShardIterator AT_TIMESTAMP over CBOR: %d %x", status, body)
	}
	status, _, body = post(t, e.url, "Kinesis_20131202.GetRecords", ct, mustCBOR(map[string]any{"ShardIterator": it.ShardIterator}))
	if status != 200 {
		t.Fatalf("GetRecords over CBOR: %d %x", status, body)
	}
	var recs struct {
		Records []struct {
			Data                        []byte
			PartitionKey                string
			ApproximateArrivalTimestamp cbor.Tag
		}
		NextShardIterator string
	}
	if err := cbor.Unmarshal(body, &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs.Records) != 2 || !bytes.Equal(recs.Records[0].Data, []byte{0, 1, 2, 0xff}) || recs.Records[1].PartitionKey != "user-1" {
		t.Fatalf("GetRecords over CBOR = %+v", recs)
	}
	ts := recs.Records[0].ApproximateArrivalTimestamp
	ms, ok := ts.Content.(uint64)
	if ts.Number != 1 || !ok || time.UnixMilli(int64(ms)).Before(start) {
		t.Fatalf("ApproximateArrivalTimestamp = %+v, want tag 1 with epoch milliseconds", ts)
	}

	// Errors come back in CBOR too.
	status, _, body = post(t, e.url, "Kinesis_20131202.DescribeStreamSummary", ct, mustCBOR(map[string]any{"StreamName": "nope"}))
	var aerr map[string]string
	if status != 400 || cbor.Unmarshal(body, &aerr) != nil || aerr["__type"] != "ResourceNotFoundException" {
		t.Fatalf("error over CBOR: %d %v", status, aerr)
	}
	status, _, _ = post(t, e.url, "Kinesis_20131202.PutRecord", ct, []byte{0xbf, 0xff, 0xff, 0x00})
	if status != 400 {
		t.Fatalf("garbage CBOR: status %d, want 400", status)
	}
}
