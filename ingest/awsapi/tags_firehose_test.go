package awsapi_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/smithy-go"
)

func fhTagString(tags []fhtypes.Tag) string {
	var parts []string
	for _, t := range tags {
		parts = append(parts, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	return strings.Join(parts, ",")
}

// createS3Delivery creates a DirectPut delivery stream to bucket lake.
func createS3Delivery(t *testing.T, e *controlEnv, name string, tags []fhtypes.Tag) {
	t.Helper()
	_, err := e.fh.CreateDeliveryStream(context.Background(), &firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String(name),
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::lake"), RoleARN: aws.String("arn:aws:iam::000000000000:role/firehose"),
			Prefix: aws.String("raw/"), BufferingHints: &fhtypes.BufferingHints{SizeInMBs: aws.Int32(5), IntervalInSeconds: aws.Int32(300)},
		}, Tags: tags})
	if err != nil {
		t.Fatalf("CreateDeliveryStream %s: %v", name, err)
	}
}

func TestDeliveryStreamTags(t *testing.T) {
	e := newControlEnv(t, controlOptions{})
	ctx := context.Background()
	createS3Delivery(t, e, "clicks", []fhtypes.Tag{{Key: aws.String("team"), Value: aws.String("web")}, {Key: aws.String("env"), Value: aws.String("prod")}})
	list := func(name string, in firehose.ListTagsForDeliveryStreamInput) (string, bool) {
		t.Helper()
		in.DeliveryStreamName = aws.String(name)
		out, err := e.fh.ListTagsForDeliveryStream(ctx, &in)
		if err != nil {
			t.Fatalf("ListTagsForDeliveryStream %s: %v", name, err)
		}
		return fhTagString(out.Tags), aws.ToBool(out.HasMoreTags)
	}
	if got, more := list("clicks", firehose.ListTagsForDeliveryStreamInput{}); got != "env=prod,team=web" || more {
		t.Fatalf("CreateDeliveryStream's tags: %q (more %v)", got, more)
	}
	if _, err := e.fh.TagDeliveryStream(ctx, &firehose.TagDeliveryStreamInput{DeliveryStreamName: aws.String("clicks"),
		Tags: []fhtypes.Tag{{Key: aws.String("env"), Value: aws.String("staging")}, {Key: aws.String("no-value")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fh.UntagDeliveryStream(ctx, &firehose.UntagDeliveryStreamInput{DeliveryStreamName: aws.String("clicks"), TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	if got, more := list("clicks", firehose.ListTagsForDeliveryStreamInput{Limit: aws.Int32(1)}); got != "env=staging" || !more {
		t.Fatalf("page 1: %q (more %v)", got, more)
	}
	if got, more := list("clicks", firehose.ListTagsForDeliveryStreamInput{ExclusiveStartTagKey: aws.String("env")}); got != "no-value=" || more {
		t.Fatalf("page 2: %q (more %v)", got, more)
	}
	// A delivery stream the config declares takes tags: they are metadata.
	if _, err := e.fh.TagDeliveryStream(ctx, &firehose.TagDeliveryStreamInput{DeliveryStreamName: aws.String("declared-firehose"),
		Tags: []fhtypes.Tag{{Key: aws.String("owner"), Value: aws.String("ops")}}}); err != nil {
		t.Fatal(err)
	}

	e.restart()
	if got, _ := list("clicks", firehose.ListTagsForDeliveryStreamInput{}); got != "env=staging,no-value=" {
		t.Fatalf("after a restart: %q", got)
	}
	if got, _ := list("declared-firehose", firehose.ListTagsForDeliveryStreamInput{}); got != "owner=ops" {
		t.Fatalf("declared-firehose after a restart: %q", got)
	}

	// Deleted with the delivery stream.
	if _, err := e.fh.DeleteDeliveryStream(ctx, &firehose.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String("clicks")}); err != nil {
		t.Fatal(err)
	}
	createS3Delivery(t, e, "clicks", nil)
	if got, _ := list("clicks", firehose.ListTagsForDeliveryStreamInput{}); got != "" {
		t.Fatalf("a delivery stream created again has the deleted one's tags: %q", got)
	}
}

func TestDeliveryStreamTagErrors(t *testing.T) {
	e := newControlEnv(t, controlOptions{})
	ctx := context.Background()
	var fifty []fhtypes.Tag
	for i := range 50 {
		fifty = append(fifty, fhtypes.Tag{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")})
	}
	if _, err := e.fh.TagDeliveryStream(ctx, &firehose.TagDeliveryStreamInput{DeliveryStreamName: aws.String("declared-firehose"), Tags: fifty}); err != nil {
		t.Fatal(err)
	}
	tag := func(name string, tags ...fhtypes.Tag) func() error {
		return func() error {
			_, err := e.fh.TagDeliveryStream(ctx, &firehose.TagDeliveryStreamInput{DeliveryStreamName: aws.String(name), Tags: tags})
			return err
		}
	}
	tests := map[string]struct {
		call func() error
		want string
	}{
		"51st tag":       {tag("declared-firehose", fhtypes.Tag{Key: aws.String("more")}), "LimitExceededException"},
		"unknown stream": {tag("nope", fhtypes.Tag{Key: aws.String("k")}), "ResourceNotFoundException"},
		"aws: prefix":    {tag("declared-firehose", fhtypes.Tag{Key: aws.String("aws:x")}), "InvalidArgumentException"},
		"bad character":  {tag("declared-firehose", fhtypes.Tag{Key: aws.String("k"), Value: aws.String("a*b")}), "InvalidArgumentException"},
		"create with a reserved key": {func() error {
			_, err := e.fh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("x"),
				ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{BucketARN: aws.String("arn:aws:s3:::lake"), RoleARN: aws.String("arn:aws:iam::000000000000:role/r")},
				Tags:                               []fhtypes.Tag{{Key: aws.String("aws:cloudformation:stack-name"), Value: aws.String("s")}}})
			return err
		}, "InvalidArgumentException"},
		"list limit 51": {func() error {
			_, err := e.fh.ListTagsForDeliveryStream(ctx, &firehose.ListTagsForDeliveryStreamInput{DeliveryStreamName: aws.String("declared-firehose"), Limit: aws.Int32(51)})
			return err
		}, "ValidationException"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var apiErr smithy.APIError
			if err := tt.call(); !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.want {
				t.Fatalf("got %v, want %s", err, tt.want)
			}
		})
	}
	// A refused CreateDeliveryStream created nothing.
	if _, err := e.fh.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("x")}); err == nil {
		t.Fatal("a CreateDeliveryStream refused for its tags created the delivery stream")
	}
}
