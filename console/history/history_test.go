package history

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

// readings is a Source that answers the next of its steps at each read: the
// values a stream, its shards and a delivery had at that sample.
type readings struct {
	steps [][]Reading
	i     int
	err   error
}

func (r *readings) Read(_ context.Context, dst []Reading) ([]Reading, error) {
	if r.err != nil {
		return dst, r.err
	}
	step := r.steps[min(r.i, len(r.steps)-1)]
	r.i++
	return append(dst, step...), nil
}

type decoded struct {
	Interval float64   `json:"interval_seconds"`
	Times    []int64   `json:"times"`
	Streams  []dStream `json:"streams"`
	Dels     []struct {
		Name       string     `json:"name"`
		LagSeconds []*float64 `json:"lag_seconds"`
		LagRecords []*float64 `json:"lag_records"`
		Retries    []*float64 `json:"retries_per_second"`
	} `json:"deliveries"`
}

type dStream struct {
	Name      string     `json:"name"`
	ShardID   string     `json:"shard_id"`
	Bytes     []*float64 `json:"bytes_per_second"`
	Records   []*float64 `json:"records_per_second"`
	Throttled []*float64 `json:"throttled_per_second"`
	Shards    []dStream  `json:"shards"`
}

func decode(t *testing.T, s *Sampler, f Filter) decoded {
	t.Helper()
	var buf bytes.Buffer
	if err := s.WriteJSON(&buf, f); err != nil {
		t.Fatal(err)
	}
	var d decoded
	if err := json.Unmarshal(buf.Bytes(), &d); err != nil {
		t.Fatalf("%v in %s", err, buf.Bytes())
	}
	return d
}

// vals shows a series with nulls as "-".
func vals(ps []*float64) string {
	var b bytes.Buffer
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(' ')
		}
		if p == nil {
			b.WriteByte('-')
		} else {
			fmt.Fprintf(&b, "%g", *p)
		}
	}
	return b.String()
}

func stream(name string, bytes, recs, thr float64) Reading {
	return Reading{Kind: KindStream, Name: name, Bytes: bytes, Records: recs, Throttled: thr}
}

func TestSampler(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	tests := map[string]struct {
		window  time.Duration // 4 points at 10 s unless set
		steps   [][]Reading
		samples int
		stream  string // the stream's records/s, as vals shows them
		shard   string
		lag     string
		retries string
		streams int
	}{
		"rates from counters; the first sample has none": {
			steps: [][]Reading{
				{stream("a", 0, 0, 0), {Kind: KindShard, Name: "a", Shard: "s0", Records: 5}, {Kind: KindDelivery, Name: "d", LagSeconds: 3, Retries: 7}},
				{stream("a", 100, 50, 10), {Kind: KindShard, Name: "a", Shard: "s0", Records: 25}, {Kind: KindDelivery, Name: "d", LagSeconds: 4, Retries: 7}},
				{stream("a", 300, 150, 10), {Kind: KindShard, Name: "a", Shard: "s0", Records: 45}, {Kind: KindDelivery, Name: "d", LagSeconds: 0.5, Retries: 12}},
			},
			samples: 3, stream: "- 5 10", shard: "- 2 2", lag: "3 4 0.5", retries: "- 0 0.5", streams: 1,
		},
		"a total that goes down restarted from zero": {
			steps:   [][]Reading{{stream("a", 0, 100, 0)}, {stream("a", 0, 200, 0)}, {stream("a", 0, 30, 0)}},
			samples: 3, stream: "- 10 3", streams: 1,
		},
		"the ring keeps the last window": {
			steps:   [][]Reading{{stream("a", 0, 0, 0)}, {stream("a", 0, 10, 0)}, {stream("a", 0, 30, 0)}, {stream("a", 0, 60, 0)}, {stream("a", 0, 100, 0)}, {stream("a", 0, 150, 0)}},
			samples: 6, stream: "2 3 4 5", streams: 1,
		},
		"a series missing from a sample has no point there, nor a rate after": {
			steps:   [][]Reading{{stream("a", 0, 0, 0)}, {stream("a", 0, 10, 0)}, {}, {stream("a", 0, 40, 0)}},
			samples: 4, stream: "- 1 - -", streams: 1,
		},
		"a series gone for a whole window is dropped": {
			steps:   [][]Reading{{stream("a", 0, 0, 0)}, {}, {}, {}, {}},
			samples: 5, streams: 0,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := New(Config{Source: &readings{steps: tc.steps}, Interval: 10 * time.Second, Window: 40 * time.Second})
			for i := range tc.samples {
				if err := s.Sample(context.Background(), t0.Add(time.Duration(i)*10*time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			d := decode(t, s, Filter{})
			if len(d.Streams) != tc.streams {
				t.Fatalf("streams: %+v, want %d", d.Streams, tc.streams)
			}
			if tc.streams == 0 {
				return
			}
			if got := vals(d.Streams[0].Records); got != tc.stream {
				t.Errorf("stream records/s %q, want %q", got, tc.stream)
			}
			if tc.shard != "" {
				if got := vals(d.Streams[0].Shards[0].Records); got != tc.shard {
					t.Errorf("shard records/s %q, want %q", got, tc.shard)
				}
			}
			if tc.lag != "" {
				if got := vals(d.Dels[0].LagSeconds); got != tc.lag {
					t.Errorf("lag %q, want %q", got, tc.lag)
				}
				if got := vals(d.Dels[0].Retries); got != tc.retries {
					t.Errorf("retries/s %q, want %q", got, tc.retries)
				}
			}
			if want := min(tc.samples, 4); len(d.Times) != want || d.Times[len(d.Times)-1] != t0.Add(time.Duration(tc.samples-1)*10*time.Second).UnixMilli() {
				t.Errorf("times %v, want %d ending at the last sample", d.Times, want)
			}
		})
	}
}

func TestSamplerFilterAndErrors(t *testing.T) {
	src := &readings{steps: [][]Reading{{stream("a", 1, 1, 1), stream("b", 1, 1, 1),
		{Kind: KindShard, Name: "b", Shard: "s1"}, {Kind: KindShard, Name: "b", Shard: "s0"},
		{Kind: KindDelivery, Name: "x"}, {Kind: KindDelivery, Name: "y"}}}}
	s := New(Config{Source: src, Interval: time.Second, Window: time.Minute})
	if err := s.Sample(context.Background(), time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	d := decode(t, s, Filter{Stream: "b", Delivery: "y"})
	if len(d.Streams) != 1 || d.Streams[0].Name != "b" || len(d.Streams[0].Shards) != 2 || d.Streams[0].Shards[0].ShardID != "s0" ||
		len(d.Dels) != 1 || d.Dels[0].Name != "y" || d.Interval != 1 {
		t.Fatalf("filtered: %+v", d)
	}
	src.err = errors.New("store closed")
	if err := s.Sample(context.Background(), time.Unix(2, 0)); err == nil {
		t.Fatal("a failed read was not an error")
	}
	if d := decode(t, s, Filter{}); len(d.Times) != 1 {
		t.Fatalf("a failed read took a point: %v", d.Times)
	}
}

// The JSON is JSON whatever a name holds (quotes, backslashes, control
// and non-ASCII characters are escaped as JSON, not as Go) and whatever a
// value is: a rate or gauge past float32's range, infinite once stored,
// is written as null like a missing point.
func TestWriteJSONEscapesAndNonFinite(t *testing.T) {
	name := "a\"\\b\x01\n\u00e9\u2028"
	src := &readings{steps: [][]Reading{
		{stream(name, 0, 0, 0), {Kind: KindShard, Name: name, Shard: "s\"0"}, {Kind: KindDelivery, Name: name, LagSeconds: 1e39, LagRecords: math.Inf(-1)}},
		{stream(name, 0, 1e300, 0), {Kind: KindShard, Name: name, Shard: "s\"0"}, {Kind: KindDelivery, Name: name, LagSeconds: 2}},
	}}
	s := New(Config{Source: src, Interval: time.Second, Window: time.Minute})
	for i := range 2 {
		if err := s.Sample(context.Background(), time.Unix(int64(i+1), 0)); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := s.WriteJSON(&buf, Filter{}); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(buf.Bytes()) {
		t.Fatalf("invalid JSON: %s", buf.Bytes())
	}
	d := decode(t, s, Filter{})
	if len(d.Streams) != 1 || d.Streams[0].Name != name || len(d.Streams[0].Shards) != 1 || d.Streams[0].Shards[0].ShardID != "s\"0" ||
		len(d.Dels) != 1 || d.Dels[0].Name != name {
		t.Fatalf("names not kept: %+v", d)
	}
	if got := vals(d.Streams[0].Records); got != "- -" {
		t.Errorf("records/s past float32's range: %q, want null", got)
	}
	if got := vals(d.Dels[0].LagSeconds); got != "- 2" {
		t.Errorf("lag seconds past float32's range: %q, want null then 2", got)
	}
	if got := vals(d.Dels[0].LagRecords); got != "- 0" {
		t.Errorf("lag records -Inf: %q, want null then 0", got)
	}
}

// blocking is a Source whose Read waits until release closes, after
// saying on reading that it has begun.
type blocking struct {
	reading, release chan struct{}
}

func (b *blocking) Read(ctx context.Context, dst []Reading) ([]Reading, error) {
	close(b.reading)
	<-b.release
	return append(dst, stream("a", 0, 0, 0)), nil
}

// A source that takes long to read (a cluster's status waits on NATS)
// does not hold up the history's readers: they get the samples before.
func TestWriteJSONDoesNotWaitForTheSource(t *testing.T) {
	src := &blocking{reading: make(chan struct{}), release: make(chan struct{})}
	s := New(Config{Source: src, Interval: time.Second, Window: time.Minute})
	sampled := make(chan error, 1)
	go func() { sampled <- s.Sample(context.Background(), time.Unix(1, 0)) }()
	<-src.reading
	var buf bytes.Buffer
	written := make(chan error, 1)
	go func() { written <- s.WriteJSON(&buf, Filter{}) }()
	select {
	case err := <-written:
		var d decoded
		if err == nil {
			err = json.Unmarshal(buf.Bytes(), &d)
		}
		if err != nil || len(d.Times) != 0 {
			t.Errorf("times %v before the first sample was taken (%v)", d.Times, err)
		}
	case <-time.After(10 * time.Second):
		t.Error("WriteJSON waited for the source's read")
	}
	close(src.release)
	if err := <-sampled; err != nil {
		t.Fatal(err)
	}
	if d := decode(t, s, Filter{}); len(d.Times) != 1 || len(d.Streams) != 1 {
		t.Fatalf("after the read: %+v", d)
	}
}

func TestRunSamplesAtEachTick(t *testing.T) {
	s := New(Config{Source: &readings{steps: [][]Reading{{stream("a", 0, 0, 0)}}}, Interval: time.Second, Window: time.Minute})
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, ticks); close(done) }()
	ticks <- time.Unix(1, 0)
	ticks <- time.Unix(2, 0) // taken only after the first sample is done
	cancel()
	<-done
	if d := decode(t, s, Filter{}); len(d.Times) < 1 {
		t.Fatalf("times %v after two ticks", d.Times)
	}
}

// BenchmarkSample is one sample of 20 streams of 8 shards and 10
// deliveries: the work the sampler adds every interval.
func BenchmarkSample(b *testing.B) {
	var step []Reading
	for i := range 20 {
		name := fmt.Sprintf("stream-%02d", i)
		step = append(step, stream(name, 1, 1, 1))
		for j := range 8 {
			step = append(step, Reading{Kind: KindShard, Name: name, Shard: fmt.Sprintf("shardId-%012d", j), Records: 1})
		}
	}
	for i := range 10 {
		step = append(step, Reading{Kind: KindDelivery, Name: fmt.Sprintf("delivery-%02d", i), LagSeconds: 1})
	}
	s := New(Config{Source: &readings{steps: [][]Reading{step}}, Interval: 10 * time.Second, Window: time.Hour})
	now := time.Unix(1_800_000_000, 0)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(10 * time.Second)
		if err := s.Sample(ctx, now); err != nil {
			b.Fatal(err)
		}
	}
}
