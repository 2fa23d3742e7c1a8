package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	miniogo "github.com/minio/minio-go/v7"

	"github.com/hydrant-dev/hydrant/e2e/minio"
	"github.com/hydrant-dev/hydrant/internal/await"
)

const controlConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: declared
    shards: 1
firehose_api:
  s3: {endpoint: "${S3_ENDPOINT}", access_key_id: "${S3_KEY}", secret_access_key: "${S3_SECRET}"}
  shards: 2
`

// Streams and delivery streams created through the AWS APIs work like
// declared ones, survive a restart, and go away when deleted.
func TestControlPlane(t *testing.T) {
	m := minio.Start(t)
	m.CreateBucket(t, "lake")
	dir, listen := t.TempDir(), freeAddr(t)
	env := []string{"S3_ENDPOINT=" + m.Endpoint, "S3_KEY=" + m.AccessKey, "S3_SECRET=" + m.SecretKey}
	h := startHydrant(t, dir, listen, controlConfig, env...)
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider("any", "any", "")
	// Kinesis over h2c (HTTP/2 in the clear), as the AWS Java SDK's async client and the KCL speak it.
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	h2cClient := &http.Client{Transport: &http.Transport{Protocols: &h2c}}
	kin := kinesis.New(kinesis.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1", Credentials: creds, HTTPClient: h2cClient})
	fh := firehose.New(firehose.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1", Credentials: creds})

	// Kinesis: create, put, change retention.
	if _, err := kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("orders"), ShardCount: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	_, err := kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("orders"), ShardCount: aws.Int32(3)})
	var inUse *types.ResourceInUseException
	if !errors.As(err, &inUse) {
		t.Fatalf("creating an existing stream: %v, want ResourceInUseException", err)
	}
	if _, err := kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("orders"), Data: []byte("o1"), PartitionKey: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := kin.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("orders"), RetentionPeriodHours: aws.Int32(48)}); err != nil {
		t.Fatal(err)
	}
	_, err = kin.DecreaseStreamRetentionPeriod(ctx, &kinesis.DecreaseStreamRetentionPeriodInput{StreamName: aws.String("orders"), RetentionPeriodHours: aws.Int32(72)})
	var invalid *types.InvalidArgumentException
	if !errors.As(err, &invalid) {
		t.Fatalf("decreasing retention upwards: %v, want InvalidArgumentException", err)
	}
	_, err = kin.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("declared")})
	if !errors.As(err, &inUse) {
		t.Fatalf("deleting a stream the config declares: %v, want ResourceInUseException", err)
	}
	// The native API takes the new stream too.
	resp, err := http.Post(h.url+"/v1/streams/orders/records", "application/x-ndjson", strings.NewReader("{\"o\":2}\n"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("native put to a created stream: %v %v", err, resp)
	}
	resp.Body.Close()

	// Firehose: a DirectPut delivery stream to the MinIO bucket.
	out, err := fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("clicks"),
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::lake"), RoleARN: aws.String("arn:aws:iam::000000000000:role/any"),
			Prefix:            aws.String("clicks/"),
			BufferingHints:    &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(1)},
			CompressionFormat: fhtypes.CompressionFormatUncompressed,
		},
	})
	if err != nil || !strings.HasSuffix(aws.ToString(out.DeliveryStreamARN), ":deliverystream/clicks") {
		t.Fatalf("CreateDeliveryStream: %v %v", out, err)
	}
	if _, err := fh.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("clicks"),
		Records: []fhtypes.Record{{Data: []byte("{\"c\":1}\n")}, {Data: []byte("{\"c\":2}\n")}}}); err != nil {
		t.Fatal(err)
	}
	await.Cond(t, 30*time.Second, "2 records in MinIO", func() bool { return countObjectLines(t, m, "clicks/") == 2 })

	// Everything created is there after a restart.
	h.stop()
	h = startHydrant(t, dir, listen, controlConfig, env...)
	sum, err := kin.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("orders")})
	if err != nil || aws.ToInt32(sum.StreamDescriptionSummary.OpenShardCount) != 3 || aws.ToInt32(sum.StreamDescriptionSummary.RetentionPeriodHours) != 48 {
		t.Fatalf("after a restart: %+v, %v", sum, err)
	}
	page := countStreamRecords(t, kin, "orders")
	if page != 2 {
		t.Fatalf("after a restart the created stream holds %d records, want 2", page)
	}
	if _, err := fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("clicks"), Record: &fhtypes.Record{Data: []byte("{\"c\":3}\n")}}); err != nil {
		t.Fatal(err)
	}
	await.Cond(t, 30*time.Second, "the third record in MinIO", func() bool { return countObjectLines(t, m, "clicks/") == 3 })

	// Deleted things are gone, and stay gone.
	if _, err := kin.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("orders")}); err != nil {
		t.Fatal(err)
	}
	if _, err := fh.DeleteDeliveryStream(ctx, &firehose.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String("clicks")}); err != nil {
		t.Fatal(err)
	}
	h.stop()
	h = startHydrant(t, dir, listen, controlConfig, env...)
	list, err := kin.ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil || len(list.StreamNames) != 1 || list.StreamNames[0] != "declared" {
		t.Fatalf("streams after delete and restart: %v, %v", list.StreamNames, err)
	}
	dl, err := fh.ListDeliveryStreams(ctx, &firehose.ListDeliveryStreamsInput{})
	if err != nil || len(dl.DeliveryStreamNames) != 0 {
		t.Fatalf("delivery streams after delete and restart: %v, %v", dl.DeliveryStreamNames, err)
	}
	h.stop()
}

// countStreamRecords counts the records of every shard of stream.
func countStreamRecords(t *testing.T, kin *kinesis.Client, stream string) int {
	t.Helper()
	ctx := context.Background()
	shardsOut, err := kin.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, sh := range shardsOut.Shards {
		it, err := kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: sh.ShardId,
			ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		n += len(recs.Records)
	}
	return n
}

// countObjectLines counts the lines of every object under prefix.
func countObjectLines(t *testing.T, m *minio.Server, prefix string) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	for obj := range m.Client.ListObjects(ctx, "lake", miniogo.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		o, err := m.Client.GetObject(ctx, "lake", obj.Key, miniogo.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(o)
		o.Close()
		if err != nil {
			t.Fatal(err)
		}
		n += bytes.Count(b, []byte("\n"))
	}
	return n
}
