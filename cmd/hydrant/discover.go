package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/hydrant-dev/hydrant/analytics"
)

const analyticsUsage = `Usage: hydrant analytics discover [flags] STREAM

Reads up to -sample records of STREAM from its oldest kept (through the
Kinesis API, shard after shard) and prints the input schema a SQL
application would declare for them, as YAML to paste under analytics[].schema
(Kinesis Data Analytics' DiscoverInputSchema): a column per top-level key of
the JSON records, typed by the narrowest type every sample fits.

AWS credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY when the
server checks signatures (server.auth.aws); otherwise none are needed.

Exit codes: 0 done, 1 the server refused or could not be reached, or the
stream holds no JSON object; 2 usage.

Flags:
`

func analyticsCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "discover" {
		fmt.Fprint(stderr, analyticsUsage)
		return 2
	}
	fs := flag.NewFlagSet("analytics discover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, analyticsUsage); fs.PrintDefaults() }
	var k kinesisFlags
	k.register(fs, "that may read the stream")
	sample := fs.Int("sample", 1000, "records to read at most")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(pos) != 1 || *sample < 1 {
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := sampleStream(ctx, k.client(), pos[0], *sample)
	if err == nil && len(recs) == 0 {
		err = fmt.Errorf("stream %s holds no records to read", pos[0])
	}
	var cols []analytics.Column
	if err == nil {
		if cols = analytics.Discover(recs); len(cols) == 0 {
			err = fmt.Errorf("none of the %d records read from %s is a JSON object", len(recs), pos[0])
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "hydrant analytics discover:", err)
		return 1
	}
	fmt.Fprintf(stdout, "# %s: %d records read\nschema:\n", pos[0], len(recs))
	for _, c := range cols {
		fmt.Fprintf(stdout, "  - {name: %s, type: %s", c.Name, yamlScalar(c.Type))
		if c.Path != "" {
			fmt.Fprintf(stdout, ", path: %s", yamlScalar(c.Path))
		}
		fmt.Fprintln(stdout, "}")
	}
	return 0
}

// yamlScalar quotes s when YAML would read it otherwise.
func yamlScalar(s string) string {
	if strings.ContainsAny(s, ":{}[],&*#?|-<>=!%@`'\" ") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

// sampleStream reads up to n records of stream from its oldest kept, shard
// after shard.
func sampleStream(ctx context.Context, client *kinesis.Client, stream string, n int) ([][]byte, error) {
	shards, err := client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, sh := range shards.Shards {
		it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: sh.ShardId,
			ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			return nil, err
		}
		for iter := it.ShardIterator; iter != nil && len(out) < n; {
			res, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(int32(min(n-len(out), 10000)))})
			if err != nil {
				return nil, err
			}
			for _, r := range res.Records {
				out = append(out, r.Data)
			}
			if len(res.Records) == 0 {
				break // caught up, or the end of a closed shard
			}
			iter = res.NextShardIterator
		}
		if len(out) >= n {
			break
		}
	}
	return out, nil
}
