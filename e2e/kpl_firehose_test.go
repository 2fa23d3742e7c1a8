package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	miniogo "github.com/minio/minio-go/v7"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hydrant-dev/hydrant/e2e/minio"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/transform"
)

// kplAggregateOf builds a KPL aggregate of records under one partition key
// (the KPL's format: magic, protobuf AggregatedRecord, MD5).
func kplAggregateOf(pk string, records ...string) []byte {
	var msg []byte
	msg = protowire.AppendTag(msg, 1, protowire.BytesType)
	msg = protowire.AppendString(msg, pk)
	for _, r := range records {
		var rec []byte
		rec = protowire.AppendTag(rec, 1, protowire.VarintType)
		rec = protowire.AppendVarint(rec, 0)
		rec = protowire.AppendTag(rec, 3, protowire.BytesType)
		rec = protowire.AppendString(rec, r)
		msg = protowire.AppendTag(msg, 3, protowire.BytesType)
		msg = protowire.AppendBytes(msg, rec)
	}
	sum := md5.Sum(msg)
	return append(append(slices.Clone(transform.KPLMagic), msg...), sum[:]...)
}

// A delivery stream created with Firehose's RecordDeAggregation processor
// (SubRecordType JSON) and AppendDelimiterToRecord splits each record into
// its JSON objects, KPL aggregates into their user records first, and
// delivers each object on a line of its own; DescribeDeliveryStream shows
// the ProcessingConfiguration back, after a restart too. A processor Hydrant
// cannot run is refused.
func TestFirehoseRecordDeAggregation(t *testing.T) {
	m := minio.Start(t)
	m.CreateBucket(t, "lake")
	dir, listen := t.TempDir(), freeAddr(t)
	env := []string{"S3_ENDPOINT=" + m.Endpoint, "S3_KEY=" + m.AccessKey, "S3_SECRET=" + m.SecretKey}
	h := startHydrant(t, dir, listen, controlConfig, env...)
	ctx := context.Background()
	fh := firehose.New(firehose.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("any", "any", "")})
	processing := &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []fhtypes.Processor{
		{Type: fhtypes.ProcessorTypeRecordDeAggregation, Parameters: []fhtypes.ProcessorParameter{
			{ParameterName: fhtypes.ProcessorParameterNameSubRecordType, ParameterValue: aws.String("JSON")}}},
		{Type: fhtypes.ProcessorTypeAppendDelimiterToRecord},
	}}
	create := func(name string, p *fhtypes.ProcessingConfiguration) error {
		_, err := fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
			DeliveryStreamName: aws.String(name),
			ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
				BucketARN: aws.String("arn:aws:s3:::lake"), RoleARN: aws.String("arn:aws:iam::000000000000:role/any"),
				Prefix: aws.String(name + "/"), ProcessingConfiguration: p,
				BufferingHints: &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(1)},
			},
		})
		return err
	}
	if err := create("split", processing); err != nil {
		t.Fatal(err)
	}
	var invalid *fhtypes.InvalidArgumentException
	lambda := &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []fhtypes.Processor{{Type: fhtypes.ProcessorTypeLambda}}}
	if err := create("lambda", lambda); !errors.As(err, &invalid) {
		t.Errorf("a Lambda processor: %v, want InvalidArgumentException", err)
	}
	if _, err := fh.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("split"), Records: []fhtypes.Record{
		{Data: []byte(`{"n":1}{"n":2}`)},
		{Data: []byte("{\"n\":3}\n{\"n\":4}\n")},
		{Data: kplAggregateOf("k", `{"n":5}`, `{"n":6}{"n":7}`)},
	}}); err != nil {
		t.Fatal(err)
	}
	want := []string{`{"n":1}`, `{"n":2}`, `{"n":3}`, `{"n":4}`, `{"n":5}`, `{"n":6}`, `{"n":7}`}
	await.Cond(t, 30*time.Second, "7 records in MinIO", func() bool { return countObjectLines(t, m, "split/") >= len(want) })
	got := objectLines(t, m, "split/")
	slices.Sort(got) // the delivery stream's shards each write their own objects
	if !slices.Equal(got, want) {
		t.Errorf("delivered %q, want %q", got, want)
	}
	for range 2 { // before and after a restart
		out, err := fh.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("split")})
		if err != nil {
			t.Fatal(err)
		}
		got := out.DeliveryStreamDescription.Destinations[0].ExtendedS3DestinationDescription.ProcessingConfiguration
		if got == nil || !aws.ToBool(got.Enabled) || len(got.Processors) != 2 || got.Processors[0].Type != fhtypes.ProcessorTypeRecordDeAggregation ||
			len(got.Processors[0].Parameters) != 1 || aws.ToString(got.Processors[0].Parameters[0].ParameterValue) != "JSON" {
			t.Errorf("ProcessingConfiguration described as %+v", got)
		}
		h.stop()
		h = startHydrant(t, dir, listen, controlConfig, env...)
	}
}

// objectLines returns the lines of the objects under prefix in bucket
// lake, in key order.
func objectLines(t *testing.T, m *minio.Server, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	var lines []string
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
		lines = append(lines, strings.Split(string(bytes.TrimSuffix(b, []byte("\n"))), "\n")...)
	}
	return lines
}
