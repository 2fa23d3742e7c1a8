package awsapi_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/hydrant-dev/hydrant/internal/testnats"
)

// tagString is a stream's tags as "k=v,k=v", in key order.
func tagString(tags []types.Tag) string {
	var parts []string
	for _, t := range tags {
		parts = append(parts, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	return strings.Join(parts, ",")
}

func TestStreamTags(t *testing.T) {
	e := newControlEnv(t, controlOptions{})
	ctx := context.Background()
	if _, err := e.kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("orders"), ShardCount: aws.Int32(1),
		Tags: map[string]string{"team": "data", "env": "prod"}}); err != nil {
		t.Fatal(err)
	}
	list := func(stream string, in kinesis.ListTagsForStreamInput) (string, bool) {
		t.Helper()
		in.StreamName = aws.String(stream)
		out, err := e.kin.ListTagsForStream(ctx, &in)
		if err != nil {
			t.Fatalf("ListTagsForStream %s: %v", stream, err)
		}
		return tagString(out.Tags), aws.ToBool(out.HasMoreTags)
	}
	if got, more := list("orders", kinesis.ListTagsForStreamInput{}); got != "env=prod,team=data" || more {
		t.Fatalf("CreateStream's tags: %q (more %v)", got, more)
	}
	if _, err := e.kin.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("orders"),
		Tags: map[string]string{"env": "staging", "cost-center": "42", "empty": ""}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kin.RemoveTagsFromStream(ctx, &kinesis.RemoveTagsFromStreamInput{StreamName: aws.String("orders"),
		TagKeys: []string{"team", "never-set"}}); err != nil {
		t.Fatal(err)
	}
	// Pages: Limit, ExclusiveStartTagKey, HasMoreTags.
	if got, more := list("orders", kinesis.ListTagsForStreamInput{Limit: aws.Int32(2)}); got != "cost-center=42,empty=" || !more {
		t.Fatalf("page 1: %q (more %v)", got, more)
	}
	if got, more := list("orders", kinesis.ListTagsForStreamInput{Limit: aws.Int32(2), ExclusiveStartTagKey: aws.String("empty")}); got != "env=staging" || more {
		t.Fatalf("page 2: %q (more %v)", got, more)
	}

	// The ARN-based operations see the same tags, and tag a declared stream too.
	arn := "arn:aws:kinesis:us-east-1:000000000000:stream/declared"
	if _, err := e.kin.TagResource(ctx, &kinesis.TagResourceInput{ResourceARN: aws.String(arn), Tags: map[string]string{"owner": "ops", "tier": "gold"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kin.UntagResource(ctx, &kinesis.UntagResourceInput{ResourceARN: aws.String(arn), TagKeys: []string{"tier"}}); err != nil {
		t.Fatal(err)
	}
	res, err := e.kin.ListTagsForResource(ctx, &kinesis.ListTagsForResourceInput{ResourceARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/orders")})
	if err != nil || tagString(res.Tags) != "cost-center=42,empty=,env=staging" {
		t.Fatalf("ListTagsForResource orders: %v, %v", tagString(res.Tags), err)
	}

	// A stream consumer's ARN takes tags of its own.
	reg, err := e.kin.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	consumerARN := reg.Consumer.ConsumerARN
	if _, err := e.kin.TagResource(ctx, &kinesis.TagResourceInput{ResourceARN: consumerARN, Tags: map[string]string{"app": "billing", "x": "y"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kin.UntagResource(ctx, &kinesis.UntagResourceInput{ResourceARN: consumerARN, TagKeys: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	consumerTags := func() string {
		t.Helper()
		res, err := e.kin.ListTagsForResource(ctx, &kinesis.ListTagsForResourceInput{ResourceARN: consumerARN})
		if err != nil {
			t.Fatal(err)
		}
		return tagString(res.Tags)
	}
	if got := consumerTags(); got != "app=billing" {
		t.Fatalf("the consumer's tags: %q", got)
	}

	// Tags survive a restart.
	e.restart()
	if got := consumerTags(); got != "app=billing" {
		t.Fatalf("the consumer's tags after a restart: %q", got)
	}
	if got, _ := list("orders", kinesis.ListTagsForStreamInput{}); got != "cost-center=42,empty=,env=staging" {
		t.Fatalf("orders' tags after a restart: %q", got)
	}
	if got, _ := list("declared", kinesis.ListTagsForStreamInput{}); got != "owner=ops" {
		t.Fatalf("declared's tags after a restart: %q", got)
	}

	// A deleted stream's tags go with it: one created again has none.
	if _, err := e.kin.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("orders")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("orders"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := list("orders", kinesis.ListTagsForStreamInput{}); got != "" {
		t.Fatalf("a stream created again has the deleted one's tags: %q", got)
	}
}

func TestStreamTagErrors(t *testing.T) {
	e := newControlEnv(t, controlOptions{})
	ctx := context.Background()
	fifty := map[string]string{}
	for i := range 50 {
		fifty[fmt.Sprintf("k%02d", i)] = "v"
	}
	if _, err := e.kin.TagResource(ctx, &kinesis.TagResourceInput{ResourceARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/declared"),
		Tags: fifty}); err != nil {
		t.Fatalf("50 tags: %v", err)
	}
	eleven := map[string]string{}
	for i := range 11 {
		eleven[fmt.Sprintf("k%02d", i)] = "v"
	}
	tests := map[string]struct {
		call func() error
		want string
	}{
		"51st tag": {func() error {
			_, err := e.kin.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("declared"), Tags: map[string]string{"one-more": "v"}})
			return err
		}, "LimitExceededException"},
		"11 tags in one AddTagsToStream": {func() error {
			_, err := e.kin.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("orders-none"), Tags: eleven})
			return err
		}, "ResourceNotFoundException"},
		"11 tags on a stream": {func() error {
			_, err := e.kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(1)})
			if err != nil {
				return err
			}
			_, err = e.kin.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("s"), Tags: eleven})
			return err
		}, "InvalidArgumentException"},
		"aws: prefix": {func() error {
			_, err := e.kin.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("declared"), Tags: map[string]string{"aws:owner": "me"}})
			return err
		}, "InvalidArgumentException"},
		"key too long": {func() error {
			_, err := e.kin.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("declared"), Tags: map[string]string{strings.Repeat("k", 129): "v"}})
			return err
		}, "ValidationException"},
		"value too long": {func() error {
			_, err := e.kin.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("declared"), Tags: map[string]string{"k": strings.Repeat("v", 257)}})
			return err
		}, "ValidationException"},
		"bad character": {func() error {
			_, err := e.kin.TagResource(ctx, &kinesis.TagResourceInput{ResourceARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/declared"),
				Tags: map[string]string{"k": "a;b"}})
			return err
		}, "InvalidArgumentException"},
		"create with 51 tags": {func() error {
			tags := map[string]string{"extra": "v"}
			for k, v := range fifty {
				tags[k] = v
			}
			_, err := e.kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("many"), ShardCount: aws.Int32(1), Tags: tags})
			return err
		}, "LimitExceededException"},
		"no keys to remove": {func() error {
			_, err := e.kin.RemoveTagsFromStream(ctx, &kinesis.RemoveTagsFromStreamInput{StreamName: aws.String("declared"), TagKeys: []string{}})
			return err
		}, "ValidationException"},
		"list limit 51": {func() error {
			_, err := e.kin.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: aws.String("declared"), Limit: aws.Int32(51)})
			return err
		}, "ValidationException"},
		"not a kinesis ARN": {func() error {
			_, err := e.kin.ListTagsForResource(ctx, &kinesis.ListTagsForResourceInput{ResourceARN: aws.String("arn:aws:sqs:us-east-1:000000000000:queue")})
			return err
		}, "InvalidArgumentException"},
		"unknown stream ARN": {func() error {
			_, err := e.kin.ListTagsForResource(ctx, &kinesis.ListTagsForResourceInput{ResourceARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/nope")})
			return err
		}, "ResourceNotFoundException"},
		"unknown consumer ARN": {func() error {
			_, err := e.kin.TagResource(ctx, &kinesis.TagResourceInput{
				ResourceARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/declared/consumer/app:1700000000"), Tags: map[string]string{"k": "v"}})
			return err
		}, "ResourceNotFoundException"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := tt.call()
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.want {
				t.Fatalf("got %v, want %s", err, tt.want)
			}
		})
	}
	// Nothing refused was stored: declared still has its 50 tags.
	out, err := e.kin.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: aws.String("declared")})
	if err != nil || len(out.Tags) != 50 || aws.ToBool(out.HasMoreTags) {
		t.Fatalf("declared's tags after the refusals: %d (more %v), %v", len(out.Tags), aws.ToBool(out.HasMoreTags), err)
	}
}

// Tags added at once by many clients are all kept: each change is a
// compare-and-set on the stream's settings.
func TestConcurrentTagging(t *testing.T) {
	e := newControlEnv(t, controlOptions{})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for w := range 8 {
		wg.Go(func() {
			for i := range 5 {
				_, err := e.kin.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("declared"),
					Tags: map[string]string{fmt.Sprintf("w%d-%d", w, i): "v"}})
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	out, err := e.kin.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: aws.String("declared")})
	if err != nil || len(out.Tags) != 40 {
		t.Fatalf("%d tags after 40 concurrent AddTagsToStream calls, want 40 (%v)", len(out.Tags), err)
	}
}

// On a cluster (two nodes on one NATS) the settings are the cluster's:
// what one node sets, the other lists, and tags both nodes add at once are
// all kept. Encryption at rest is the NATS servers' there: NONE.
func TestTagsOnACluster(t *testing.T) {
	nc := testnats.StartOne(t)
	a := newControlEnv(t, controlOptions{nats: nc.URL(), node: "a"})
	b := newControlEnv(t, controlOptions{nats: nc.URL(), node: "b"})
	ctx := context.Background()
	if _, err := a.kin.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("declared"), Tags: map[string]string{"set-on": "a"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.kin.EnableEnhancedMonitoring(ctx, &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String("declared"),
		ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingBytes}}); err != nil {
		t.Fatal(err)
	}
	out, err := b.kin.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: aws.String("declared")})
	if err != nil || tagString(out.Tags) != "set-on=a" {
		t.Fatalf("node b lists %q (%v)", tagString(out.Tags), err)
	}
	sum, err := b.kin.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("declared")})
	if err != nil || len(sum.StreamDescriptionSummary.EnhancedMonitoring[0].ShardLevelMetrics) != 1 ||
		sum.StreamDescriptionSummary.EncryptionType != types.EncryptionTypeNone {
		t.Fatalf("node b describes %+v (%v)", sum.StreamDescriptionSummary, err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		kin := []*kinesis.Client{a.kin, b.kin}[i%2]
		wg.Go(func() {
			_, err := kin.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("declared"),
				Tags: map[string]string{fmt.Sprintf("racer-%02d", i): "v"}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	out, err = a.kin.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: aws.String("declared")})
	if err != nil || len(out.Tags) != 21 {
		t.Fatalf("%d tags after 20 racing AddTagsToStream calls on two nodes, want 21 (%v)", len(out.Tags), err)
	}
}
