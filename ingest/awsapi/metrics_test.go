package awsapi_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/metrics"
)

// putCount is what the put counters of one stream and API say.
type putCount struct{ requests, records, bytes float64 }

func kinesisRecords(data ...string) []types.PutRecordsRequestEntry {
	out := make([]types.PutRecordsRequestEntry, len(data))
	for i, d := range data {
		out[i] = types.PutRecordsRequestEntry{Data: []byte(d), PartitionKey: aws.String("k")}
	}
	return out
}

// Puts through the Kinesis and Firehose APIs count per stream or delivery
// stream the catalog has: a request that reached the shard log, the records
// it stored and their bytes. A put naming no stream, or a delivery stream
// that takes no puts, creates no series; every put operation is timed, and
// nothing else is.
func TestPutMetrics(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		do    func(t *testing.T, e *env)
		want  map[[2]string]putCount // by stream and api
		timed map[string]uint64      // put durations observed, by api
	}{
		"kinesis PutRecords": {
			do: func(t *testing.T, e *env) {
				if _, err := e.kin.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("clicks"), Records: kinesisRecords("a", "bb", "ccc")}); err != nil {
					t.Fatal(err)
				}
			},
			want:  map[[2]string]putCount{{"clicks", "kinesis"}: {1, 3, 6}},
			timed: map[string]uint64{"kinesis": 1},
		},
		"kinesis PutRecords partly throttled": { // tiny takes 3 records a second
			do: func(t *testing.T, e *env) {
				out, err := e.kin.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("tiny"), Records: kinesisRecords("1", "2", "3", "4", "5")})
				if err != nil || *out.FailedRecordCount != 2 {
					t.Fatalf("%v, %v", out, err)
				}
			},
			want:  map[[2]string]putCount{{"tiny", "kinesis"}: {1, 3, 3}},
			timed: map[string]uint64{"kinesis": 1},
		},
		"kinesis PutRecord, the last one throttled": {
			do: func(t *testing.T, e *env) {
				for i := range 4 {
					_, err := e.kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("tiny"), Data: []byte("xy"), PartitionKey: aws.String("k")})
					if (err != nil) != (i == 3) {
						t.Fatalf("put %d: %v", i, err)
					}
				}
			},
			want:  map[[2]string]putCount{{"tiny", "kinesis"}: {4, 3, 6}},
			timed: map[string]uint64{"kinesis": 4},
		},
		"firehose PutRecordBatch and PutRecord": {
			do: func(t *testing.T, e *env) {
				if _, err := e.fh.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("events"),
					Records: []fhtypes.Record{{Data: []byte("one")}, {Data: []byte("two")}}}); err != nil {
					t.Fatal(err)
				}
				if _, err := e.fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("events"),
					Record: &fhtypes.Record{Data: []byte("three")}}); err != nil {
					t.Fatal(err)
				}
			},
			want:  map[[2]string]putCount{{"events", "firehose"}: {2, 3, 11}},
			timed: map[string]uint64{"firehose": 2},
		},
		"unknown stream and delivery stream": {
			do: func(t *testing.T, e *env) {
				if _, err := e.kin.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("nope"), Records: kinesisRecords("a")}); err == nil {
					t.Fatal("put to an unknown stream succeeded")
				}
				if _, err := e.fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("nope"),
					Record: &fhtypes.Record{Data: []byte("a")}}); err == nil {
					t.Fatal("put to an unknown delivery stream succeeded")
				}
			},
			timed: map[string]uint64{"kinesis": 1, "firehose": 1},
		},
		"delivery stream that reads a stream": {
			do: func(t *testing.T, e *env) {
				if _, err := e.fh.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("clicks-archive"),
					Record: &fhtypes.Record{Data: []byte("a")}}); err == nil {
					t.Fatal("put to a KinesisStreamAsSource delivery stream succeeded")
				}
			},
			timed: map[string]uint64{"firehose": 1},
		},
		"not a put": {
			do: func(t *testing.T, e *env) {
				if _, err := e.kin.ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m := metrics.NewIngest(reg)
			e := newEnvOptions(t, awsapi.Options{Metrics: m})
			tt.do(t, e)
			for _, vec := range []*prometheus.CounterVec{m.Requests, m.Records, m.Bytes} {
				if n := testutil.CollectAndCount(vec); n != len(tt.want) {
					t.Errorf("%d series, want %d", n, len(tt.want))
				}
			}
			for k, want := range tt.want {
				got := putCount{
					testutil.ToFloat64(m.Requests.WithLabelValues(k[0], k[1])),
					testutil.ToFloat64(m.Records.WithLabelValues(k[0], k[1])),
					testutil.ToFloat64(m.Bytes.WithLabelValues(k[0], k[1])),
				}
				if got != want {
					t.Errorf("%s %s: requests, records, bytes = %v, want %v", k[0], k[1], got, want)
				}
			}
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			timed := map[string]uint64{}
			for _, mf := range mfs {
				if mf.GetName() == "hydrant_ingest_put_duration_seconds" {
					for _, s := range mf.GetMetric() {
						if n := s.GetHistogram().GetSampleCount(); n > 0 {
							timed[s.GetLabel()[0].GetValue()] = n
						}
					}
				}
			}
			if len(timed) != len(tt.timed) {
				t.Errorf("put durations observed %v, want %v", timed, tt.timed)
			}
			for api, n := range tt.timed {
				if timed[api] != n {
					t.Errorf("put durations observed %v, want %v", timed, tt.timed)
				}
			}
		})
	}
}
