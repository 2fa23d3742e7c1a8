package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/hydrant-dev/hydrant/e2e/minio"
	"github.com/hydrant-dev/hydrant/internal/await"
)

// Two deliveries read the same kind of input: events keeps each log event
// as a JSON object with its log group's fields; messages extracts the
// messages, into a directory per log group.
const cloudWatchLogsConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
deliveries:
  - name: events
    transforms: [{cloudwatch_logs: {}}]
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/events", prefix: "logs/", error_prefix: "errors/!{firehose:error-output-type}/"}
  - name: messages
    transforms: [{cloudwatch_logs: {extract: message, partition_keys: {group: logGroup}}}]
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/messages", prefix: "group=!{partitionKeyFromQuery:group}/", error_prefix: "errors/!{firehose:error-output-type}/"}
`

// cwlLogGroups are the log groups the test's payloads come from.
var cwlLogGroups = []string{"/aws/lambda/checkout", "/aws/lambda/search"}

// cwlPayload is a CloudWatch Logs subscription payload as a subscription
// filter puts it to Firehose: the JSON, gzip-compressed.
func cwlPayload(t *testing.T, messageType, group string, messages ...string) []byte {
	t.Helper()
	type event struct {
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Message   string `json:"message"`
	}
	events := make([]event, len(messages))
	for i, m := range messages {
		events[i] = event{ID: fmt.Sprintf("%056d", i), Timestamp: 1764979200000 + int64(i), Message: m}
	}
	b, err := json.Marshal(map[string]any{"messageType": messageType, "owner": "123456789012", "logGroup": group,
		"logStream": "2026/12/06/[$LATEST]0123456789abcdef", "subscriptionFilters": []string{"to-hydrant"}, "logEvents": events})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// cwlBatch is one PutRecordBatch as subscription filters send them: 10
// payloads of 20 log events each (messages "b<batch>-p<payload>-e<event>"),
// alternating between the log groups, with a control message and a corrupt
// payload among them. It returns the records and the corrupt payload.
func cwlBatch(t *testing.T, batch int) ([]fhtypes.Record, []byte) {
	t.Helper()
	var recs []fhtypes.Record
	for p := range 10 {
		msgs := make([]string, 20)
		for e := range msgs {
			msgs[e] = fmt.Sprintf("b%d-p%d-e%d", batch, p, e)
		}
		recs = append(recs, fhtypes.Record{Data: cwlPayload(t, "DATA_MESSAGE", cwlLogGroups[p%2], msgs...)})
		if p == 3 {
			recs = append(recs, fhtypes.Record{Data: cwlPayload(t, "CONTROL_MESSAGE", "",
				"CWL CONTROL MESSAGE: Checking health of destination Firehose.")})
		}
	}
	corrupt := cwlPayload(t, "DATA_MESSAGE", cwlLogGroups[0], fmt.Sprintf("b%d-corrupt", batch))
	corrupt[len(corrupt)-6] ^= 0xff // its CRC-32
	recs = append(recs[:6], append([]fhtypes.Record{{Data: corrupt}}, recs[6:]...)...)
	return recs, corrupt
}

// cwlOutput is what the two deliveries have written.
type cwlOutput struct {
	events   map[string]int    // message → times delivered as an event
	messages map[string]int    // "<group dir>/<message>" → times delivered
	failed   map[string]string // rawData (base64) → error code, both deliveries
}

func readCWLOutput(t *testing.T, dir string) cwlOutput {
	t.Helper()
	got := cwlOutput{events: map[string]int{}, messages: map[string]int{}, failed: map[string]string{}}
	eachLine(t, filepath.Join(dir, "events", "logs"), func(line []byte) {
		var e struct {
			Owner, LogGroup, LogStream, ID, Message string
			SubscriptionFilters                     []string
			Timestamp                               int64
		}
		if err := json.Unmarshal(line, &e); err != nil || e.Owner != "123456789012" || len(e.SubscriptionFilters) != 1 ||
			e.ID == "" || e.Timestamp < 1764979200000 || !strings.HasPrefix(e.LogGroup, "/aws/lambda/") {
			t.Fatalf("delivered event %q (%v) lacks the payload's fields", line, err)
		}
		got.events[e.Message]++
	})
	for _, g := range cwlLogGroups {
		segment := "group=" + strings.ReplaceAll(g, "/", "%2F")
		eachLine(t, filepath.Join(dir, "messages", segment), func(line []byte) {
			got.messages[segment+"/"+string(line)]++
		})
	}
	for _, d := range []string{"events", "messages"} {
		eachLine(t, filepath.Join(dir, d, "errors", "processing-failed"), func(line []byte) {
			var doc struct{ ErrorCode, RawData string }
			if err := json.Unmarshal(line, &doc); err != nil {
				t.Fatalf("error document %q: %v", line, err)
			}
			got.failed[d+" "+doc.RawData] = doc.ErrorCode
		})
	}
	return got
}

// CloudWatch Logs subscription payloads put through the Firehose API, as a
// subscription filter puts them, become one record per log event: each
// event delivered exactly once (as a JSON object with its log group's
// fields, or as its message in its log group's directory), across a
// kill -9 with a batch not yet delivered; control messages are dropped;
// a corrupt payload goes to the error output whole, and only there.
func TestCloudWatchLogsSubscription(t *testing.T) {
	dir, listen := t.TempDir(), freeAddr(t)
	fh := firehose.New(firehose.Options{BaseEndpoint: aws.String("http://" + listen), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("any", "any", "")})
	h := startHydrant(t, dir, listen, cloudWatchLogsConfig)
	first, corrupt1 := cwlBatch(t, 1)
	second, corrupt2 := cwlBatch(t, 2)
	for _, d := range []string{"events", "messages"} {
		putBatch(t, fh, d, first)
	}
	await.Cond(t, 30*time.Second, "the first batch delivered", func() bool {
		got := readCWLOutput(t, dir)
		return len(got.events) == 200 && len(got.messages) == 200 && len(got.failed) == 2
	})
	for _, d := range []string{"events", "messages"} {
		putBatch(t, fh, d, second)
	}
	h.kill() // the second batch is acknowledged, likely not delivered yet
	h = startHydrant(t, dir, listen, cloudWatchLogsConfig)

	var got cwlOutput
	await.Cond(t, 30*time.Second, "both batches delivered", func() bool {
		got = readCWLOutput(t, dir)
		return len(got.events) == 400 && len(got.messages) == 400 && len(got.failed) == 4
	})
	h.stop()
	got = readCWLOutput(t, dir)
	for b := 1; b <= 2; b++ {
		for p := range 10 {
			for e := range 20 {
				msg := fmt.Sprintf("b%d-p%d-e%d", b, p, e)
				if n := got.events[msg]; n != 1 {
					t.Errorf("event %s delivered %d times", msg, n)
				}
				key := "group=" + strings.ReplaceAll(cwlLogGroups[p%2], "/", "%2F") + "/" + msg
				if n := got.messages[key]; n != 1 {
					t.Errorf("message %s delivered %d times", key, n)
				}
			}
		}
	}
	if len(got.events) != 400 || len(got.messages) != 400 {
		t.Errorf("%d events and %d messages delivered; want the 400 put each (no control message, no corrupt payload)", len(got.events), len(got.messages))
	}
	for _, d := range []string{"events", "messages"} {
		for _, c := range [][]byte{corrupt1, corrupt2} {
			if code := got.failed[d+" "+base64.StdEncoding.EncodeToString(c)]; code != "Transform.DecompressError" {
				t.Errorf("%s: the corrupt payload failed with %q; want it in the error output whole, Transform.DecompressError", d, code)
			}
		}
	}
	if len(got.failed) != 4 {
		t.Errorf("%d records in the error outputs; want the 2 corrupt payloads of each delivery", len(got.failed))
	}
}

// A delivery stream created with Firehose's Decompression and
// CloudWatchLogProcessing (DataMessageExtraction true) processors, as the
// console, Terraform or CDK make it for CloudWatch Logs, delivers each log
// event's message on a line of its own: control messages dropped, a
// corrupt payload not delivered. CloudWatchLogProcessing without
// Decompression is refused, as in Firehose.
func TestFirehoseCloudWatchLogProcessing(t *testing.T) {
	m := minio.Start(t)
	m.CreateBucket(t, "lake")
	dir, listen := t.TempDir(), freeAddr(t)
	env := []string{"S3_ENDPOINT=" + m.Endpoint, "S3_KEY=" + m.AccessKey, "S3_SECRET=" + m.SecretKey}
	h := startHydrant(t, dir, listen, controlConfig, env...)
	ctx := context.Background()
	fh := firehose.New(firehose.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("any", "any", "")})
	extraction := fhtypes.Processor{Type: fhtypes.ProcessorTypeCloudWatchLogProcessing, Parameters: []fhtypes.ProcessorParameter{
		{ParameterName: fhtypes.ProcessorParameterNameDataMessageExtraction, ParameterValue: aws.String("true")}}}
	decompression := fhtypes.Processor{Type: fhtypes.ProcessorTypeDecompression, Parameters: []fhtypes.ProcessorParameter{
		{ParameterName: fhtypes.ProcessorParameterNameCompressionFormat, ParameterValue: aws.String("GZIP")}}}
	create := func(name string, processors ...fhtypes.Processor) error {
		_, err := fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
			DeliveryStreamName: aws.String(name),
			ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
				BucketARN: aws.String("arn:aws:s3:::lake"), RoleARN: aws.String("arn:aws:iam::000000000000:role/any"),
				Prefix: aws.String(name + "/"), ErrorOutputPrefix: aws.String("errors/" + name + "/"),
				ProcessingConfiguration: &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: processors},
				BufferingHints:          &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(1)},
			},
		})
		return err
	}
	var invalid *fhtypes.InvalidArgumentException
	if err := create("alone", extraction); !errors.As(err, &invalid) {
		t.Errorf("CloudWatchLogProcessing without Decompression: %v, want InvalidArgumentException", err)
	}
	if err := create("cwl", extraction, decompression); err != nil {
		t.Fatal(err)
	}
	recs, _ := cwlBatch(t, 1)
	putBatch(t, fh, "cwl", recs)
	var want []string
	for p := range 10 {
		for e := range 20 {
			want = append(want, fmt.Sprintf("b1-p%d-e%d", p, e))
		}
	}
	slices.Sort(want)
	await.Cond(t, 30*time.Second, "200 messages in MinIO", func() bool { return countObjectLines(t, m, "cwl/") >= len(want) })
	await.Cond(t, 30*time.Second, "the corrupt payload in the error output", func() bool { return countObjectLines(t, m, "errors/cwl/") >= 1 })
	got := objectLines(t, m, "cwl/")
	slices.Sort(got) // the delivery stream's shards each write their own objects
	if !slices.Equal(got, want) {
		t.Errorf("delivered %d lines %.200q…, want the 200 messages %.200q…", len(got), got, want)
	}
	if n := countObjectLines(t, m, "errors/cwl/"); n != 1 {
		t.Errorf("%d records in the error output, want the corrupt payload alone", n)
	}
}
