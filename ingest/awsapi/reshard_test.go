package awsapi_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/shards"
)

// reshardEnv serves the Kinesis API as hydrant serve wires it — the
// catalog as both catalog and control plane — over a real shard log, on
// one settable clock that the log stamps shards' opening and closing with
// too. "orders" is a declared stream of 4 shards with generous quotas.
type reshardEnv struct {
	url   string
	store *shards.Store
	cat   *catalog.Catalog
	clock *clock
	kin   *kinesis.Client
}

// t0 is when the env's clock starts, and orders was created.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newReshardEnv starts an env whose catalog allows maxShards open shards
// (0: any); control, when set, wraps the catalog as the control plane.
func newReshardEnv(t *testing.T, maxShards int, control func(awsapi.Control) awsapi.Control) *reshardEnv {
	t.Helper()
	ctx := context.Background()
	c := &clock{now: t0}
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: t.TempDir(), SyncAlways: true, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	cat := catalog.New(catalog.Options{Store: store, MaxShards: maxShards})
	if err := cat.Load(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	orders, err := store.CreateStream(ctx, shards.StreamSpec{Name: "orders", Shards: 4, Limits: generous})
	if err != nil {
		t.Fatal(err)
	}
	cat.AddDeclaredStream(awsapi.Stream{Name: "orders", Log: orders, Retention: 24 * time.Hour, Created: orders.Created()})
	var ctl awsapi.Control = cat
	if control != nil {
		ctl = control(cat)
	}
	api := awsapi.New(cat, store, awsapi.Options{Control: ctl, Now: c.Now})
	native, err := ingest.NewServer(ingest.Limits{MaxRequestSize: 16 << 20, MaxRecordSize: 1000 << 10}, nil, nil, ingest.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	native.HandleAWS(api)
	hs := httptest.NewServer(native.Handler())
	t.Cleanup(hs.Close)
	return &reshardEnv{url: hs.URL, store: store, cat: cat, clock: c, kin: kinesisClient(hs.URL, "AKIDEXAMPLE", "secret")}
}

func (e *reshardEnv) split(t *testing.T, stream string, shard int, at *big.Int) {
	t.Helper()
	if _, err := e.kin.SplitShard(context.Background(), &kinesis.SplitShardInput{StreamName: aws.String(stream),
		ShardToSplit: aws.String(shards.ShardID(shard)), NewStartingHashKey: aws.String(at.String())}); err != nil {
		t.Fatalf("SplitShard %d: %v", shard, err)
	}
}

func (e *reshardEnv) merge(t *testing.T, stream string, shard, adjacent int) {
	t.Helper()
	if _, err := e.kin.MergeShards(context.Background(), &kinesis.MergeShardsInput{StreamName: aws.String(stream),
		ShardToMerge: aws.String(shards.ShardID(shard)), AdjacentShardToMerge: aws.String(shards.ShardID(adjacent))}); err != nil {
		t.Fatalf("MergeShards %d, %d: %v", shard, adjacent, err)
	}
}

func (e *reshardEnv) updateShardCount(t *testing.T, stream string, n int) *kinesis.UpdateShardCountOutput {
	t.Helper()
	out, err := e.kin.UpdateShardCount(context.Background(), &kinesis.UpdateShardCountInput{StreamName: aws.String(stream),
		TargetShardCount: aws.Int32(int32(n)), ScalingType: types.ScalingTypeUniformScaling})
	if err != nil {
		t.Fatalf("UpdateShardCount %d: %v", n, err)
	}
	return out
}

// listAll lists a stream's shards through ListShards, MaxResults at a time
// (0: the default), following NextToken alone as the API reference says.
func (e *reshardEnv) listAll(t *testing.T, in kinesis.ListShardsInput) []types.Shard {
	t.Helper()
	var out []types.Shard
	for {
		page, err := e.kin.ListShards(context.Background(), &in)
		if err != nil {
			t.Fatalf("ListShards %+v: %v", in, err)
		}
		out = append(out, page.Shards...)
		if page.NextToken == nil {
			return out
		}
		in = kinesis.ListShardsInput{NextToken: page.NextToken, MaxResults: in.MaxResults}
	}
}

// hashRange is a shard's hash-key range as the wire gives it.
func hashRange(s types.Shard) (start, end *big.Int) {
	start, _ = new(big.Int).SetString(aws.ToString(s.HashKeyRange.StartingHashKey), 10)
	end, _ = new(big.Int).SetString(aws.ToString(s.HashKeyRange.EndingHashKey), 10)
	return start, end
}

func isOpen(s types.Shard) bool { return s.SequenceNumberRange.EndingSequenceNumber == nil }

// evenRange is shard i's range of n even shards, as decimal strings.
func evenRange(n, i int) [2]string {
	r := shards.NewShardMap(n).Range(i)
	return [2]string{r.Start.String(), r.End.String()}
}

// checkLineage checks what every lineage must be, as Kinesis shapes it:
// dense IDs; open shards tiling the hash-key space; each child inside its
// closed parent, or, merged, exactly its parent and the adjacent one just
// above it; DescribeStream and DescribeStreamSummary agreeing. It returns
// the shards by ID.
func checkLineage(t *testing.T, e *reshardEnv, stream string) []types.Shard {
	t.Helper()
	all := e.listAll(t, kinesis.ListShardsInput{StreamName: aws.String(stream)})
	byID := map[string]types.Shard{}
	var open []types.Shard
	for i, s := range all {
		if aws.ToString(s.ShardId) != shards.ShardID(i) {
			t.Fatalf("shard %d is %s: IDs are not dense", i, aws.ToString(s.ShardId))
		}
		byID[aws.ToString(s.ShardId)] = s
		if isOpen(s) {
			open = append(open, s)
		}
	}
	sortByStart(open)
	next := new(big.Int)
	for _, s := range open {
		start, end := hashRange(s)
		if start.Cmp(next) != 0 {
			t.Fatalf("open shard %s starts at %s, want %s", aws.ToString(s.ShardId), start, next)
		}
		next.Add(end, big.NewInt(1))
	}
	if next.Cmp(new(big.Int).Lsh(big.NewInt(1), 128)) != 0 {
		t.Fatalf("open shards end at %s, want 2^128", next)
	}
	for _, s := range all {
		if s.ParentShardId == nil {
			continue
		}
		p, ok := byID[aws.ToString(s.ParentShardId)]
		if !ok || isOpen(p) {
			t.Fatalf("%s: parent %s missing or open", aws.ToString(s.ShardId), aws.ToString(s.ParentShardId))
		}
		start, end := hashRange(s)
		pStart, pEnd := hashRange(p)
		if s.AdjacentParentShardId == nil {
			if start.Cmp(pStart) < 0 || end.Cmp(pEnd) > 0 {
				t.Fatalf("%s %s..%s is not inside its parent %s..%s", aws.ToString(s.ShardId), start, end, pStart, pEnd)
			}
			continue
		}
		a, ok := byID[aws.ToString(s.AdjacentParentShardId)]
		aStart, aEnd := hashRange(a)
		if !ok || isOpen(a) || start.Cmp(pStart) != 0 || end.Cmp(aEnd) != 0 || new(big.Int).Add(pEnd, big.NewInt(1)).Cmp(aStart) != 0 {
			t.Fatalf("merged %s is not its parent %s and the adjacent %s above it", aws.ToString(s.ShardId),
				aws.ToString(s.ParentShardId), aws.ToString(s.AdjacentParentShardId))
		}
	}
	ctx := context.Background()
	sum, err := e.kin.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	if d := sum.StreamDescriptionSummary; int(aws.ToInt32(d.OpenShardCount)) != len(open) || d.StreamStatus != types.StreamStatusActive {
		t.Fatalf("DescribeStreamSummary: %d open shards, %s; want %d, ACTIVE", aws.ToInt32(d.OpenShardCount), d.StreamStatus, len(open))
	}
	desc, err := e.kin.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	if got := shardIDs(desc.StreamDescription.Shards); got != shardIDs(all) {
		t.Fatalf("DescribeStream lists %s, ListShards %s", got, shardIDs(all))
	}
	return all
}

func sortByStart(ss []types.Shard) {
	for i := 1; i < len(ss); i++ {
		for j := i; j > 0; j-- {
			a, _ := hashRange(ss[j-1])
			b, _ := hashRange(ss[j])
			if a.Cmp(b) <= 0 {
				break
			}
			ss[j-1], ss[j] = ss[j], ss[j-1]
		}
	}
}

// shardIDs lists shards' IDs as their numbers: "0,2,5".
func shardIDs(ss []types.Shard) string {
	var ids []string
	for _, s := range ss {
		n, err := shards.ParseShardID(aws.ToString(s.ShardId))
		if err != nil {
			ids = append(ids, aws.ToString(s.ShardId))
			continue
		}
		ids = append(ids, fmt.Sprint(n))
	}
	return strings.Join(ids, ",")
}

// openRanges lists the open shards' ranges in hash-key order.
func openRanges(all []types.Shard) [][2]string {
	var open []types.Shard
	for _, s := range all {
		if isOpen(s) {
			open = append(open, s)
		}
	}
	sortByStart(open)
	out := make([][2]string, len(open))
	for i, s := range open {
		out[i] = [2]string{aws.ToString(s.HashKeyRange.StartingHashKey), aws.ToString(s.HashKeyRange.EndingHashKey)}
	}
	return out
}

func bigOf(s string) *big.Int {
	n, _ := new(big.Int).SetString(s, 10)
	return n
}

// quarter is the width of one of 4 even shards: 2^126.
var quarter = new(big.Int).Lsh(big.NewInt(1), 126)

// middleOf is the first hash key of the upper half of orders' shard i (of 4).
func middleOf(i int) *big.Int {
	r := evenRange(4, i)
	return new(big.Int).Add(bigOf(r[0]), new(big.Int).Rsh(quarter, 1))
}

// Splits, merges and uniform scaling shape the lineage as Kinesis does:
// children take the next IDs and name their parents, parents close with an
// EndingSequenceNumber, and the open shards tile the hash-key space.
func TestReshardLineage(t *testing.T) {
	one := evenRange(4, 1)
	tests := []struct {
		name string
		do   func(t *testing.T, e *reshardEnv)
		// every shard by ID: "parent/adjacent" ("-" for none), and the
		// open shards' ranges in hash-key order.
		parents []string
		open    [][2]string
	}{
		{"split", func(t *testing.T, e *reshardEnv) { e.split(t, "orders", 1, middleOf(1)) },
			[]string{"-", "-", "-", "-", "1/-", "1/-"},
			[][2]string{evenRange(4, 0), {one[0], new(big.Int).Sub(middleOf(1), big.NewInt(1)).String()}, {middleOf(1).String(), one[1]},
				evenRange(4, 2), evenRange(4, 3)}},
		{"merge", func(t *testing.T, e *reshardEnv) { e.merge(t, "orders", 1, 2) },
			[]string{"-", "-", "-", "-", "1/2"},
			[][2]string{evenRange(4, 0), {one[0], evenRange(4, 2)[1]}, evenRange(4, 3)}},
		{"split then merge the children back", func(t *testing.T, e *reshardEnv) {
			e.split(t, "orders", 1, middleOf(1))
			e.merge(t, "orders", 4, 5)
		}, []string{"-", "-", "-", "-", "1/-", "1/-", "4/5"}, [][2]string{evenRange(4, 0), one, evenRange(4, 2), evenRange(4, 3)}},
		{"split at the lowest key AWS takes", func(t *testing.T, e *reshardEnv) {
			e.split(t, "orders", 0, big.NewInt(2))
		}, []string{"-", "-", "-", "-", "0/-", "0/-"},
			[][2]string{{"0", "1"}, {"2", evenRange(4, 0)[1]}, evenRange(4, 1), evenRange(4, 2), evenRange(4, 3)}},
		{"update 4 to 8", func(t *testing.T, e *reshardEnv) {
			if out := e.updateShardCount(t, "orders", 8); aws.ToInt32(out.CurrentShardCount) != 4 || aws.ToInt32(out.TargetShardCount) != 8 ||
				aws.ToString(out.StreamName) != "orders" || aws.ToString(out.StreamARN) != "arn:aws:kinesis:us-east-1:000000000000:stream/orders" {
				t.Fatalf("UpdateShardCount = %+v", out)
			}
		}, []string{"-", "-", "-", "-", "0/-", "0/-", "1/-", "1/-", "2/-", "2/-", "3/-", "3/-"}, evens(8)},
		{"update 4 to 2", func(t *testing.T, e *reshardEnv) { e.updateShardCount(t, "orders", 2) },
			[]string{"-", "-", "-", "-", "0/1", "2/3"}, evens(2)},
		{"update 4 to 3, then 6, then 4", func(t *testing.T, e *reshardEnv) {
			e.updateShardCount(t, "orders", 3)
			e.updateShardCount(t, "orders", 6)
			e.updateShardCount(t, "orders", 4)
		}, nil, evens(4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newReshardEnv(t, 0, nil)
			tt.do(t, e)
			all := checkLineage(t, e, "orders")
			if tt.parents != nil {
				var got []string
				for _, s := range all {
					p, a := "-", "-"
					if s.ParentShardId != nil {
						p = fmt.Sprint(mustShard(t, *s.ParentShardId))
					}
					if s.AdjacentParentShardId != nil {
						a = fmt.Sprint(mustShard(t, *s.AdjacentParentShardId))
					}
					if p == "-" {
						got = append(got, "-")
					} else {
						got = append(got, p+"/"+a)
					}
				}
				if strings.Join(got, " ") != strings.Join(tt.parents, " ") {
					t.Fatalf("parents by shard: %v, want %v", got, tt.parents)
				}
			}
			if got := openRanges(all); fmt.Sprint(got) != fmt.Sprint(tt.open) {
				t.Fatalf("open ranges:\n got %v\nwant %v", got, tt.open)
			}
		})
	}
}

func evens(n int) [][2]string {
	out := make([][2]string, n)
	for i := range n {
		out[i] = evenRange(n, i)
	}
	return out
}

func mustShard(t *testing.T, id string) int {
	t.Helper()
	n, err := shards.ParseShardID(id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// errorCode is an API error's code ("" for none) and message.
func errorCode(err error) (string, string) {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		if err != nil {
			return "not an API error: " + err.Error(), ""
		}
		return "", ""
	}
	return apiErr.ErrorCode(), apiErr.ErrorMessage()
}
