package awsapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/hydrant-dev/hydrant/ingest/awsapi"
)

// BenchmarkSubscribeToShard reads 32 MiB of 4 KiB records from a shard's
// trim horizon through SubscribeToShard and the AWS SDK for Go (JSON over
// HTTP/1.1 and h2c), unpaced: the server's event encoding and the event
// stream's framing, end to end.
func BenchmarkSubscribeToShard(b *testing.B) {
	e := newFanEnv(b, awsapi.FanOutOptions{BytesPerSecond: 1 << 40})
	c := e.register(b, "bench")
	const size, total = 4 << 10, 32 << 20
	data := make([]string, 500)
	for i := range data {
		data[i] = fmt.Sprintf("%04d", i) + strings.Repeat("r", size-4)
	}
	for range total / size / len(data) {
		e.put(b, data...)
	}
	n := total / size / len(data) * len(data)
	for name, kin := range map[string]*kinesis.Client{"HTTP/1.1": e.kin, "h2c": e.kin2} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n * size))
			for b.Loop() {
				e.clock.Add(5 * time.Second) // each subscription takes over the last
				stream := subscribe(b, kin, c, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon})
				if got, _ := readRecords(b, stream, n); len(got) != n {
					b.Fatalf("read %d records", len(got))
				}
				closeStream(stream)
			}
		})
	}
}

// BenchmarkSubscribeToShardPush measures how soon a reader at the tip gets
// a record after its put is called (the put's own time included): the
// issue's target is 100 ms. It reports the mean and the worst in ms.
func BenchmarkSubscribeToShardPush(b *testing.B) {
	e := newFanEnv(b, awsapi.FanOutOptions{})
	c := e.register(b, "bench")
	stream := subscribe(b, e.kin2, c, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeLatest})
	b.ReportAllocs()
	var worst, total time.Duration
	n := 0
	for b.Loop() {
		start := time.Now()
		took := pushLatency(b, e, stream, 1)
		worst, total, n = max(worst, took), total+time.Since(start), n+1
	}
	b.ReportMetric(float64(total.Microseconds())/float64(n)/1000, "ms-mean")
	b.ReportMetric(float64(worst.Microseconds())/1000, "ms-worst")
}
