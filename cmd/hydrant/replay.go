package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

const replayUsage = `Usage: hydrant replay [flags] STREAM

Prints the records of STREAM's shards from a position, through the Kinesis
read path (ListShards, GetShardIterator, GetRecords), shard after shard, until
it has caught up (or, with -follow, until interrupted).

-from is trim_horizon (the oldest record kept), latest, a sequence number
(AT_SEQUENCE_NUMBER; give -shard with it), an RFC 3339 time (AT_TIMESTAMP),
or a duration ago such as 15m.

AWS credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY when the
server checks signatures (server.auth.aws); otherwise none are needed.

Exit codes: 0 done, 1 the server refused or could not be reached, 2 usage.

Flags:
`

// replayRecord is one record as -output json prints it.
type replayRecord struct {
	ShardID        string    `json:"shard_id"`
	SequenceNumber string    `json:"sequence_number"`
	PartitionKey   string    `json:"partition_key"`
	Arrival        time.Time `json:"arrival"`
	Data           *string   `json:"data,omitempty"`        // UTF-8 data as text
	DataBase64     []byte    `json:"data_base64,omitempty"` // other data
}

type replayOptions struct {
	kinesisFlags
	from, shard, output string
	limit               int
	follow              bool
}

func replayCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, replayUsage); fs.PrintDefaults() }
	var o replayOptions
	o.register(fs, "that may read the stream")
	fs.StringVar(&o.from, "from", "trim_horizon", "trim_horizon | latest | SEQUENCE | RFC 3339 time | duration ago (15m)")
	fs.StringVar(&o.shard, "shard", "", "only this shard (e.g. shardId-000000000001); default all")
	fs.IntVar(&o.limit, "limit", 0, "stop after this many records (0: no limit)")
	fs.BoolVar(&o.follow, "follow", false, "keep reading new records until interrupted (one shard: give -shard)")
	fs.StringVar(&o.output, "output", "text", "text (the data, a record a line) | json (a JSON object a line)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(pos) != 1 || !slices.Contains([]string{"text", "json"}, o.output) || o.limit < 0 || (o.follow && o.shard == "") {
		fs.Usage()
		return 2
	}
	start, err := parseFrom(o.from, time.Now())
	if err != nil || (start.ShardIteratorType == types.ShardIteratorTypeAtSequenceNumber && o.shard == "") {
		if err == nil {
			err = errors.New("a sequence number belongs to one shard: give -shard")
		}
		fmt.Fprintln(stderr, "hydrant replay: -from:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := replay(ctx, pos[0], o, start, stdout); err != nil && ctx.Err() == nil {
		fmt.Fprintln(stderr, "hydrant replay:", err)
		return 1
	}
	return 0
}

// parseFrom turns -from into a shard iterator request.
func parseFrom(from string, now time.Time) (kinesis.GetShardIteratorInput, error) {
	var in kinesis.GetShardIteratorInput
	switch strings.ToLower(from) {
	case "trim_horizon", "":
		in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
		return in, nil
	case "latest":
		in.ShardIteratorType = types.ShardIteratorTypeLatest
		return in, nil
	}
	if n, ok := new(big.Int).SetString(from, 10); ok && n.Sign() >= 0 {
		in.ShardIteratorType, in.StartingSequenceNumber = types.ShardIteratorTypeAtSequenceNumber, aws.String(from)
		return in, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, from); err == nil {
		in.ShardIteratorType, in.Timestamp = types.ShardIteratorTypeAtTimestamp, aws.Time(t)
		return in, nil
	}
	if d, err := time.ParseDuration(from); err == nil && d >= 0 {
		in.ShardIteratorType, in.Timestamp = types.ShardIteratorTypeAtTimestamp, aws.Time(now.Add(-d))
		return in, nil
	}
	return in, fmt.Errorf("%q is not trim_horizon, latest, a sequence number, an RFC 3339 time or a duration", from)
}

// replay reads the stream's shards in turn and prints their records.
func replay(ctx context.Context, stream string, o replayOptions, start kinesis.GetShardIteratorInput, w io.Writer) error {
	client := o.client()
	shardIDs := []string{o.shard}
	if o.shard == "" {
		shardIDs = nil
		var next *string
		for {
			in := &kinesis.ListShardsInput{StreamName: aws.String(stream), NextToken: next}
			if next != nil {
				in.StreamName = nil
			}
			out, err := client.ListShards(ctx, in)
			if err != nil {
				return err
			}
			for _, s := range out.Shards {
				shardIDs = append(shardIDs, aws.ToString(s.ShardId))
			}
			if next = out.NextToken; next == nil {
				break
			}
		}
	}
	enc := json.NewEncoder(w)
	printed := 0
	for _, shard := range shardIDs {
		in := start
		in.StreamName, in.ShardId = aws.String(stream), aws.String(shard)
		it, err := client.GetShardIterator(ctx, &in)
		if err != nil {
			return fmt.Errorf("%s: %w", shard, err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				return fmt.Errorf("%s: %w", shard, err)
			}
			for _, r := range out.Records {
				if err := printRecord(w, enc, o.output, shard, r); err != nil {
					return err
				}
				if printed++; o.limit > 0 && printed >= o.limit {
					return nil
				}
			}
			iter = out.NextShardIterator
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				if !o.follow {
					break // caught up with this shard
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Second):
				}
			}
		}
	}
	return nil
}

func printRecord(w io.Writer, enc *json.Encoder, output, shard string, r types.Record) error {
	if output == "text" {
		data := r.Data
		if len(data) == 0 || data[len(data)-1] != '\n' {
			data = append(data, '\n')
		}
		_, err := w.Write(data)
		return err
	}
	out := replayRecord{ShardID: shard, SequenceNumber: aws.ToString(r.SequenceNumber), PartitionKey: aws.ToString(r.PartitionKey),
		Arrival: aws.ToTime(r.ApproximateArrivalTimestamp).UTC()}
	if utf8.Valid(r.Data) {
		s := string(r.Data)
		out.Data = &s
	} else {
		out.DataBase64 = r.Data
	}
	return enc.Encode(out)
}

// kinesisFlags are the flags of the commands that go through Hydrant's
// Kinesis API (replay, streams reshard, analytics discover).
type kinesisFlags struct{ endpoint, region, apiKey string }

// register adds -endpoint, -region and -api-key; may says what the key
// must be allowed, for its help.
func (k *kinesisFlags) register(fs *flag.FlagSet, may string) {
	fs.StringVar(&k.endpoint, "endpoint", envOr("HYDRANT_ENDPOINT", "http://127.0.0.1:4545"), "Hydrant's address (env HYDRANT_ENDPOINT)")
	fs.StringVar(&k.region, "region", envOr("AWS_REGION", "us-east-1"), "region the request signatures name")
	fs.StringVar(&k.apiKey, "api-key", os.Getenv("HYDRANT_API_KEY"), "API key "+may+", sent as a bearer token instead of a signature (env HYDRANT_API_KEY)")
}

func (k kinesisFlags) client() *kinesis.Client { return kinesisClient(k.endpoint, k.region, k.apiKey) }

// kinesisClient is a Kinesis client of Hydrant at endpoint: it signs with
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY when they are set, or sends
// apiKey as a bearer token instead.
func kinesisClient(endpoint, region, apiKey string) *kinesis.Client {
	cfg := aws.Config{Region: region, Credentials: aws.AnonymousCredentials{}}
	if id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		cfg.Credentials = credentials.NewStaticCredentialsProvider(id, secret, os.Getenv("AWS_SESSION_TOKEN"))
	}
	if apiKey != "" { // a bearer key instead of a signature
		cfg.Credentials = aws.AnonymousCredentials{}
		cfg.APIOptions = append(cfg.APIOptions, smithyhttp.SetHeaderValue("Authorization", "Bearer "+apiKey))
	}
	return kinesis.NewFromConfig(cfg, func(opts *kinesis.Options) { opts.BaseEndpoint = aws.String(endpoint) })
}

// parseInterspersed parses flags that may come before or after the
// positional arguments (hydrant replay STREAM -from 15m), returning the
// positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
