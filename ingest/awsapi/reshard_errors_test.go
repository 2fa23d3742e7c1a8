package awsapi_test

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/shards"
)

// Reshards Kinesis refuses get Kinesis' errors, and change nothing.
func TestReshardErrors(t *testing.T) {
	ctx := context.Background()
	split := func(shard, at string) func(e *reshardEnv) error {
		return func(e *reshardEnv) error {
			_, err := e.kin.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("orders"),
				ShardToSplit: aws.String(shard), NewStartingHashKey: aws.String(at)})
			return err
		}
	}
	merge := func(shard, adjacent string) func(e *reshardEnv) error {
		return func(e *reshardEnv) error {
			_, err := e.kin.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("orders"),
				ShardToMerge: aws.String(shard), AdjacentShardToMerge: aws.String(adjacent)})
			return err
		}
	}
	update := func(stream string, n int32, scaling types.ScalingType) func(e *reshardEnv) error {
		return func(e *reshardEnv) error {
			_, err := e.kin.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String(stream),
				TargetShardCount: aws.Int32(n), ScalingType: scaling})
			return err
		}
	}
	one := evenRange(4, 1)
	tests := []struct {
		name      string
		maxShards int
		setup     func(t *testing.T, e *reshardEnv)
		call      func(e *reshardEnv) error
		code, msg string
	}{
		{name: "split an unknown shard", call: split("shardId-000000000009", middleOf(1).String()),
			code: "ResourceNotFoundException", msg: "Could not find shard shardId-000000000009 in stream orders under account 000000000000."},
		{name: "split a shard ID of another form", call: split("shard-1", middleOf(1).String()),
			code: "ResourceNotFoundException", msg: "Could not find shard shard-1 in stream orders"},
		{name: "split a shard ID AWS's model refuses", call: split("?", middleOf(1).String()),
			code: "ValidationException", msg: "Value '?' at 'shardToSplit' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"},
		{name: "split at a hash key below the shard", call: split("shardId-000000000001", "12"),
			code: "InvalidArgumentException", msg: "NewStartingHashKey 12 used in SplitShard() on shard shardId-000000000001 in stream orders under account 000000000000 is not both greater than one plus the shard's StartingHashKey " + one[0] + " and less than the shard's EndingHashKey " + one[1] + "."},
		{name: "split at the shard's StartingHashKey plus one", call: split("shardId-000000000001", new(big.Int).Add(bigOf(one[0]), big.NewInt(1)).String()),
			code: "InvalidArgumentException", msg: "is not both greater than one plus the shard's StartingHashKey"},
		{name: "split at the shard's EndingHashKey", call: split("shardId-000000000001", one[1]),
			code: "InvalidArgumentException", msg: "less than the shard's EndingHashKey"},
		{name: "split at a hash key above 2^128-1", call: split("shardId-000000000003", "340282366920938463463374607431768211456"),
			code: "InvalidArgumentException", msg: "NewStartingHashKey 340282366920938463463374607431768211456 used in SplitShard()"},
		{name: "split at a hash key that is not a number", call: split("shardId-000000000001", "sth"),
			code: "ValidationException", msg: "Value 'sth' at 'newStartingHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})"},
		{name: "split a shard split before", setup: func(t *testing.T, e *reshardEnv) { e.split(t, "orders", 1, middleOf(1)) },
			call: split("shardId-000000000001", middleOf(1).String()),
			code: "InvalidArgumentException", msg: "Shard shardId-000000000001 in stream orders under account 000000000000 has already been merged or split, and thus is not eligible for merging or splitting."},
		{name: "merge shards that are not adjacent", call: merge("shardId-000000000000", "shardId-000000000002"),
			code: "InvalidArgumentException", msg: "Shards shardId-000000000000 and shardId-000000000002 in stream orders under account 000000000000 are not an adjacent pair of shards eligible for merging"},
		{name: "merge with the adjacent shard below", call: merge("shardId-000000000001", "shardId-000000000000"),
			code: "InvalidArgumentException", msg: "are not an adjacent pair of shards eligible for merging"},
		{name: "merge a shard with itself", call: merge("shardId-000000000001", "shardId-000000000001"),
			code: "InvalidArgumentException", msg: "are not an adjacent pair of shards eligible for merging"},
		{name: "merge a closed shard", setup: func(t *testing.T, e *reshardEnv) { e.merge(t, "orders", 0, 1) },
			call: merge("shardId-000000000001", "shardId-000000000002"),
			code: "InvalidArgumentException", msg: "Shard shardId-000000000001 in stream orders under account 000000000000 has already been merged or split"},
		{name: "merge an unknown adjacent shard", call: merge("shardId-000000000003", "shardId-000000000004"),
			code: "ResourceNotFoundException", msg: "Could not find shard shardId-000000000004 in stream orders"},
		{name: "scale up over double", call: update("orders", 9, types.ScalingTypeUniformScaling),
			code: "LimitExceededException", msg: "UpdateShardCount cannot scale up over double your current open shard count. Current open shard count: 4, Target shard count: 9"},
		{name: "scale down below half", call: update("orders", 1, types.ScalingTypeUniformScaling),
			code: "LimitExceededException", msg: "UpdateShardCount cannot scale down below half your current open shard count. Current open shard count: 4, Target shard count: 1"},
		{name: "double counts the open shards, not the closed", setup: func(t *testing.T, e *reshardEnv) { e.updateShardCount(t, "orders", 2) },
			call: update("orders", 5, types.ScalingTypeUniformScaling),
			code: "LimitExceededException", msg: "Current open shard count: 2, Target shard count: 5"},
		{name: "another scaling type", call: update("orders", 8, "NONUNIFORM_SCALING"),
			code: "ValidationException", msg: "Value 'NONUNIFORM_SCALING' at 'scalingType' failed to satisfy constraint: Member must satisfy enum value set: [UNIFORM_SCALING]"},
		{name: "a target of no shards", call: update("orders", 0, types.ScalingTypeUniformScaling),
			code: "ValidationException", msg: "at 'targetShardCount' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{name: "an unknown stream", call: update("nope", 4, types.ScalingTypeUniformScaling),
			code: "ResourceNotFoundException", msg: "Stream nope under account 000000000000 not found."},
		{name: "scale past the server's shard limit", maxShards: 6, call: update("orders", 8, types.ScalingTypeUniformScaling),
			code: "LimitExceededException", msg: "storage.max_shards"},
		{name: "split past the server's shard limit", maxShards: 5, setup: func(t *testing.T, e *reshardEnv) { e.split(t, "orders", 1, middleOf(1)) },
			call: split("shardId-000000000000", middleOf(0).String()), code: "LimitExceededException", msg: "this server has 5 shards and its limit is 5"},
		{name: "a mode that does not exist", call: func(e *reshardEnv) error {
			_, err := e.kin.UpdateStreamMode(ctx, &kinesis.UpdateStreamModeInput{StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/orders"),
				StreamModeDetails: &types.StreamModeDetails{StreamMode: "SOMETIMES"}})
			return err
		}, code: "ValidationException", msg: "Value 'SOMETIMES' at 'streamModeDetails.streamMode' failed to satisfy constraint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newReshardEnv(t, tt.maxShards, nil)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			before := e.listAll(t, kinesis.ListShardsInput{StreamName: aws.String("orders")})
			code, msg := errorCode(tt.call(e))
			if code != tt.code || !strings.Contains(msg, tt.msg) {
				t.Fatalf("got %s: %s\nwant %s: …%s…", code, msg, tt.code, tt.msg)
			}
			after := checkLineage(t, e, "orders")
			if shardIDs(after) != shardIDs(before) || fmt.Sprint(openRanges(after)) != fmt.Sprint(openRanges(before)) {
				t.Fatalf("a refused reshard changed the shards: %s → %s", shardIDs(before), shardIDs(after))
			}
		})
	}
}

// busy is a control plane on which every reshard finds another one under
// way (another node's, or the on-demand scaler's): the shard log's
// ErrReshardInProgress.
type busy struct{ awsapi.Control }

func inProgress(name string) error {
	return fmt.Errorf("stream %q: %w", name, shards.ErrReshardInProgress)
}

func (busy) SplitShard(_ context.Context, name string, _ int, _ shards.HashKey) error {
	return inProgress(name)
}
func (busy) MergeShards(_ context.Context, name string, _, _ int) error { return inProgress(name) }
func (busy) UpdateShardCount(_ context.Context, name string, _ int) error {
	return inProgress(name)
}
func (busy) SetStreamMode(_ context.Context, name, _ string) error { return inProgress(name) }

// A reshard while another runs is ResourceInUseException, as Kinesis
// answers one on a stream that is not ACTIVE: the client retries later.
func TestReshardInProgressIsResourceInUse(t *testing.T) {
	e := newReshardEnv(t, 0, func(c awsapi.Control) awsapi.Control { return busy{c} })
	ctx := context.Background()
	calls := map[string]func() error{
		"SplitShard": func() error {
			_, err := e.kin.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("orders"),
				ShardToSplit: aws.String("shardId-000000000001"), NewStartingHashKey: aws.String(middleOf(1).String())})
			return err
		},
		"MergeShards": func() error {
			_, err := e.kin.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("orders"),
				ShardToMerge: aws.String("shardId-000000000001"), AdjacentShardToMerge: aws.String("shardId-000000000002")})
			return err
		},
		"UpdateShardCount": func() error {
			_, err := e.kin.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("orders"),
				TargetShardCount: aws.Int32(8), ScalingType: types.ScalingTypeUniformScaling})
			return err
		},
		"UpdateStreamMode": func() error {
			_, err := e.kin.UpdateStreamMode(ctx, &kinesis.UpdateStreamModeInput{StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/orders"),
				StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			code, msg := errorCode(call())
			if code != "ResourceInUseException" || msg != "Stream orders under account 000000000000 not ACTIVE, instead in state UPDATING" {
				t.Fatalf("got %s: %s", code, msg)
			}
		})
	}
}

// CreateStream's StreamModeDetails: ON_DEMAND without a ShardCount starts
// with 4 shards, as in AWS; the mode is reported, refuses the provisioned
// operations, and UpdateStreamMode switches it.
func TestStreamModes(t *testing.T) {
	e := newReshardEnv(t, 0, nil)
	ctx := context.Background()
	mode := func(stream string) types.StreamMode {
		t.Helper()
		sum, err := e.kin.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		if err != nil {
			t.Fatal(err)
		}
		desc, err := e.kin.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(stream)})
		if err != nil {
			t.Fatal(err)
		}
		if m := desc.StreamDescription.StreamModeDetails.StreamMode; m != sum.StreamDescriptionSummary.StreamModeDetails.StreamMode {
			t.Fatalf("DescribeStream says %s, DescribeStreamSummary %s", m, sum.StreamDescriptionSummary.StreamModeDetails.StreamMode)
		}
		return sum.StreamDescriptionSummary.StreamModeDetails.StreamMode
	}
	if _, err := e.kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("auto"),
		StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}); err != nil {
		t.Fatal(err)
	}
	if m := mode("auto"); m != types.StreamModeOnDemand {
		t.Fatalf("created ON_DEMAND, reported %s", m)
	}
	if all := checkLineage(t, e, "auto"); fmt.Sprint(openRanges(all)) != fmt.Sprint(evens(4)) {
		t.Fatalf("an ON_DEMAND stream starts with %d shards, want 4", len(all))
	}
	list, err := e.kin.ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil || len(list.StreamSummaries) != 2 || list.StreamSummaries[0].StreamModeDetails.StreamMode != types.StreamModeOnDemand ||
		list.StreamSummaries[1].StreamModeDetails.StreamMode != types.StreamModeProvisioned {
		t.Fatalf("ListStreams = %+v, %v", list, err)
	}
	_, err = e.kin.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("auto"), TargetShardCount: aws.Int32(8),
		ScalingType: types.ScalingTypeUniformScaling})
	if code, msg := errorCode(err); code != "ValidationException" || !strings.Contains(msg, "ON_DEMAND") {
		t.Fatalf("UpdateShardCount on an ON_DEMAND stream: %s: %s", code, msg)
	}
	_, err = e.kin.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("auto"), ShardToSplit: aws.String("shardId-000000000000"),
		NewStartingHashKey: aws.String(middleOf(0).String())})
	if code, _ := errorCode(err); code != "ValidationException" {
		t.Fatalf("SplitShard on an ON_DEMAND stream: %s", code)
	}
	_, err = e.kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("both"), ShardCount: aws.Int32(2),
		StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}})
	if code, _ := errorCode(err); code != "InvalidArgumentException" {
		t.Fatalf("CreateStream ON_DEMAND with a ShardCount: %s", code)
	}

	if _, err := e.kin.UpdateStreamMode(ctx, &kinesis.UpdateStreamModeInput{StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/auto"),
		StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeProvisioned}}); err != nil {
		t.Fatal(err)
	}
	if m := mode("auto"); m != types.StreamModeProvisioned {
		t.Fatalf("after UpdateStreamMode PROVISIONED: %s", m)
	}
	e.updateShardCount(t, "auto", 8)
	if all := checkLineage(t, e, "auto"); fmt.Sprint(openRanges(all)) != fmt.Sprint(evens(8)) {
		t.Fatalf("after UpdateShardCount 8: %v", openRanges(all))
	}
	if m := mode("orders"); m != types.StreamModeProvisioned {
		t.Fatalf("a declared stream is %s", m)
	}
}
