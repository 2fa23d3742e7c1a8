package awsapi_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/internal/testnats"
)

// A registered consumer reads a shard from the trim horizon in order, over
// HTTP/1.1 and over h2c, through the AWS SDK's event stream reader.
func TestSubscribeToShardTrimHorizon(t *testing.T) {
	e := newFanEnv(t, awsapi.FanOutOptions{})
	c := e.register(t, "app")
	var want []string
	for i := range 300 {
		want = append(want, fmt.Sprintf("record-%03d", i))
	}
	seqs := e.put(t, want[:150]...)
	seqs = append(seqs, e.put(t, want[150:]...)...)
	for name, kin := range map[string]*kinesis.Client{"HTTP/1.1": e.kin, "h2c": e.kin2} {
		t.Run(name, func(t *testing.T) {
			stream := subscribe(t, kin, c, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
			got, last := readRecords(t, stream, len(want))
			if !slices.Equal(got, want) {
				t.Fatalf("read %d records %v…, want %d in order", len(got), got[:min(5, len(got))], len(want))
			}
			if aws.ToString(last.ContinuationSequenceNumber) != seqs[len(seqs)-1] {
				t.Errorf("ContinuationSequenceNumber %s, want the last record's %s", aws.ToString(last.ContinuationSequenceNumber), seqs[len(seqs)-1])
			}
			if len(last.ChildShards) != 0 {
				t.Errorf("ChildShards %v on an open shard", last.ChildShards)
			}
			closeStream(stream)
			e.clock.Add(5 * time.Second) // the next subscription takes over
		})
	}
	// Both subscriptions' records are counted (a sent event is counted
	// just after its write, which the client may see first).
	await.Within(10*time.Second, func() bool {
		return testutil.ToFloat64(e.metrics.FanOutRecords().WithLabelValues("orders")) == 2*300 &&
			testutil.ToFloat64(e.metrics.FanOutBytes().WithLabelValues("orders")) == 2*300*(10+1)
	})
	if got := testutil.ToFloat64(e.metrics.FanOutRecords().WithLabelValues("orders")); got != 2*300 {
		t.Errorf("hydrant_ingest_fanout_records_total = %v, want %d", got, 2*300)
	}
	if got := testutil.ToFloat64(e.metrics.FanOutBytes().WithLabelValues("orders")); got != 2*300*(10+1) {
		t.Errorf("hydrant_ingest_fanout_bytes_total = %v, want %d", got, 2*300*11)
	}
}

// Closing FanOutOptions.Stop (the server shuts down) ends every
// subscription cleanly.
func TestSubscribeToShardStop(t *testing.T) {
	stop := make(chan struct{})
	e := newFanEnv(t, awsapi.FanOutOptions{Stop: stop})
	c := e.register(t, "app")
	stream := subscribe(t, e.kin2, c, "shardId-000000000002", types.StartingPosition{Type: types.ShardIteratorTypeLatest})
	close(stop)
	for {
		if _, ok := next(t, stream); !ok {
			break
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("the subscription ended with %v, want a clean end", err)
	}
}

// A reader at the tip is pushed each record as it is stored, not at the
// next heartbeat (5 s): each of 30 puts reaches the subscriber well within
// one. BenchmarkSubscribeToShardPush measures the latency itself.
func TestSubscribeToShardPushesNewRecords(t *testing.T) {
	e := newFanEnv(t, awsapi.FanOutOptions{})
	c := e.register(t, "app")
	e.put(t, "before")
	stream := subscribe(t, e.kin2, c, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeLatest})
	worst := pushLatency(t, e, stream, 30)
	t.Logf("put to event: max %v over 30 puts", worst)
	if worst >= time.Second {
		t.Errorf("a record took %v from its put to its event: it waited for a heartbeat, not pushed", worst)
	}
}

// pushLatency puts n records one at a time and returns the longest time
// from a put's call to its record's event.
func pushLatency(t testing.TB, e *fanEnv, stream *kinesis.SubscribeToShardEventStream, n int) time.Duration {
	t.Helper()
	var worst time.Duration
	for i := range n {
		data := fmt.Sprintf("live-%d", i)
		start := time.Now()
		e.put(t, data)
		got, _ := readRecords(t, stream, 1)
		took := time.Since(start)
		if !slices.Equal(got, []string{data}) {
			t.Fatalf("pushed %v, want [%s]", got, data)
		}
		worst = max(worst, took)
	}
	return worst
}

// Every starting position starts where GetShardIterator's would.
func TestSubscribeToShardStartingPositions(t *testing.T) {
	e := newFanEnv(t, awsapi.FanOutOptions{})
	c := e.register(t, "app")
	first := e.put(t, "a", "b", "c")
	e.clock.Add(time.Minute)
	middle := e.clock.Now()
	e.put(t, "d", "e")
	for _, tc := range []struct {
		name string
		pos  types.StartingPosition
		want []string
	}{
		{"TRIM_HORIZON", types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}, []string{"a", "b", "c", "d", "e"}},
		{"AT_SEQUENCE_NUMBER", types.StartingPosition{Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: aws.String(first[1])}, []string{"b", "c", "d", "e"}},
		{"AFTER_SEQUENCE_NUMBER", types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String(first[1])}, []string{"c", "d", "e"}},
		{"AT_TIMESTAMP", types.StartingPosition{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(middle)}, []string{"d", "e"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := subscribe(t, e.kin, c, "shardId-000000000000", tc.pos)
			got, _ := readRecords(t, stream, len(tc.want))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("read %v, want %v", got, tc.want)
			}
			closeStream(stream)
			// The next subscription of the consumer to the shard takes over.
			e.clock.Add(5 * time.Second)
		})
	}
}

// A subscription ends cleanly at its time (5 minutes in AWS); the client
// goes on from the last ContinuationSequenceNumber with
// AFTER_SEQUENCE_NUMBER, as the KCL does, and reads each record once. An
// idle subscription is sent an event every heartbeat. The server's read
// and write timeouts, shorter than the subscription, do not cut it.
func TestSubscribeToShardContinuation(t *testing.T) {
	e := &fanEnv{dir: t.TempDir(), clock: &clock{now: t0}}
	e.start(t, awsapi.FanOutOptions{Subscription: 1500 * time.Millisecond, Heartbeat: 200 * time.Millisecond}, 300*time.Millisecond)
	c := e.register(t, "app")
	all := []string{"1", "2", "3"}
	e.put(t, all...)
	for name, kin := range map[string]*kinesis.Client{"HTTP/1.1": e.kin, "h2c": e.kin2} {
		t.Run(name, func(t *testing.T) {
			e.clock.Add(5 * time.Second)
			start := time.Now()
			stream := subscribe(t, kin, c, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
			got, last := readRecords(t, stream, len(all))
			if !slices.Equal(got, all) {
				t.Fatalf("read %v, want %v", got, all)
			}
			cont := aws.ToString(last.ContinuationSequenceNumber)
			heartbeats := 0
			for {
				ev, ok := next(t, stream)
				if !ok {
					break
				}
				if len(ev.Records) != 0 || aws.ToString(ev.ContinuationSequenceNumber) != cont {
					t.Fatalf("heartbeat %+v, want no records and continuation %s", ev, cont)
				}
				heartbeats++
			}
			took := time.Since(start)
			if err := stream.Err(); err != nil {
				t.Fatalf("the subscription ended with %v, want a clean end", err)
			}
			if took < 1400*time.Millisecond || heartbeats < 4 {
				t.Fatalf("the subscription ended after %v with %d heartbeats, want 1.5 s with one each 200 ms", took, heartbeats)
			}
			t.Logf("%v subscription, %d heartbeats", took, heartbeats)
			more := []string{name + "-4", name + "-5"}
			e.put(t, more...)
			all = append(all, more...)
			e.clock.Add(5 * time.Second)
			stream = subscribe(t, kin, c, "shardId-000000000000", types.StartingPosition{
				Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String(cont)})
			if got, _ := readRecords(t, stream, 2); !slices.Equal(got, more) {
				t.Fatalf("read %v after the continuation, want %v", got, more)
			}
			closeStream(stream)
		})
	}
}

// A subscription is paced to its rate and loses nothing.
func TestSubscribeToShardRateLimit(t *testing.T) {
	const rate = 512 << 10
	e := newFanEnv(t, awsapi.FanOutOptions{BytesPerSecond: rate})
	c := e.register(t, "app")
	var want []string
	for i := range 24 {
		want = append(want, fmt.Sprintf("%03d", i)+strings.Repeat("x", 64<<10-3)) // 1.5 MiB in all
	}
	e.put(t, want[:12]...)
	e.put(t, want[12:]...)
	start := time.Now()
	stream := subscribe(t, e.kin, c, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
	got, _ := readRecords(t, stream, len(want))
	took := time.Since(start)
	if !slices.Equal(got, want) {
		t.Fatalf("read %d records, want the %d put in order", len(got), len(want))
	}
	// A second's worth goes at once, the rest at the rate: 1.5 MiB in 2 s.
	t.Logf("1.5 MiB at %d KiB/s in %v", rate>>10, took)
	if took < 1900*time.Millisecond || took > 4*time.Second {
		t.Errorf("1.5 MiB at %d KiB/s took %v, want about 2 s", rate>>10, took)
	}
}

// A subscription holds its share of the in-flight limit while it sends an
// event, not while it waits at the tip: subscriptions that wait do not
// starve puts.
func TestSubscriptionsWaitingHoldNoMemory(t *testing.T) {
	e := newFanEnv(t, awsapi.FanOutOptions{})
	big := strings.Repeat("z", 512<<10)
	e.put(t, big, big, big, big)
	var streams []*kinesis.SubscribeToShardEventStream
	for i := range 20 {
		c := e.register(t, fmt.Sprintf("app-%d", i))
		stream := subscribe(t, e.h2cClient(), c, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
		readRecords(t, stream, 4)
		streams = append(streams, stream)
	}
	// 20 subscriptions at the tip: what is held is their requests' small
	// reservations (64 KiB each).
	await.Cond(t, 5*time.Second, "the subscriptions to hold no more than their requests", func() bool {
		return e.inFlight.Used() <= 20*(64<<10+4<<10)
	})
	t.Logf("20 subscriptions at the tip hold %d bytes of the in-flight limit", e.inFlight.Used())
	e.put(t, "after")
	for _, stream := range streams {
		if got, _ := readRecords(t, stream, 1); !slices.Equal(got, []string{"after"}) {
			t.Fatalf("pushed %v", got)
		}
	}
}

// The end of a closed shard is an event without ContinuationSequenceNumber
// that names the children, after which the stream ends; a subscription
// waiting at the tip sees its shard split at once.
func TestSubscribeToShardChildShards(t *testing.T) {
	e := newFanEnv(t, awsapi.FanOutOptions{})
	c := e.register(t, "app")
	e.put(t, "a", "b")
	waiting := subscribe(t, e.kin2, c, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
	readRecords(t, waiting, 2)
	listed, err := e.kin.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	mid := listed.Shards[0].HashKeyRange
	if _, err := e.kin.SplitShard(context.Background(), &kinesis.SplitShardInput{StreamName: aws.String("orders"),
		ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("1000")}); err != nil {
		t.Fatalf("SplitShard (range %v): %v", mid, err)
	}
	check := func(stream *kinesis.SubscribeToShardEventStream) {
		t.Helper()
		ev, ok := next(t, stream)
		for ok && ev.ContinuationSequenceNumber != nil && len(ev.Records) == 0 {
			ev, ok = next(t, stream) // heartbeats
		}
		if !ok {
			t.Fatalf("the stream ended without the shard's end (%v)", stream.Err())
		}
		var children []string
		for _, cs := range ev.ChildShards {
			children = append(children, aws.ToString(cs.ShardId))
			if !slices.Equal(cs.ParentShards, []string{"shardId-000000000000"}) {
				t.Errorf("child %s has parents %v", aws.ToString(cs.ShardId), cs.ParentShards)
			}
		}
		sort.Strings(children)
		if ev.ContinuationSequenceNumber != nil || len(ev.Records) != 0 || !slices.Equal(children, []string{"shardId-000000000004", "shardId-000000000005"}) {
			t.Fatalf("last event: continuation %v, %d records, children %v", ev.ContinuationSequenceNumber, len(ev.Records), children)
		}
		if _, ok := next(t, stream); ok || stream.Err() != nil {
			t.Fatalf("the stream goes on after the shard's end (%v)", stream.Err())
		}
	}
	check(waiting)
	t.Logf("a subscription at the tip saw its shard split after %v", time.Since(start))
	// Read from the start, the closed shard's records and then its end.
	e.clock.Add(5 * time.Second)
	stream := subscribe(t, e.kin, c, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
	if got, _ := readRecords(t, stream, 2); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("read %v from the closed shard", got)
	}
	check(stream)
}

// On a cluster (two nodes on one NATS), a consumer registered on one node
// is the other's too, and a subscription on one is pushed what the other
// stores.
func TestSubscribeToShardCluster(t *testing.T) {
	nc := testnats.StartOne(t)
	clk := &clock{now: t0}
	a := &fanEnv{dir: t.TempDir(), clock: clk, nats: nc.URL(), node: "a"}
	a.start(t, awsapi.FanOutOptions{}, serverTimeouts)
	b := &fanEnv{dir: t.TempDir(), clock: clk, nats: nc.URL(), node: "b"}
	b.start(t, awsapi.FanOutOptions{}, serverTimeouts)
	c := a.register(t, "app")
	d, err := b.kin.DescribeStreamConsumer(context.Background(), &kinesis.DescribeStreamConsumerInput{ConsumerARN: c.ConsumerARN})
	if err != nil || d.ConsumerDescription.ConsumerStatus != types.ConsumerStatusActive {
		t.Fatalf("the other node describes the consumer as %+v (%v)", d, err)
	}
	if _, err := b.kin.RegisterStreamConsumer(context.Background(), &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(b.streamARN),
		ConsumerName: aws.String("app")}); apiCode(err) != "ResourceInUseException" {
		t.Fatalf("registering the name again on the other node: %v", err)
	}
	// Registrations racing on both nodes get as many places as are left.
	errs := make(chan error, 30)
	for i := range 30 {
		kin := []*kinesis.Client{a.kin, b.kin}[i%2]
		go func() {
			_, err := kin.RegisterStreamConsumer(context.Background(), &kinesis.RegisterStreamConsumerInput{
				StreamARN: aws.String(a.streamARN), ConsumerName: aws.String(fmt.Sprintf("racer-%02d", i))})
			errs <- err
		}()
	}
	codes := map[string]int{}
	for range 30 {
		codes[apiCode(<-errs)]++
	}
	if codes[""] != 19 || codes["LimitExceededException"] != 11 {
		t.Fatalf("racing registrations on two nodes: %v, want 19 registered and 11 LimitExceededException", codes)
	}
	a.put(t, "first")
	stream := subscribe(t, b.kin2, c, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
	if got, _ := readRecords(t, stream, 1); !slices.Equal(got, []string{"first"}) {
		t.Fatalf("read %v", got)
	}
	var worst time.Duration
	for i := range 10 {
		data := fmt.Sprintf("pushed-%d", i)
		start := time.Now()
		a.put(t, data)
		if got, _ := readRecords(t, stream, 1); !slices.Equal(got, []string{data}) {
			t.Fatalf("pushed %v, want [%s]", got, data)
		}
		worst = max(worst, time.Since(start))
	}
	t.Logf("put on one node to event on the other: max %v over 10 puts", worst)
	if worst >= 100*time.Millisecond {
		t.Errorf("a record took %v from its put to its event, want < 100 ms", worst)
	}
}

// Merged shards end with the one child that names both as parents.
func TestSubscribeToShardMergedChild(t *testing.T) {
	e := newFanEnv(t, awsapi.FanOutOptions{})
	c := e.register(t, "app")
	c2 := e.register(t, "other")
	left := subscribe(t, e.h2cClient(), c, "shardId-000000000002", types.StartingPosition{Type: types.ShardIteratorTypeLatest})
	right := subscribe(t, e.h2cClient(), c2, "shardId-000000000003", types.StartingPosition{Type: types.ShardIteratorTypeLatest})
	if _, err := e.kin.MergeShards(context.Background(), &kinesis.MergeShardsInput{StreamName: aws.String("orders"),
		ShardToMerge: aws.String("shardId-000000000002"), AdjacentShardToMerge: aws.String("shardId-000000000003")}); err != nil {
		t.Fatal(err)
	}
	for name, stream := range map[string]*kinesis.SubscribeToShardEventStream{"left": left, "right": right} {
		ev, ok := next(t, stream)
		for ok && ev.ContinuationSequenceNumber != nil {
			ev, ok = next(t, stream) // heartbeats
		}
		if !ok || len(ev.ChildShards) != 1 || aws.ToString(ev.ChildShards[0].ShardId) != "shardId-000000000004" ||
			!slices.Equal(ev.ChildShards[0].ParentShards, []string{"shardId-000000000002", "shardId-000000000003"}) {
			t.Fatalf("%s: last event %+v (%v)", name, ev, stream.Err())
		}
		if _, ok := next(t, stream); ok {
			t.Fatalf("%s: the stream goes on after the shard's end", name)
		}
	}
}
