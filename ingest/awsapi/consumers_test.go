package awsapi_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/hydrant-dev/hydrant/ingest/auth"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
)

// Consumers are registered CREATING, are ACTIVE a moment later, are listed
// in pages, counted by DescribeStreamSummary, survive a restart over the
// same store, and are DELETING for a moment once deregistered, then gone.
func TestStreamConsumersLifecycle(t *testing.T) {
	e := newFanEnv(t, awsapi.FanOutOptions{})
	ctx := context.Background()
	c := e.register(t, "app-0")
	wantARN := fmt.Sprintf("arn:aws:kinesis:us-east-1:000000000000:stream/orders/consumer/app-0:%d", e.clock.Now().Add(-time.Second).Unix())
	if aws.ToString(c.ConsumerARN) != wantARN || !c.ConsumerCreationTimestamp.Equal(e.clock.Now().Add(-time.Second)) {
		t.Fatalf("consumer %s created %v, want %s", aws.ToString(c.ConsumerARN), c.ConsumerCreationTimestamp, wantARN)
	}
	for i := 1; i < 5; i++ {
		e.register(t, fmt.Sprintf("app-%d", i))
	}
	// By stream and name, as by ARN.
	d, err := e.kin.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(e.streamARN), ConsumerName: aws.String("app-0")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.ConsumerDescription.ConsumerARN) != wantARN || aws.ToString(d.ConsumerDescription.StreamARN) != e.streamARN {
		t.Fatalf("DescribeStreamConsumer by name: %+v", d.ConsumerDescription)
	}
	list := func() []string {
		t.Helper()
		var names []string
		in := &kinesis.ListStreamConsumersInput{StreamARN: aws.String(e.streamARN), MaxResults: aws.Int32(2)}
		for {
			page, err := e.kin.ListStreamConsumers(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page.Consumers {
				names = append(names, aws.ToString(c.ConsumerName)+"="+string(c.ConsumerStatus))
			}
			if page.NextToken == nil {
				return names
			}
			in.NextToken = page.NextToken
		}
	}
	count := func() int32 {
		t.Helper()
		s, err := e.kin.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("orders")})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToInt32(s.StreamDescriptionSummary.ConsumerCount)
	}
	all := []string{"app-0=ACTIVE", "app-1=ACTIVE", "app-2=ACTIVE", "app-3=ACTIVE", "app-4=ACTIVE"}
	if got := list(); !slices.Equal(got, all) || count() != 5 {
		t.Fatalf("listed %v, counted %d; want %v", got, count(), all)
	}

	e.stop()
	e.start(t, awsapi.FanOutOptions{}, serverTimeouts)
	if got := list(); !slices.Equal(got, all) {
		t.Fatalf("after a restart: listed %v, want %v", got, all)
	}
	e.put(t, "kept")
	if got, _ := readRecords(t, subscribe(t, e.kin, c, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}), 1); !slices.Equal(got, []string{"kept"}) {
		t.Fatalf("after a restart the consumer read %v", got)
	}

	if _, err := e.kin.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: c.ConsumerARN}); err != nil {
		t.Fatal(err)
	}
	if got := list(); !slices.Equal(got, append([]string{"app-0=DELETING"}, all[1:]...)) || count() != 4 {
		t.Fatalf("deregistered: listed %v, counted %d", got, count())
	}
	e.clock.Add(time.Second)
	if got := list(); !slices.Equal(got, all[1:]) {
		t.Fatalf("a second after: listed %v", got)
	}
	if _, err := e.kin.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: c.ConsumerARN}); apiCode(err) != "ResourceNotFoundException" {
		t.Fatalf("DescribeStreamConsumer of a deregistered consumer: %v", err)
	}
	// A consumer registered again under the name is another: the old ARN
	// does not name it.
	e.clock.Add(time.Second)
	again := e.register(t, "app-0")
	if aws.ToString(again.ConsumerARN) == wantARN {
		t.Fatalf("re-registered consumer kept the ARN %s", wantARN)
	}
	if _, err := e.kin.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: c.ConsumerARN}); apiCode(err) != "ResourceNotFoundException" {
		t.Fatalf("DescribeStreamConsumer by the old ARN: %v", err)
	}
}

// Deregistering a consumer ends its subscriptions with
// ResourceNotFoundException.
func TestDeregisterEndsSubscriptions(t *testing.T) {
	e := newFanEnv(t, awsapi.FanOutOptions{})
	c := e.register(t, "app")
	stream := subscribe(t, e.kin2, c, "shardId-000000000001", types.StartingPosition{Type: types.ShardIteratorTypeLatest})
	if _, err := e.kin.DeregisterStreamConsumer(context.Background(), &kinesis.DeregisterStreamConsumerInput{
		StreamARN: aws.String(e.streamARN), ConsumerName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, ok := next(t, stream); !ok {
			break
		}
	}
	if apiCode(stream.Err()) != "ResourceNotFoundException" {
		t.Fatalf("the subscription ended with %v, want ResourceNotFoundException", stream.Err())
	}
}

// A stream with consumers is deleted only with EnforceConsumerDeletion, and
// a stream created again under its name has none of them.
func TestDeleteStreamWithConsumers(t *testing.T) {
	e := newFanEnv(t, awsapi.FanOutOptions{})
	ctx := context.Background()
	create := func() string {
		t.Helper()
		if _, err := e.kin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("temp"), ShardCount: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
		return "arn:aws:kinesis:us-east-1:000000000000:stream/temp"
	}
	arn := create()
	if _, err := e.kin.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String("c")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kin.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("temp")}); apiCode(err) != "ResourceInUseException" {
		t.Fatalf("DeleteStream of a stream with a consumer: %v, want ResourceInUseException", err)
	}
	if _, err := e.kin.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("temp"), EnforceConsumerDeletion: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Second)
	arn = create()
	out, err := e.kin.ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(arn)})
	if err != nil || len(out.Consumers) != 0 {
		t.Fatalf("the new stream has consumers %v (%v)", out, err)
	}
}

// The consumer operations' and SubscribeToShard's errors are AWS's.
func TestStreamConsumerErrors(t *testing.T) {
	e := newFanEnv(t, awsapi.FanOutOptions{MaxConsumers: 3})
	ctx := context.Background()
	active := e.register(t, "active")
	first := e.put(t, "x")
	for i := 1; i < 3; i++ {
		e.register(t, fmt.Sprintf("c%d", i))
	}
	unknownARN := strings.Replace(aws.ToString(active.ConsumerARN), "/consumer/active:", "/consumer/nobody:", 1)
	register := func(stream, name string) error {
		_, err := e.kin.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(stream), ConsumerName: aws.String(name)})
		return err
	}
	sub := func(arn, shard string, pos types.StartingPosition) error {
		out, err := e.kin.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn), ShardId: aws.String(shard), StartingPosition: &pos})
		if err == nil {
			out.GetStream().Close()
		}
		return err
	}
	trim := types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"register a fourth", func() error { return register(e.streamARN, "c4") }, "LimitExceededException"},
		{"register a name taken", func() error { return register(e.streamARN, "c1") }, "ResourceInUseException"},
		{"register a bad name", func() error { return register(e.streamARN, "a/b") }, "ValidationException"},
		{"register to an unknown stream", func() error {
			return register("arn:aws:kinesis:us-east-1:000000000000:stream/nope", "c")
		}, "ResourceNotFoundException"},
		{"describe an unknown consumer", func() error {
			_, err := e.kin.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(unknownARN)})
			return err
		}, "ResourceNotFoundException"},
		{"describe without a name", func() error {
			_, err := e.kin.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(e.streamARN)})
			return err
		}, "InvalidArgumentException"},
		{"describe a malformed ARN", func() error {
			_, err := e.kin.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String("arn:aws:kinesis:x")})
			return err
		}, "ValidationException"},
		{"list with a foreign token", func() error {
			_, err := e.kin.ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(e.streamARN), NextToken: aws.String("bm9wZQ")})
			return err
		}, "InvalidArgumentException"},
		{"deregister an unknown consumer", func() error {
			_, err := e.kin.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: aws.String(unknownARN)})
			return err
		}, "ResourceNotFoundException"},
		{"subscribe an unknown consumer", func() error { return sub(unknownARN, "shardId-000000000000", trim) }, "ResourceNotFoundException"},
		{"subscribe to an unknown shard", func() error { return sub(aws.ToString(active.ConsumerARN), "shardId-000000000009", trim) }, "ResourceNotFoundException"},
		{"subscribe from a sequence number of elsewhere", func() error {
			return sub(aws.ToString(active.ConsumerARN), "shardId-000000000000", types.StartingPosition{
				Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: aws.String("49590338271490256608559692538361571095921575989136588898")})
		}, "InvalidArgumentException"},
		{"subscribe at a timestamp without one", func() error {
			return sub(aws.ToString(active.ConsumerARN), "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeAtTimestamp})
		}, "InvalidArgumentException"},
		{"subscribe from a bad position type", func() error {
			return sub(aws.ToString(active.ConsumerARN), "shardId-000000000000", types.StartingPosition{Type: "NOW"})
		}, "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := apiCode(tc.call()); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}

	// A consumer is not ACTIVE at once.
	if _, err := e.kin.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{StreamARN: aws.String(e.streamARN), ConsumerName: aws.String("c2")}); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Second)
	out, err := e.kin.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(e.streamARN), ConsumerName: aws.String("new")})
	if err != nil {
		t.Fatal(err)
	}
	if got := apiCode(sub(aws.ToString(out.Consumer.ConsumerARN), "shardId-000000000000", trim)); got != "ResourceInUseException" {
		t.Fatalf("subscribe a CREATING consumer: %s", got)
	}

	// A second subscription within 5 s of the first is refused; after
	// that it takes over, and the first ends with ResourceInUseException.
	firstSub := subscribe(t, e.kin, active, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: aws.String(first[0])})
	readRecords(t, firstSub, 1)
	if got := apiCode(sub(aws.ToString(active.ConsumerARN), "shardId-000000000000", trim)); got != "ResourceInUseException" {
		t.Fatalf("a second subscription at once: %s", got)
	}
	e.clock.Add(5 * time.Second)
	second := subscribe(t, e.kin2, active, "shardId-000000000000", trim)
	for {
		if _, ok := next(t, firstSub); !ok {
			break
		}
	}
	if apiCode(firstSub.Err()) != "ResourceInUseException" {
		t.Fatalf("the subscription taken over ended with %v", firstSub.Err())
	}
	if got, _ := readRecords(t, second, 1); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("the subscription that took over read %v", got)
	}
}

// The consumer operations and SubscribeToShard are authorized as IAM does
// it: registering and listing on the stream's ARN, describing,
// deregistering and subscribing on the consumer's.
func TestStreamConsumerAuthorization(t *testing.T) {
	verifier, err := auth.NewSigV4([]auth.Credential{{AccessKeyID: "ADMIN", SecretAccessKey: "s1"}, {AccessKeyID: "APP", SecretAccessKey: "s2"}},
		[]string{"kinesis"}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := auth.NewPolicy([]auth.Statement{{Effect: auth.Allow, Actions: []string{"kinesis:*"}, Resources: []string{"*"}}})
	if err != nil {
		t.Fatal(err)
	}
	app, err := auth.NewPolicy([]auth.Statement{
		{Effect: auth.Allow, Actions: []string{"kinesis:SubscribeToShard", "kinesis:DescribeStreamConsumer"},
			Resources: []string{"arn:aws:kinesis:*:*:stream/orders/consumer/app:*"}},
		{Effect: auth.Allow, Actions: []string{"kinesis:ListStreamConsumers", "kinesis:PutRecords"}, Resources: []string{"arn:aws:kinesis:*:*:stream/orders"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &fanEnv{dir: t.TempDir(), clock: &clock{now: t0},
		auth: auth.NewAuthenticator(verifier, nil, map[string]*auth.Policy{"ADMIN": admin, "APP": app})}
	e.start(t, awsapi.FanOutOptions{}, serverTimeouts)
	e.kin = kinesisClient(e.url, "ADMIN", "s1")
	c := e.register(t, "app")
	other := e.register(t, "other")
	e.put(t, "x")
	kin := kinesisClient(e.url, "APP", "s2")
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"subscribe its consumer", func() error {
			out, err := kin.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: c.ConsumerARN, ShardId: aws.String("shardId-000000000000"),
				StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}})
			if err == nil {
				if got, _ := readRecords(t, out.GetStream(), 1); !slices.Equal(got, []string{"x"}) {
					t.Errorf("read %v", got)
				}
				out.GetStream().Close()
			}
			return err
		}, ""},
		{"describe its consumer by name", func() error {
			_, err := kin.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(e.streamARN), ConsumerName: aws.String("app")})
			return err
		}, ""},
		{"list the stream's consumers", func() error {
			_, err := kin.ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(e.streamARN)})
			return err
		}, ""},
		{"subscribe another consumer", func() error {
			_, err := kin.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: other.ConsumerARN, ShardId: aws.String("shardId-000000000000"),
				StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}})
			return err
		}, "AccessDeniedException"},
		{"describe another consumer", func() error {
			_, err := kin.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: other.ConsumerARN})
			return err
		}, "AccessDeniedException"},
		{"register a consumer", func() error {
			_, err := kin.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(e.streamARN), ConsumerName: aws.String("mine")})
			return err
		}, "AccessDeniedException"},
		{"deregister its consumer", func() error {
			_, err := kin.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: c.ConsumerARN})
			return err
		}, "AccessDeniedException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := apiCode(tc.call()); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// Registrations racing for the last places of a stream get exactly as many
// as the limit allows: the consumers are changed with a compare-and-set.
func TestRegisterStreamConsumerRace(t *testing.T) {
	e := newFanEnv(t, awsapi.FanOutOptions{})
	const n = 30
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := e.kin.RegisterStreamConsumer(context.Background(), &kinesis.RegisterStreamConsumerInput{
				StreamARN: aws.String(e.streamARN), ConsumerName: aws.String(fmt.Sprintf("racer-%02d", i))})
			errs <- err
		}()
	}
	codes := map[string]int{}
	for range n {
		codes[apiCode(<-errs)]++
	}
	if codes[""] != 20 || codes["LimitExceededException"] != n-20 {
		t.Fatalf("outcomes %v, want 20 registered and %d LimitExceededException", codes, n-20)
	}
	out, err := e.kin.ListStreamConsumers(context.Background(), &kinesis.ListStreamConsumersInput{StreamARN: aws.String(e.streamARN)})
	if err != nil || len(out.Consumers) != 20 {
		t.Fatalf("listed %d consumers (%v), want 20", len(out.Consumers), err)
	}
}
