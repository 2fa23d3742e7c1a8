package awsapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"

	"github.com/hydrant-dev/hydrant/ingest/auth"
)

// every operation the AWS APIs serve, with a body that names a resource.
var everyOperation = map[string]string{
	"Firehose_20150804.PutRecord":                    `{"DeliveryStreamName":"events","Record":{"Data":"eA=="}}`,
	"Firehose_20150804.PutRecordBatch":               `{"DeliveryStreamName":"events","Records":[{"Data":"eA=="}]}`,
	"Firehose_20150804.ListDeliveryStreams":          `{}`,
	"Firehose_20150804.DescribeDeliveryStream":       `{"DeliveryStreamName":"events"}`,
	"Firehose_20150804.CreateDeliveryStream":         `{"DeliveryStreamName":"new"}`,
	"Firehose_20150804.DeleteDeliveryStream":         `{"DeliveryStreamName":"events"}`,
	"Kinesis_20131202.PutRecord":                     `{"StreamName":"clicks","Data":"eA==","PartitionKey":"k"}`,
	"Kinesis_20131202.PutRecords":                    `{"StreamName":"clicks","Records":[{"Data":"eA==","PartitionKey":"k"}]}`,
	"Kinesis_20131202.ListStreams":                   `{}`,
	"Kinesis_20131202.DescribeStream":                `{"StreamName":"clicks"}`,
	"Kinesis_20131202.DescribeStreamSummary":         `{"StreamName":"clicks"}`,
	"Kinesis_20131202.ListShards":                    `{"StreamName":"clicks"}`,
	"Kinesis_20131202.GetShardIterator":              `{"StreamName":"clicks","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}`,
	"Kinesis_20131202.GetRecords":                    `{"ShardIterator":"AAAA"}`,
	"Kinesis_20131202.CreateStream":                  `{"StreamName":"new","ShardCount":1}`,
	"Kinesis_20131202.DeleteStream":                  `{"StreamName":"clicks"}`,
	"Kinesis_20131202.IncreaseStreamRetentionPeriod": `{"StreamName":"clicks","RetentionPeriodHours":48}`,
	"Kinesis_20131202.DecreaseStreamRetentionPeriod": `{"StreamName":"clicks","RetentionPeriodHours":24}`,
	"Kinesis_20131202.SplitShard":                    `{"StreamName":"clicks","ShardToSplit":"shardId-000000000000","NewStartingHashKey":"12345"}`,
	"Kinesis_20131202.MergeShards":                   `{"StreamName":"clicks","ShardToMerge":"shardId-000000000000","AdjacentShardToMerge":"shardId-000000000001"}`,
	"Kinesis_20131202.UpdateShardCount":              `{"StreamName":"clicks","TargetShardCount":8,"ScalingType":"UNIFORM_SCALING"}`,
	"Kinesis_20131202.UpdateStreamMode":              `{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/clicks","StreamModeDetails":{"StreamMode":"ON_DEMAND"}}`,
}

func postWith(t testing.TB, url, target string, body []byte, header http.Header) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// With only API keys configured, the AWS APIs on the same port are not
// open: every operation needs a credential, and a key's scope holds there
// too. (On the old main they were open to anyone, unsigned.)
func TestEveryOperationNeedsACredential(t *testing.T) {
	keys, err := auth.NewAPIKeys([]auth.APIKey{{Key: "only-puts-to-other-0123", Streams: []string{"other"}, Actions: []auth.Action{auth.ActionPut}}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, auth.NewAuthenticator(nil, keys, nil))
	for target, body := range everyOperation {
		t.Run(target, func(t *testing.T) {
			status, out := postWith(t, e.url, target, []byte(body), nil)
			if status != 400 || !strings.Contains(string(out), "MissingAuthenticationTokenException") {
				t.Fatalf("without a credential: %d %s", status, out)
			}
			status, out = postWith(t, e.url, target, []byte(body), http.Header{"Authorization": {"Bearer only-puts-to-other-0123"}})
			if status != 400 || !strings.Contains(string(out), "AccessDeniedException") {
				t.Fatalf("with a key scoped to another stream: %d %s", status, out)
			}
		})
	}
	// Nothing reached the log.
	for shard := range 4 {
		if info, _ := e.store.ShardInfo(context.Background(), "clicks", shard); info.Messages != 0 {
			t.Fatalf("clicks shard %d holds %d messages", shard, info.Messages)
		}
	}
}

// SigV4 keys get policies: a key without one may use the data plane but
// not create or delete; a policy's explicit deny wins; the resource is the
// stream the handler will use, however the client spells its ARN.
func TestSigV4Policies(t *testing.T) {
	verifier, err := auth.NewSigV4([]auth.Credential{{AccessKeyID: "DEFAULT", SecretAccessKey: "s1"},
		{AccessKeyID: "PRODUCER", SecretAccessKey: "s2"}, {AccessKeyID: "ADMIN", SecretAccessKey: "s3"}},
		[]string{"firehose", "kinesis"}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	producer, err := auth.NewPolicy([]auth.Statement{{Effect: auth.Allow, Actions: []string{"kinesis:PutRecord*"},
		Resources: []string{"arn:aws:kinesis:*:*:stream/click*"}}})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := auth.NewPolicy([]auth.Statement{
		{Effect: auth.Allow, Actions: []string{"*"}, Resources: []string{"*"}},
		{Effect: auth.Deny, Actions: []string{"kinesis:DeleteStream"}, Resources: []string{"arn:aws:kinesis:*:*:stream/clicks"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, auth.NewAuthenticator(verifier, nil, map[string]*auth.Policy{"PRODUCER": producer, "ADMIN": admin}))
	ctx := context.Background()
	denied := func(t *testing.T, err error) {
		t.Helper()
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "AccessDeniedException" {
			t.Fatalf("err = %v, want AccessDeniedException", err)
		}
	}
	put := &kinesis.PutRecordInput{StreamName: aws.String("clicks"), Data: []byte("x"), PartitionKey: aws.String("k")}

	def := kinesisClient(e.url, "DEFAULT", "s1")
	if _, err := def.PutRecord(ctx, put); err != nil {
		t.Fatalf("default key puts: %v", err)
	}
	if _, err := def.ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil {
		t.Fatalf("default key lists: %v", err)
	}
	_, err = def.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("new"), ShardCount: aws.Int32(1)})
	denied(t, err)
	_, err = def.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("tiny")})
	denied(t, err)

	prod := kinesisClient(e.url, "PRODUCER", "s2")
	if _, err := prod.PutRecord(ctx, put); err != nil {
		t.Fatalf("producer puts to clicks: %v", err)
	}
	_, err = prod.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("tiny"), Data: []byte("x"), PartitionKey: aws.String("k")})
	denied(t, err)
	// An ARN that a glob on the raw text would match, naming another stream.
	_, err = prod.PutRecord(ctx, &kinesis.PutRecordInput{StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/clicks:stream/tiny"),
		Data: []byte("x"), PartitionKey: aws.String("k")})
	denied(t, err)
	_, err = prod.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("clicks"),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: "TRIM_HORIZON"})
	denied(t, err)

	adm := kinesisClient(e.url, "ADMIN", "s3")
	// Allowed, it reaches the operation (this test server has no control
	// plane, so the operation itself refuses).
	_, err = adm.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("new"), ShardCount: aws.Int32(1)})
	if apiErr := smithy.APIError(nil); !errors.As(err, &apiErr) || apiErr.ErrorCode() == "AccessDeniedException" {
		t.Fatalf("admin creates: %v, want the operation's own answer", err)
	}
	_, err = adm.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("clicks")})
	denied(t, err)
}

// Shard iterators carry an HMAC: one altered to read another stream, shard
// or position, or to extend its life, is refused.
func TestIteratorIntegrity(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	out, err := e.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("clicks"),
		ShardId: aws.String("shardId-000000000001"), ShardIteratorType: "TRIM_HORIZON"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: out.ShardIterator}); err != nil {
		t.Fatalf("the iterator as issued: %v", err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(*out.ShardIterator)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{1, 8, 9, len(raw) - 20, len(raw) - 1} { // issue time, shard, stream name, MAC
		forged := bytes.Clone(raw)
		forged[at] ^= 1
		body, _ := json.Marshal(map[string]string{"ShardIterator": base64.RawURLEncoding.EncodeToString(forged)})
		status, resp := postWith(t, e.url, "Kinesis_20131202.GetRecords", body, nil)
		if status != 400 || !strings.Contains(string(resp), "InvalidArgumentException") {
			t.Errorf("byte %d changed: %d %s, want InvalidArgumentException", at, status, resp)
		}
	}
}

// A request without a usable credential is answered before its body is
// read: the client still holds most of its body when the answer comes.
func TestRefusedBeforeTheBody(t *testing.T) {
	verifier, err := auth.NewSigV4([]auth.Credential{{AccessKeyID: "AKID", SecretAccessKey: "secret"}}, []string{"kinesis"}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, auth.NewAuthenticator(verifier, nil, nil))
	for name, authz := range map[string]string{
		"unsigned":       "",
		"unknown key id": "AWS4-HMAC-SHA256 Credential=NOPE/20260314/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00",
	} {
		t.Run(name, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pw.Close()
			req, _ := http.NewRequest(http.MethodPost, e.url+"/", pr)
			req.ContentLength = 16 << 20
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			req.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
			req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
			if authz != "" {
				req.Header.Set("Authorization", authz)
			}
			go pw.Write(make([]byte, 1024)) // then nothing more until the answer came
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 400 || !bytes.Contains(body, []byte("Exception")) {
				t.Fatalf("got %d %s", resp.StatusCode, body)
			}
		})
	}
}
