package awsapi_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

func TestDescribeLimits(t *testing.T) {
	e := newControlEnv(t, controlOptions{maxStreams: 10, maxShards: 20})
	ctx := context.Background()
	if _, err := e.kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("od"),
		StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("p"), ShardCount: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	out, err := e.kin.DescribeLimits(ctx, &kinesis.DescribeLimitsInput{})
	if err != nil {
		t.Fatal(err)
	}
	// declared 2 + declared-firehose 1 + od 4 + p 3.
	if aws.ToInt32(out.ShardLimit) != 20 || aws.ToInt32(out.OpenShardCount) != 10 ||
		aws.ToInt32(out.OnDemandStreamCount) != 1 || aws.ToInt32(out.OnDemandStreamCountLimit) != 10 {
		t.Fatalf("DescribeLimits = shards %d of %d, on-demand streams %d of %d", aws.ToInt32(out.OpenShardCount), aws.ToInt32(out.ShardLimit),
			aws.ToInt32(out.OnDemandStreamCount), aws.ToInt32(out.OnDemandStreamCountLimit))
	}
	// The limit it tells is the one CreateStream keeps.
	_, err = e.kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("big"), ShardCount: aws.Int32(11)})
	var limit *types.LimitExceededException
	if !errors.As(err, &limit) {
		t.Fatalf("CreateStream past ShardLimit: %v", err)
	}

	settings, err := e.kin.DescribeAccountSettings(ctx, &kinesis.DescribeAccountSettingsInput{})
	if err != nil || settings.MinimumThroughputBillingCommitment == nil || settings.MinimumThroughputBillingCommitment.Status != types.MinimumThroughputBillingCommitmentOutputStatusDisabled {
		t.Fatalf("DescribeAccountSettings: %+v, %v", settings, err)
	}
}

func TestEnhancedMonitoring(t *testing.T) {
	e := newControlEnv(t, controlOptions{})
	ctx := context.Background()
	metrics := func(m []types.MetricsName) string {
		s := make([]string, len(m))
		for i, v := range m {
			s[i] = string(v)
		}
		return strings.Join(s, ",")
	}
	described := func() (string, string) {
		t.Helper()
		d, err := e.kin.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("declared")})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := e.kin.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("declared")})
		if err != nil {
			t.Fatal(err)
		}
		return metrics(d.StreamDescription.EnhancedMonitoring[0].ShardLevelMetrics), metrics(sum.StreamDescriptionSummary.EnhancedMonitoring[0].ShardLevelMetrics)
	}
	steps := []struct {
		enable           bool
		metrics          []types.MetricsName
		current, desired string
	}{
		{true, []types.MetricsName{types.MetricsNameOutgoingBytes, types.MetricsNameIncomingBytes}, "", "IncomingBytes,OutgoingBytes"},
		{true, []types.MetricsName{types.MetricsNameIncomingBytes, types.MetricsNameIteratorAgeMilliseconds}, "IncomingBytes,OutgoingBytes",
			"IncomingBytes,OutgoingBytes,IteratorAgeMilliseconds"},
		{false, []types.MetricsName{types.MetricsNameOutgoingBytes, types.MetricsNameIncomingRecords}, "IncomingBytes,OutgoingBytes,IteratorAgeMilliseconds",
			"IncomingBytes,IteratorAgeMilliseconds"},
		{true, []types.MetricsName{types.MetricsNameAll}, "IncomingBytes,IteratorAgeMilliseconds",
			"IncomingBytes,IncomingRecords,OutgoingBytes,OutgoingRecords,WriteProvisionedThroughputExceeded,ReadProvisionedThroughputExceeded,IteratorAgeMilliseconds"},
		{false, []types.MetricsName{types.MetricsNameAll},
			"IncomingBytes,IncomingRecords,OutgoingBytes,OutgoingRecords,WriteProvisionedThroughputExceeded,ReadProvisionedThroughputExceeded,IteratorAgeMilliseconds", ""},
		{true, []types.MetricsName{types.MetricsNameWriteProvisionedThroughputExceeded}, "", "WriteProvisionedThroughputExceeded"},
	}
	for i, st := range steps {
		var current, desired []types.MetricsName
		if st.enable {
			out, err := e.kin.EnableEnhancedMonitoring(ctx, &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String("declared"), ShardLevelMetrics: st.metrics})
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			current, desired = out.CurrentShardLevelMetrics, out.DesiredShardLevelMetrics
			if aws.ToString(out.StreamName) != "declared" || aws.ToString(out.StreamARN) != "arn:aws:kinesis:us-east-1:000000000000:stream/declared" {
				t.Fatalf("step %d names %s %s", i, aws.ToString(out.StreamName), aws.ToString(out.StreamARN))
			}
		} else {
			out, err := e.kin.DisableEnhancedMonitoring(ctx, &kinesis.DisableEnhancedMonitoringInput{StreamName: aws.String("declared"), ShardLevelMetrics: st.metrics})
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			current, desired = out.CurrentShardLevelMetrics, out.DesiredShardLevelMetrics
		}
		if metrics(current) != st.current || metrics(desired) != st.desired {
			t.Fatalf("step %d: current %s desired %s, want %s and %s", i, metrics(current), metrics(desired), st.current, st.desired)
		}
		if d, sum := described(); d != st.desired || sum != st.desired {
			t.Fatalf("step %d: DescribeStream says %s, DescribeStreamSummary %s, want %s", i, d, sum, st.desired)
		}
	}
	e.restart()
	if d, _ := described(); d != "WriteProvisionedThroughputExceeded" {
		t.Fatalf("after a restart: %s", d)
	}

	for name, in := range map[string][]types.MetricsName{
		"unknown metric": {"Bytes"},
		"none":           {},
		"eight":          {"ALL", "ALL", "ALL", "ALL", "ALL", "ALL", "ALL", "ALL"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.kin.EnableEnhancedMonitoring(ctx, &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String("declared"), ShardLevelMetrics: in})
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationException" {
				t.Fatalf("%v: got %v, want ValidationException", in, err)
			}
		})
	}
	_, err := e.kin.EnableEnhancedMonitoring(ctx, &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String("nope"), ShardLevelMetrics: []types.MetricsName{"ALL"}})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatal(fmt.Sprint("unknown stream: ", err))
	}
}
