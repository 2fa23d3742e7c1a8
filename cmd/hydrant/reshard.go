package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

const reshardUsage = `Usage: hydrant streams reshard [flags] STREAM

Reshards STREAM of a running Hydrant through its Kinesis API, one of:

  -shards N             N open shards of even hash-key ranges (UpdateShardCount,
                        UNIFORM_SCALING), in as many calls as AWS's limits need
                        (each at most doubles or halves the open shards)
  -split SHARD          split SHARD in two (SplitShard), in the middle of its
                        hash-key range unless -at gives the new starting hash key
  -merge SHARD,ADJACENT merge two adjacent shards (MergeShards)

Shards are named as Kinesis names them (shardId-000000000003) or by number (3).
Closed shards keep their records until retention; deliveries and readers that
follow the lineage read a child only after its parents. It prints the open
shards when done.

AWS credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY when the
server checks signatures (server.auth.aws); otherwise none are needed.

Exit codes: 0 done, 1 the server refused or could not be reached, 2 usage.

Flags:
`

type reshardOptions struct {
	kinesisFlags
	split, at, merge string
	shards           int
}

func reshardCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("streams reshard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, reshardUsage); fs.PrintDefaults() }
	var o reshardOptions
	o.register(fs, "allowed to reshard the stream")
	fs.IntVar(&o.shards, "shards", 0, "open shards wanted (UpdateShardCount)")
	fs.StringVar(&o.split, "split", "", "shard to split (SplitShard)")
	fs.StringVar(&o.at, "at", "", "with -split: the new shard's starting hash key (default: the middle of the shard's range)")
	fs.StringVar(&o.merge, "merge", "", "two adjacent shards to merge, comma-separated (MergeShards)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	ops := 0
	for _, set := range []bool{o.shards != 0, o.split != "", o.merge != ""} {
		if set {
			ops++
		}
	}
	if len(pos) != 1 || ops != 1 || o.shards < 0 || (o.at != "" && o.split == "") {
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := reshard(ctx, o.client(), pos[0], o, stdout); err != nil {
		fmt.Fprintln(stderr, "hydrant streams reshard:", err)
		return 1
	}
	return 0
}

func reshard(ctx context.Context, client *kinesis.Client, stream string, o reshardOptions, w io.Writer) error {
	switch {
	case o.shards > 0:
		for {
			open, err := openShards(ctx, client, stream)
			if err != nil {
				return err
			}
			n := len(open)
			if n == o.shards && n > 0 && evenlySplit(open) {
				break
			}
			// AWS's limits per call: at most double, at least half.
			step := min(max(o.shards, (n+1)/2), 2*n)
			if _, err := client.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String(stream),
				TargetShardCount: aws.Int32(int32(step)), ScalingType: types.ScalingTypeUniformScaling}); err != nil {
				return err
			}
			if err := waitActive(ctx, client, stream); err != nil {
				return err
			}
			if step == o.shards {
				break
			}
		}
	case o.split != "":
		shard, err := shardName(o.split)
		if err != nil {
			return err
		}
		at := o.at
		if at == "" {
			open, err := openShards(ctx, client, stream)
			if err != nil {
				return err
			}
			for _, s := range open {
				if aws.ToString(s.ShardId) == shard {
					at = middle(s.HashKeyRange)
				}
			}
			if at == "" {
				return fmt.Errorf("%s is not an open shard of %s", shard, stream)
			}
		}
		if _, err := client.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(stream),
			ShardToSplit: aws.String(shard), NewStartingHashKey: aws.String(at)}); err != nil {
			return err
		}
	default:
		a, b, ok := strings.Cut(o.merge, ",")
		if !ok {
			return errors.New("-merge wants two shards, comma-separated")
		}
		sa, err := shardName(a)
		if err != nil {
			return err
		}
		sb, err := shardName(b)
		if err != nil {
			return err
		}
		// MergeShards takes the lower shard first: order them by hash key.
		open, err := openShards(ctx, client, stream)
		if err != nil {
			return err
		}
		for _, s := range open {
			if id := aws.ToString(s.ShardId); id == sa || id == sb {
				if id == sb {
					sa, sb = sb, sa
				}
				break
			}
		}
		if _, err := client.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(stream),
			ShardToMerge: aws.String(sa), AdjacentShardToMerge: aws.String(sb)}); err != nil {
			return err
		}
	}
	if err := waitActive(ctx, client, stream); err != nil {
		return err
	}
	open, err := openShards(ctx, client, stream)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: %d open shards\n", stream, len(open))
	for _, s := range open {
		fmt.Fprintf(w, "%s\t%s\t%s\n", aws.ToString(s.ShardId), aws.ToString(s.HashKeyRange.StartingHashKey), aws.ToString(s.HashKeyRange.EndingHashKey))
	}
	return nil
}

// shardName accepts shardId-000000000003 or 3.
func shardName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "shardId-") {
		return s, nil
	}
	var n uint
	if _, err := fmt.Sscan(s, &n); err != nil {
		return "", fmt.Errorf("shard %q: want shardId-000000000003 or 3", s)
	}
	return fmt.Sprintf("shardId-%012d", n), nil
}

// openShards lists the stream's open shards in hash-key order.
func openShards(ctx context.Context, client *kinesis.Client, stream string) ([]types.Shard, error) {
	var out []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream), ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}}
	for {
		page, err := client.ListShards(ctx, in)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Shards...)
		if page.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: page.NextToken}
	}
	sortByHashKey(out)
	return out, nil
}

func hashKey(s *string) *big.Int {
	n, _ := new(big.Int).SetString(aws.ToString(s), 10)
	if n == nil {
		n = new(big.Int)
	}
	return n
}

func sortByHashKey(shards []types.Shard) {
	slices.SortFunc(shards, func(a, b types.Shard) int {
		return hashKey(a.HashKeyRange.StartingHashKey).Cmp(hashKey(b.HashKeyRange.StartingHashKey))
	})
}

// middle returns the first hash key of the upper half of r.
func middle(r *types.HashKeyRange) string {
	sum := new(big.Int).Add(hashKey(r.StartingHashKey), hashKey(r.EndingHashKey))
	return sum.Add(sum, big.NewInt(1)).Rsh(sum, 1).String()
}

// evenlySplit reports whether the open shards split the hash-key space as
// UNIFORM_SCALING would.
func evenlySplit(open []types.Shard) bool {
	width := new(big.Int).Div(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(int64(len(open))))
	for i, s := range open {
		if hashKey(s.HashKeyRange.StartingHashKey).Cmp(new(big.Int).Mul(width, big.NewInt(int64(i)))) != 0 {
			return false
		}
	}
	return true
}

// waitActive polls DescribeStreamSummary until the stream is ACTIVE again.
func waitActive(ctx context.Context, client *kinesis.Client, stream string) error {
	for {
		out, err := client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		if err != nil {
			return err
		}
		if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s still %s: %w", stream, out.StreamDescriptionSummary.StreamStatus, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
