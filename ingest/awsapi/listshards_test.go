package awsapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/shards"
)

// filterLineage gives orders a lineage of known times: created at t0 with
// shards 0–3; at t0+1h shard 0 split into 4 and 5; at t0+2h 4 and 5 merged
// into 6; the clock then at t0+3h.
func filterLineage(t *testing.T) *reshardEnv {
	e := newReshardEnv(t, 0, nil)
	e.clock.Add(time.Hour)
	e.split(t, "orders", 0, middleOf(0))
	e.clock.Add(time.Hour)
	e.merge(t, "orders", 4, 5)
	e.clock.Add(time.Hour)
	return e
}

// ListShards' filters, as the API reference defines them, relative to when
// shards opened and closed and to the trim horizon; each listed whole, and
// again a shard per page following NextToken alone, which must carry the
// filter.
func TestListShardsFilters(t *testing.T) {
	e := filterLineage(t)
	filter := func(typ types.ShardFilterType, at time.Time, shardID string) *types.ShardFilter {
		f := &types.ShardFilter{Type: typ}
		if !at.IsZero() {
			f.Timestamp = aws.Time(at)
		}
		if shardID != "" {
			f.ShardId = aws.String(shardID)
		}
		return f
	}
	t1 := t0.Add(time.Hour)
	tests := []struct {
		name   string
		filter *types.ShardFilter
		start  string // ExclusiveStartShardId
		want   string
	}{
		{"no filter: every shard within retention", nil, "", "0,1,2,3,4,5,6"},
		{"FROM_TRIM_HORIZON", filter(types.ShardFilterTypeFromTrimHorizon, time.Time{}, ""), "", "0,1,2,3,4,5,6"},
		{"AT_LATEST: the open shards", filter(types.ShardFilterTypeAtLatest, time.Time{}, ""), "", "1,2,3,6"},
		{"AT_TRIM_HORIZON: open at the stream's creation", filter(types.ShardFilterTypeAtTrimHorizon, time.Time{}, ""), "", "0,1,2,3"},
		{"AT_TIMESTAMP between the split and the merge", filter(types.ShardFilterTypeAtTimestamp, t0.Add(90*time.Minute), ""), "", "1,2,3,4,5"},
		{"AT_TIMESTAMP at the split: parent and children", filter(types.ShardFilterTypeAtTimestamp, t1, ""), "", "0,1,2,3,4,5"},
		{"AT_TIMESTAMP before the stream: its first shards", filter(types.ShardFilterTypeAtTimestamp, t0.Add(-time.Hour), ""), "", "0,1,2,3"},
		{"AT_TIMESTAMP now", filter(types.ShardFilterTypeAtTimestamp, t0.Add(3*time.Hour), ""), "", "1,2,3,6"},
		{"FROM_TIMESTAMP: closed since, and open", filter(types.ShardFilterTypeFromTimestamp, t0.Add(90*time.Minute), ""), "", "1,2,3,4,5,6"},
		{"FROM_TIMESTAMP before the trim horizon: from it", filter(types.ShardFilterTypeFromTimestamp, t0.Add(-time.Hour), ""), "", "0,1,2,3,4,5,6"},
		{"AFTER_SHARD_ID", filter(types.ShardFilterTypeAfterShardId, time.Time{}, "shardId-000000000003"), "", "4,5,6"},
		{"AFTER_SHARD_ID and a later ExclusiveStartShardId", filter(types.ShardFilterTypeAfterShardId, time.Time{}, "shardId-000000000003"),
			"shardId-000000000004", "5,6"},
		{"AT_LATEST after ExclusiveStartShardId", filter(types.ShardFilterTypeAtLatest, time.Time{}, ""), "shardId-000000000001", "2,3,6"},
		{"ExclusiveStartShardId past the last", nil, "shardId-000000000006", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := kinesis.ListShardsInput{StreamName: aws.String("orders"), ShardFilter: tt.filter}
			if tt.start != "" {
				in.ExclusiveStartShardId = aws.String(tt.start)
			}
			if got := shardIDs(e.listAll(t, in)); got != tt.want {
				t.Fatalf("ListShards: %s, want %s", got, tt.want)
			}
			in.MaxResults = aws.Int32(1)
			if got := shardIDs(e.listAll(t, in)); got != tt.want {
				t.Fatalf("ListShards a shard a page: %s, want %s", got, tt.want)
			}
		})
	}

	// A day later the shards closed before the trim horizon have expired:
	// listed by no filter, nor by DescribeStream.
	e.clock.Add(24 * time.Hour)
	for name, f := range map[string]*types.ShardFilter{
		"none":            nil,
		"AT_TRIM_HORIZON": filter(types.ShardFilterTypeAtTrimHorizon, time.Time{}, ""),
		"AT_TIMESTAMP":    filter(types.ShardFilterTypeAtTimestamp, t0.Add(90*time.Minute), ""),
		"FROM_TIMESTAMP":  filter(types.ShardFilterTypeFromTimestamp, t0, ""),
		"AFTER_SHARD_ID":  filter(types.ShardFilterTypeAfterShardId, time.Time{}, "shardId-000000000000"),
	} {
		if got := shardIDs(e.listAll(t, kinesis.ListShardsInput{StreamName: aws.String("orders"), ShardFilter: f})); got != "1,2,3,6" {
			t.Errorf("%s, after the closed shards expired: %s, want 1,2,3,6", name, got)
		}
	}
	desc, err := e.kin.DescribeStream(context.Background(), &kinesis.DescribeStreamInput{StreamName: aws.String("orders")})
	if err != nil || shardIDs(desc.StreamDescription.Shards) != "1,2,3,6" {
		t.Fatalf("DescribeStream after the closed shards expired: %v, %v", desc, err)
	}
}

// ListShards refuses what the API reference rules out, with its errors; a
// NextToken expires after 300 seconds.
func TestListShardsErrors(t *testing.T) {
	e := filterLineage(t)
	ctx := context.Background()
	first, err := e.kin.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("orders"), MaxResults: aws.Int32(2)})
	if err != nil || first.NextToken == nil {
		t.Fatalf("first page: %v, %v", first, err)
	}
	tests := []struct {
		name      string
		in        kinesis.ListShardsInput
		code, msg string
	}{
		{"NextToken with StreamName", kinesis.ListShardsInput{NextToken: first.NextToken, StreamName: aws.String("orders")},
			"InvalidArgumentException", "NextToken and StreamName cannot be provided together."},
		{"NextToken with ExclusiveStartShardId", kinesis.ListShardsInput{NextToken: first.NextToken, ExclusiveStartShardId: aws.String("shardId-000000000001")},
			"InvalidArgumentException", "NextToken and ExclusiveStartShardId cannot be provided together."},
		{"a NextToken that is none", kinesis.ListShardsInput{NextToken: aws.String("garbage!")}, "InvalidArgumentException", "NextToken"},
		{"AFTER_SHARD_ID without a ShardId", kinesis.ListShardsInput{StreamName: aws.String("orders"),
			ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAfterShardId}}, "InvalidArgumentException", "ShardId must be supplied"},
		{"AT_TIMESTAMP without a Timestamp", kinesis.ListShardsInput{StreamName: aws.String("orders"),
			ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp}}, "InvalidArgumentException", "Timestamp must be supplied"},
		{"a filter type that does not exist", kinesis.ListShardsInput{StreamName: aws.String("orders"),
			ShardFilter: &types.ShardFilter{Type: "AT_SOME_POINT"}}, "ValidationException", "Value 'AT_SOME_POINT' at 'shardFilter.type'"},
		{"MaxResults over 10000", kinesis.ListShardsInput{StreamName: aws.String("orders"), MaxResults: aws.Int32(10001)},
			"ValidationException", "maxResults"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.kin.ListShards(ctx, &tt.in)
			if code, msg := errorCode(err); code != tt.code || !strings.Contains(msg, tt.msg) {
				t.Fatalf("got %s: %s; want %s: …%s…", code, msg, tt.code, tt.msg)
			}
		})
	}
	e.clock.Add(301 * time.Second)
	_, err = e.kin.ListShards(ctx, &kinesis.ListShardsInput{NextToken: first.NextToken})
	var expired *types.ExpiredNextTokenException
	if code, _ := errorCode(err); code != "ExpiredNextTokenException" || !errors.As(err, &expired) {
		t.Fatalf("a NextToken 301 s old: %v", err)
	}
}

// A ListShards page holds 1,000 shards at most, MaxResults' default, even
// when MaxResults asks for more (as AWS documents); NextToken gets the rest.
func TestListShardsPagesOfAThousand(t *testing.T) {
	e := newReshardEnv(t, 0, nil)
	ctx := context.Background()
	wide, err := e.store.CreateStream(ctx, shards.StreamSpec{Name: "wide", Shards: 1500, Limits: generous})
	if err != nil {
		t.Fatal(err)
	}
	e.cat.AddDeclaredStream(awsapi.Stream{Name: "wide", Log: wide, Retention: 24 * time.Hour, Created: wide.Created()})
	for _, max := range []*int32{nil, aws.Int32(5000)} {
		out, err := e.kin.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("wide"), MaxResults: max})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Shards) != 1000 || out.NextToken == nil {
			t.Fatalf("MaxResults %v: %d shards, next token %v; want 1000 and a token", max, len(out.Shards), out.NextToken != nil)
		}
		rest, err := e.kin.ListShards(ctx, &kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: max})
		if err != nil {
			t.Fatal(err)
		}
		if len(rest.Shards) != 500 || rest.NextToken != nil || aws.ToString(rest.Shards[0].ShardId) != "shardId-000000001000" {
			t.Fatalf("MaxResults %v, second page: %d shards from %s, next token %v", max, len(rest.Shards), aws.ToString(rest.Shards[0].ShardId), rest.NextToken != nil)
		}
	}
}
