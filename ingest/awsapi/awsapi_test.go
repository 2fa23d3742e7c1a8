package awsapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/ingest/auth"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/shards"
)

// clock is a settable clock for the server.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	url   string
	store *shards.Store
	clock *clock
	kin   *kinesis.Client
	fh    *firehose.Client
}

var generous = shards.Limits{BytesPerSecond: 1 << 30, RecordsPerSecond: 1_000_000}

// newEnv serves the AWS APIs over a real shard log: Kinesis streams
// "clicks" (4 shards) and "tiny" (1 shard, 3 records/s); Firehose
// deliveries "events" (DirectPut) and "clicks-archive" (reads clicks).
func newEnv(t testing.TB, a awsapi.Authenticator) *env {
	t.Helper()
	return newEnvOptions(t, awsapi.Options{Auth: a})
}

// newEnvOptions is newEnv with the server's options (Now is the env's clock).
func newEnvOptions(t testing.TB, opts awsapi.Options) *env {
	t.Helper()
	ctx := context.Background()
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: t.TempDir(), SyncAlways: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	open := func(name string, n int, l shards.Limits) *shards.Stream {
		st, err := store.CreateStream(ctx, shards.StreamSpec{Name: name, Shards: n, Limits: l})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	clicks, tiny, events := open("clicks", 4, generous), open("tiny", 1, shards.Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 3}), open("events", 2, generous)
	slow := open("slow", 1, shards.Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 2})
	catalog := awsapi.NewStaticCatalog(
		[]awsapi.Stream{
			{Name: "clicks", Log: clicks, Retention: 24 * time.Hour, Created: clicks.Created()},
			{Name: "tiny", Log: tiny, Retention: 48 * time.Hour, Created: tiny.Created()},
		},
		[]awsapi.Delivery{
			{Name: "events", Log: events, Created: events.Created(), Destination: awsapi.Destination{
				BucketARN: "arn:aws:s3:::lake", Prefix: "events/", CompressionFormat: "GZIP", SizeInMBs: 5, IntervalInSeconds: 60}},
			{Name: "clicks-archive", Source: "clicks", Created: clicks.Created(), Destination: awsapi.Destination{
				BucketARN: "arn:aws:s3:::lake", CompressionFormat: "UNCOMPRESSED", SizeInMBs: 5, IntervalInSeconds: 60}},
			{Name: "slow", Log: slow, Created: slow.Created(), Destination: awsapi.Destination{BucketARN: "arn:aws:s3:::lake"}},
		})
	c := &clock{now: time.Now()}
	opts.Now = c.Now
	api := awsapi.New(catalog, store, opts)
	native, err := ingest.NewServer(ingest.Limits{MaxRequestSize: 16 << 20, MaxRecordSize: 1000 << 10}, nil, nil, ingest.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	native.HandleAWS(api)
	hs := httptest.NewServer(native.Handler())
	t.Cleanup(hs.Close)
	return &env{url: hs.URL, store: store, clock: c, kin: kinesisClient(hs.URL, "AKIDEXAMPLE", "secret"), fh: firehoseClient(hs.URL, "AKIDEXAMPLE", "secret")}
}

func kinesisClient(url, id, secret string) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		BaseEndpoint: aws.String(url), Region: "us-east-1", RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""),
	})
}

func firehoseClient(url, id, secret string) *firehose.Client {
	return firehose.New(firehose.Options{
		BaseEndpoint: aws.String(url), Region: "eu-west-1", RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""),
	})
}

func TestKinesisPutAndReplay(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	entries := make([]types.PutRecordsRequestEntry, 500)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{Data: fmt.Appendf(nil, `{"n":%d}`, i), PartitionKey: aws.String("user-" + fmt.Sprint(i%13))}
	}
	put, err := e.kin.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("clicks"), Records: entries})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(put.FailedRecordCount) != 0 || len(put.Records) != 500 {
		t.Fatalf("PutRecords: %d failed of %d", aws.ToInt32(put.FailedRecordCount), len(put.Records))
	}
	// Records of a partition key land on the shard its MD5 maps to.
	m := shards.NewShardMap(4)
	for i, r := range put.Records {
		if want := shards.ShardID(m.Shard(shards.HashPartitionKey(*entries[i].PartitionKey))); aws.ToString(r.ShardId) != want {
			t.Fatalf("record %d went to %s, want %s", i, aws.ToString(r.ShardId), want)
		}
	}

	shardsOut, err := e.kin.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("clicks")})
	if err != nil {
		t.Fatal(err)
	}
	if len(shardsOut.Shards) != 4 || aws.ToString(shardsOut.Shards[3].HashKeyRange.EndingHashKey) != "340282366920938463463374607431768211455" ||
		aws.ToString(shardsOut.Shards[1].HashKeyRange.StartingHashKey) != "85070591730234615865843651857942052864" {
		t.Fatalf("ListShards = %+v", shardsOut.Shards)
	}

	// Replay every shard from TRIM_HORIZON: all 500 records, each shard in put order.
	got := map[string][]types.Record{}
	for _, sh := range shardsOut.Shards {
		got[aws.ToString(sh.ShardId)] = readAll(t, e, "clicks", aws.ToString(sh.ShardId), types.ShardIteratorTypeTrimHorizon, "")
	}
	total := 0
	for shard, recs := range got {
		total += len(recs)
		for i := 1; i < len(recs); i++ {
			prev, _ := shards.ParseSequence(aws.ToString(recs[i-1].SequenceNumber))
			cur, _ := shards.ParseSequence(aws.ToString(recs[i].SequenceNumber))
			if cur <= prev {
				t.Fatalf("%s: sequence %v after %v", shard, cur, prev)
			}
		}
	}
	if total != 500 {
		t.Fatalf("replayed %d records, want 500", total)
	}

	// AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER from the 10th record's position.
	tenth := put.Records[10]
	at := readAll(t, e, "clicks", aws.ToString(tenth.ShardId), types.ShardIteratorTypeAtSequenceNumber, aws.ToString(tenth.SequenceNumber))
	if string(at[0].Data) != `{"n":10}` || aws.ToString(at[0].PartitionKey) != "user-10" || at[0].ApproximateArrivalTimestamp == nil {
		t.Fatalf("AT_SEQUENCE_NUMBER starts at %s / %s", at[0].Data, aws.ToString(at[0].PartitionKey))
	}
	after := readAll(t, e, "clicks", aws.ToString(tenth.ShardId), types.ShardIteratorTypeAfterSequenceNumber, aws.ToString(tenth.SequenceNumber))
	if len(after) != len(at)-1 || string(after[0].Data) != string(at[1].Data) {
		t.Fatalf("AFTER_SEQUENCE_NUMBER: %d records starting %s", len(after), after[0].Data)
	}

	// LATEST sees only what comes after it.
	it, err := e.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("clicks"),
		ShardId: tenth.ShardId, ShardIteratorType: types.ShardIteratorTypeLatest})
	if err != nil {
		t.Fatal(err)
	}
	one, err := e.kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("clicks"), Data: []byte("late"), PartitionKey: aws.String("user-10")})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := e.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs.Records) != 1 || string(recs.Records[0].Data) != "late" || aws.ToString(recs.Records[0].SequenceNumber) != aws.ToString(one.SequenceNumber) {
		t.Fatalf("LATEST then put: %d records", len(recs.Records))
	}
	if aws.ToInt64(recs.MillisBehindLatest) != 0 || recs.NextShardIterator == nil {
		t.Fatalf("at the tip: MillisBehindLatest %d, next %v", aws.ToInt64(recs.MillisBehindLatest), recs.NextShardIterator)
	}

	// ExplicitHashKey picks the shard whatever the partition key.
	eh, err := e.kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("clicks"), Data: []byte("x"),
		PartitionKey: aws.String("anything"), ExplicitHashKey: aws.String("340282366920938463463374607431768211455")})
	if err != nil || aws.ToString(eh.ShardId) != "shardId-000000000003" {
		t.Fatalf("ExplicitHashKey 2^128-1 went to %v (%v)", eh, err)
	}
}

// readAll reads a shard from an iterator until a page comes back empty.
func readAll(t *testing.T, e *env, stream, shard string, kind types.ShardIteratorType, seq string) []types.Record {
	t.Helper()
	ctx := context.Background()
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: kind}
	if seq != "" {
		in.StartingSequenceNumber = aws.String(seq)
	}
	it, err := e.kin.GetShardIterator(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	var out []types.Record
	next := it.ShardIterator
	for {
		page, err := e.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: next, Limit: aws.Int32(7)})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Records) == 0 {
			return out
		}
		out = append(out, page.Records...)
		next = page.NextShardIterator
	}
}

func TestKinesisErrors(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()

	it, err := e.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("clicks"),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(5*time.Minute + time.Second)
	_, err = e.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	var expired *types.ExpiredIteratorException
	if !errors.As(err, &expired) {
		t.Fatalf("GetRecords with a 5-minute-old iterator: %v, want ExpiredIteratorException", err)
	}

	_, err = e.kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("nope"), Data: []byte("x"), PartitionKey: aws.String("k")})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("PutRecord to an unknown stream: %v", err)
	}
	_, err = e.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("clicks"),
		ShardId: aws.String("shardId-000000000009"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if !errors.As(err, &notFound) {
		t.Fatalf("GetShardIterator on a shard that does not exist: %v", err)
	}

	// A tiny shard (3 records/s) throttles per record.
	recs := make([]types.PutRecordsRequestEntry, 5)
	for i := range recs {
		recs[i] = types.PutRecordsRequestEntry{Data: []byte("x"), PartitionKey: aws.String("k")}
	}
	out, err := e.kin.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("tiny"), Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.FailedRecordCount) != 2 || aws.ToString(out.Records[4].ErrorCode) != "ProvisionedThroughputExceededException" ||
		out.Records[0].SequenceNumber == nil {
		t.Fatalf("PutRecords on a 3 records/s shard: %d failed, %+v", aws.ToInt32(out.FailedRecordCount), out.Records[4])
	}
	_, err = e.kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("tiny"), Data: []byte("x"), PartitionKey: aws.String("k")})
	var throttled *types.ProvisionedThroughputExceededException
	if !errors.As(err, &throttled) {
		t.Fatalf("PutRecord on an exhausted shard: %v", err)
	}
	e.clock.Add(time.Second)
	if _, err := e.kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("tiny"), Data: []byte("x"), PartitionKey: aws.String("k")}); err != nil {
		t.Fatalf("a second later: %v", err)
	}
}

func TestFirehose(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	recs := make([]fhtypes.Record, 500)
	for i := range recs {
		recs[i] = fhtypes.Record{Data: fmt.Appendf(nil, "{\"n\":%d}\n", i)}
	}
	out, err := e.fh.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("events"), Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.FailedPutCount) != 0 || len(out.RequestResponses) != 500 || aws.ToString(out.RequestResponses[0].RecordId) == "" {
		t.Fatalf("PutRecordBatch: %d failed, %d responses", aws.ToInt32(out.FailedPutCount), len(out.RequestResponses))
	}
	one, err := e.fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("events"), Record: &fhtypes.Record{Data: []byte("one\n")}})
	if err != nil || aws.ToString(one.RecordId) == "" {
		t.Fatalf("PutRecord: %v", err)
	}
	// All 501 records are in the delivery's stream, spread over its shards.
	n := 0
	for shard := range 2 {
		res, err := e.store.Read(ctx, "events", shard, 0, 1000, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) == 0 {
			t.Errorf("shard %d got no records: random keys should spread them", shard)
		}
		n += len(res.Records)
	}
	if n != 501 {
		t.Fatalf("%d records in the log, want 501", n)
	}

	_, err = e.fh.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("clicks-archive"), Records: recs[:1]})
	var invalid *fhtypes.InvalidArgumentException
	if !errors.As(err, &invalid) {
		t.Fatalf("direct put to a delivery reading a stream: %v, want InvalidArgumentException", err)
	}
	_, err = e.fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("nope"), Record: &fhtypes.Record{Data: []byte("x")}})
	var notFound *fhtypes.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("put to an unknown delivery: %v", err)
	}

	list, err := e.fh.ListDeliveryStreams(ctx, &firehose.ListDeliveryStreamsInput{Limit: aws.Int32(1)})
	if err != nil || len(list.DeliveryStreamNames) != 1 || list.DeliveryStreamNames[0] != "clicks-archive" || !aws.ToBool(list.HasMoreDeliveryStreams) {
		t.Fatalf("ListDeliveryStreams page 1: %+v, %v", list, err)
	}
	list, err = e.fh.ListDeliveryStreams(ctx, &firehose.ListDeliveryStreamsInput{ExclusiveStartDeliveryStreamName: aws.String("clicks-archive")})
	if err != nil || strings.Join(list.DeliveryStreamNames, ",") != "events,slow" || aws.ToBool(list.HasMoreDeliveryStreams) {
		t.Fatalf("ListDeliveryStreams page 2: %+v, %v", list, err)
	}

	// A delivery over its quota refuses records one by one: ServiceUnavailableException.
	batch, err := e.fh.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("slow"), Records: recs[:3]})
	if err != nil || aws.ToInt32(batch.FailedPutCount) != 1 || aws.ToString(batch.RequestResponses[2].ErrorCode) != "ServiceUnavailableException" {
		t.Fatalf("PutRecordBatch over quota: %+v, %v", batch, err)
	}
	_, err = e.fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("slow"), Record: &fhtypes.Record{Data: []byte("x")}})
	var unavailable *fhtypes.ServiceUnavailableException
	if !errors.As(err, &unavailable) {
		t.Fatalf("PutRecord over quota: %v, want ServiceUnavailableException", err)
	}

	desc, err := e.fh.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("clicks-archive")})
	if err != nil {
		t.Fatal(err)
	}
	d := desc.DeliveryStreamDescription
	if d.DeliveryStreamStatus != fhtypes.DeliveryStreamStatusActive || d.DeliveryStreamType != fhtypes.DeliveryStreamTypeKinesisStreamAsSource ||
		aws.ToString(d.DeliveryStreamARN) != "arn:aws:firehose:eu-west-1:000000000000:deliverystream/clicks-archive" ||
		aws.ToString(d.Source.KinesisStreamSourceDescription.KinesisStreamARN) != "arn:aws:kinesis:eu-west-1:000000000000:stream/clicks" ||
		aws.ToString(d.Destinations[0].ExtendedS3DestinationDescription.BucketARN) != "arn:aws:s3:::lake" {
		t.Fatalf("DescribeDeliveryStream = %+v", d)
	}
}

// Malformed requests get the AWS error type and status, never a 500.
func TestWireErrors(t *testing.T) {
	e := newEnv(t, nil)
	tests := map[string]struct {
		target, body string
		status       int
		typ          string
	}{
		"unknown target":     {"Kinesis_20131202.Nope", `{}`, 400, "UnknownOperationException"},
		"no target":          {"", `{}`, 400, "UnknownOperationException"},
		"bad json":           {"Kinesis_20131202.PutRecord", `{"StreamName":`, 400, "SerializationException"},
		"bad base64":         {"Kinesis_20131202.PutRecord", `{"StreamName":"clicks","PartitionKey":"k","Data":"%%%"}`, 400, "SerializationException"},
		"missing key":        {"Kinesis_20131202.PutRecord", `{"StreamName":"clicks","Data":"eA=="}`, 400, "ValidationException"},
		"long key":           {"Kinesis_20131202.PutRecord", `{"StreamName":"clicks","Data":"eA==","PartitionKey":"` + strings.Repeat("k", 257) + `"}`, 400, "ValidationException"},
		"bad hash key":       {"Kinesis_20131202.PutRecord", `{"StreamName":"clicks","Data":"eA==","PartitionKey":"k","ExplicitHashKey":"340282366920938463463374607431768211456"}`, 400, "InvalidArgumentException"},
		"unknown stream":     {"Kinesis_20131202.DescribeStreamSummary", `{"StreamName":"nope"}`, 400, "ResourceNotFoundException"},
		"bad stream name":    {"Kinesis_20131202.DescribeStreamSummary", `{"StreamName":"no spaces"}`, 400, "ValidationException"},
		"too many records":   {"Kinesis_20131202.PutRecords", `{"StreamName":"clicks","Records":[` + strings.Repeat(`{"Data":"eA==","PartitionKey":"k"},`, 500) + `{"Data":"eA==","PartitionKey":"k"}]}`, 400, "ValidationException"},
		"garbage iterator":   {"Kinesis_20131202.GetRecords", `{"ShardIterator":"garbage!"}`, 400, "InvalidArgumentException"},
		"bad iterator type":  {"Kinesis_20131202.GetShardIterator", `{"StreamName":"clicks","ShardId":"shardId-000000000000","ShardIteratorType":"SOMETIME"}`, 400, "ValidationException"},
		"bad sequence":       {"Kinesis_20131202.GetShardIterator", `{"StreamName":"clicks","ShardId":"shardId-000000000000","ShardIteratorType":"AT_SEQUENCE_NUMBER","StartingSequenceNumber":"abc"}`, 400, "InvalidArgumentException"},
		"sequence zero":      {"Kinesis_20131202.GetShardIterator", `{"StreamName":"clicks","ShardId":"shardId-000000000000","ShardIteratorType":"AT_SEQUENCE_NUMBER","StartingSequenceNumber":"0"}`, 400, "InvalidArgumentException"},
		"sequence past tip":  {"Kinesis_20131202.GetShardIterator", `{"StreamName":"clicks","ShardId":"shardId-000000000000","ShardIteratorType":"AFTER_SEQUENCE_NUMBER","StartingSequenceNumber":"1073741824000"}`, 400, "InvalidArgumentException"},
		"no control plane":   {"Kinesis_20131202.CreateStream", `{"StreamName":"x","ShardCount":1}`, 400, "InvalidArgumentException"},
		"firehose too large": {"Firehose_20150804.PutRecord", `{"DeliveryStreamName":"events","Record":{"Data":"` + strings.Repeat("QUFB", 350000) + `"}}`, 400, "ValidationException"},
		"firehose batch 501": {"Firehose_20150804.PutRecordBatch", `{"DeliveryStreamName":"events","Records":[` + strings.Repeat(`{"Data":"eA=="},`, 500) + `{"Data":"eA=="}]}`, 400, "ValidationException"},
		"json array body":    {"Firehose_20150804.PutRecordBatch", `[1,2]`, 400, "SerializationException"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.url+"/", bytes.NewReader([]byte(tt.body)))
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			if tt.target != "" {
				req.Header.Set("X-Amz-Target", tt.target)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(body), `"__type":"`+tt.typ+`"`) {
				t.Fatalf("status %d body %s; want %d %s", resp.StatusCode, body, tt.status, tt.typ)
			}
			if resp.Header.Get("x-amzn-RequestId") == "" {
				t.Fatal("no x-amzn-RequestId header")
			}
		})
	}
}

// With SigV4 required, the real clients' signatures pass and anything else
// is refused before it reaches an operation.
func TestSigV4(t *testing.T) {
	verifier, err := auth.NewSigV4([]auth.Credential{{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}},
		[]string{"firehose", "kinesis"}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, auth.NewAuthenticator(verifier, nil, nil))
	ctx := context.Background()
	if _, err := e.kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("clicks"), Data: []byte("x"), PartitionKey: aws.String("k")}); err != nil {
		t.Fatalf("signed Kinesis PutRecord: %v", err)
	}
	if _, err := e.fh.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("events"),
		Records: []fhtypes.Record{{Data: []byte("x")}}}); err != nil {
		t.Fatalf("signed Firehose PutRecordBatch: %v", err)
	}

	wrong := kinesisClient(e.url, "AKIDEXAMPLE", "not-the-secret")
	_, err = wrong.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("clicks"), Data: []byte("x"), PartitionKey: aws.String("k")})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidSignatureException" {
		t.Fatalf("wrong secret: %v, want InvalidSignatureException", err)
	}
	unknown := firehoseClient(e.url, "AKIDUNKNOWN", "secret")
	_, err = unknown.ListDeliveryStreams(ctx, &firehose.ListDeliveryStreamsInput{})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "UnrecognizedClientException" {
		t.Fatalf("unknown key: %v, want UnrecognizedClientException", err)
	}
	status, _, body := post(t, e.url, "Kinesis_20131202.ListStreams", "application/x-amz-json-1.1", []byte(`{}`))
	if status != 400 || !strings.Contains(string(body), "MissingAuthenticationTokenException") {
		t.Fatalf("unsigned request: %d %s", status, body)
	}
	// Nothing unsigned was stored.
	info, _ := e.store.ShardInfo(ctx, "clicks", 0)
	total := info.Messages
	for shard := 1; shard < 4; shard++ {
		i, _ := e.store.ShardInfo(ctx, "clicks", shard)
		total += i.Messages
	}
	if total != 1 {
		t.Fatalf("%d messages in clicks, want only the signed put", total)
	}
}
