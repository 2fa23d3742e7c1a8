package awsapi_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/smithy-go"

	"github.com/hydrant-dev/hydrant/ingest/awsapi"
)

// describe returns a delivery stream's VersionId, DestinationId and S3
// destination.
func describe(t *testing.T, e *controlEnv, name string) (string, string, *fhtypes.ExtendedS3DestinationDescription) {
	t.Helper()
	out, err := e.fh.DescribeDeliveryStream(context.Background(), &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	d := out.DeliveryStreamDescription
	return aws.ToString(d.VersionId), aws.ToString(d.Destinations[0].DestinationId), d.Destinations[0].ExtendedS3DestinationDescription
}

func TestUpdateDestination(t *testing.T) {
	e := newControlEnv(t, controlOptions{})
	ctx := context.Background()
	createS3Delivery(t, e, "clicks", nil)
	version, dest, _ := describe(t, e, "clicks")
	if version != "1" || dest != "destinationId-000000000001" {
		t.Fatalf("a new delivery stream: VersionId %s, DestinationId %s", version, dest)
	}
	update := func(version string, u *fhtypes.ExtendedS3DestinationUpdate) error {
		_, err := e.fh.UpdateDestination(ctx, &firehose.UpdateDestinationInput{DeliveryStreamName: aws.String("clicks"),
			CurrentDeliveryStreamVersionId: aws.String(version), DestinationId: aws.String(dest), ExtendedS3DestinationUpdate: u})
		return err
	}
	if err := update("1", &fhtypes.ExtendedS3DestinationUpdate{
		BufferingHints: &fhtypes.BufferingHints{SizeInMBs: aws.Int32(64), IntervalInSeconds: aws.Int32(60)},
		Prefix:         aws.String("v2/"), ErrorOutputPrefix: aws.String("v2-errors/"), CompressionFormat: fhtypes.CompressionFormatGzip,
	}); err != nil {
		t.Fatal(err)
	}
	want := awsapi.DeliverySpec{Name: "clicks", Bucket: "lake", Prefix: "v2/", ErrorOutputPrefix: "v2-errors/", Compression: "gzip",
		SizeInMBs: 64, IntervalInSeconds: 60}
	check := func(when, wantVersion string, want awsapi.DeliverySpec) {
		t.Helper()
		spec, running := e.started.last("clicks")
		spec.RetryDuration = 0
		gotProcessing, wantProcessing := spec.Processing, want.Processing
		spec.Processing, want.Processing = nil, nil
		if spec != want || running != 1 || !reflect.DeepEqual(gotProcessing, wantProcessing) {
			t.Fatalf("%s: running %d deliveries of %+v, want one of %+v", when, running, spec, want)
		}
		version, _, s3 := describe(t, e, "clicks")
		if version != wantVersion || aws.ToString(s3.Prefix) != want.Prefix || aws.ToString(s3.ErrorOutputPrefix) != want.ErrorOutputPrefix ||
			aws.ToInt32(s3.BufferingHints.SizeInMBs) != int32(want.SizeInMBs) || aws.ToInt32(s3.BufferingHints.IntervalInSeconds) != int32(want.IntervalInSeconds) {
			t.Fatalf("%s: DescribeDeliveryStream says version %s, %+v", when, version, s3)
		}
	}
	check("after the update", "2", want)

	// A stale version is refused and changes nothing.
	err := update("1", &fhtypes.ExtendedS3DestinationUpdate{Prefix: aws.String("lost/")})
	var concurrent *fhtypes.ConcurrentModificationException
	if !errors.As(err, &concurrent) {
		t.Fatalf("a stale VersionId: %v", err)
	}
	// Fields left out stay as they are.
	if err := update("2", &fhtypes.ExtendedS3DestinationUpdate{BufferingHints: &fhtypes.BufferingHints{IntervalInSeconds: aws.Int32(0)}}); err != nil {
		t.Fatal(err)
	}
	want.IntervalInSeconds = 0
	check("after a second update", "3", want)

	// ProcessingConfiguration replaces the processors.
	processing := &fhtypes.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []fhtypes.Processor{{Type: fhtypes.ProcessorTypeAppendDelimiterToRecord}}}
	if err := update("3", &fhtypes.ExtendedS3DestinationUpdate{ProcessingConfiguration: processing}); err != nil {
		t.Fatal(err)
	}
	if spec, _ := e.started.last("clicks"); spec.Processing == nil || len(spec.Processing.Processors) != 1 || spec.Processing.Processors[0].Type != "AppendDelimiterToRecord" {
		t.Fatalf("after updating the processors: %+v", spec.Processing)
	}
	want.Processing = &awsapi.Processing{Enabled: true, Processors: []awsapi.Processor{{Type: "AppendDelimiterToRecord"}}}
	check("after updating the processors", "4", want)
	if _, _, s3 := describe(t, e, "clicks"); s3.ProcessingConfiguration == nil || len(s3.ProcessingConfiguration.Processors) != 1 {
		t.Fatalf("DescribeDeliveryStream's processors after the update: %+v", s3.ProcessingConfiguration)
	}

	// Stored: a restart runs the updated spec, at its version.
	e.restart()
	check("after a restart", "4", want)

	tests := map[string]struct {
		name, version, dest string
		update              *fhtypes.ExtendedS3DestinationUpdate
		want                string
	}{
		"declared in the config":  {"declared-firehose", "1", dest, &fhtypes.ExtendedS3DestinationUpdate{Prefix: aws.String("x/")}, "ResourceInUseException"},
		"unknown delivery stream": {"nope", "1", dest, &fhtypes.ExtendedS3DestinationUpdate{Prefix: aws.String("x/")}, "ResourceNotFoundException"},
		"unknown destination":     {"clicks", "4", "destinationId-000000000002", &fhtypes.ExtendedS3DestinationUpdate{Prefix: aws.String("x/")}, "InvalidArgumentException"},
		"buffer too large":        {"clicks", "4", dest, &fhtypes.ExtendedS3DestinationUpdate{BufferingHints: &fhtypes.BufferingHints{SizeInMBs: aws.Int32(129)}}, "InvalidArgumentException"},
		"compression":             {"clicks", "4", dest, &fhtypes.ExtendedS3DestinationUpdate{CompressionFormat: fhtypes.CompressionFormatSnappy}, "InvalidArgumentException"},
		"bad bucket":              {"clicks", "4", dest, &fhtypes.ExtendedS3DestinationUpdate{BucketARN: aws.String("arn:aws:s3:::a/b")}, "InvalidArgumentException"},
		"no update":               {"clicks", "4", dest, nil, "InvalidArgumentException"},
		"version not a number":    {"clicks", "three", dest, &fhtypes.ExtendedS3DestinationUpdate{Prefix: aws.String("x/")}, "ValidationException"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := e.fh.UpdateDestination(ctx, &firehose.UpdateDestinationInput{DeliveryStreamName: aws.String(tt.name),
				CurrentDeliveryStreamVersionId: aws.String(tt.version), DestinationId: aws.String(tt.dest), ExtendedS3DestinationUpdate: tt.update})
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.want {
				t.Fatalf("got %v, want %s", err, tt.want)
			}
		})
	}
	check("after the refusals", "4", want)
}
