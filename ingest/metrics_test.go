package ingest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/hydrant-dev/hydrant/shards"
)

// putCount is what the put counters of one stream (api native) say.
type putCount struct{ requests, records, bytes float64 }

// Puts count per target name: a request handed to the shard log counts,
// with the records it stored and their data bytes; a request refused before
// counts nowhere but in the put durations, and a name that is no target
// (or a delivery that takes no puts) never becomes a label.
func TestPutMetrics(t *testing.T) {
	tests := map[string]struct {
		stream string
		header http.Header
		body   string
		drain  bool // plain's quota is used up before the request, by puts to the log itself
		status int
		want   map[string]putCount // by stream; the others all 0
	}{
		"stored": {stream: "clicks", header: hdr("Content-Type", "application/x-ndjson"),
			body: "{\"user_id\":\"a\"}\n{\"user_id\":\"bb\"}\n", status: 200,
			want: map[string]putCount{"clicks": {1, 2, 31}}},
		"partly throttled: only the stored records count": {stream: "plain", header: hdr("Content-Type", "text/plain"),
			body: "one\ntwo\nthree\nfour\nfive\n", status: 207,
			want: map[string]putCount{"plain": {1, 3, 11}}},
		"all throttled: a request with no record stored": {stream: "plain", header: hdr("Content-Type", "text/plain"),
			body: "one\ntwo\n", drain: true, status: 429,
			want: map[string]putCount{"plain": {1, 0, 0}}},
		"unknown stream": {stream: "nope", body: "{}\n", status: 404},
		"bad body":       {stream: "clicks", header: hdr("Content-Type", "application/x-ndjson"), body: "{\n", status: 400},
		"delivery reading a stream takes no puts": {stream: "clicks-archive", body: "{}\n", status: 400},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			env := newTestEnv(t, shards.Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 3})
			reg := prometheus.NewRegistry()
			m := metrics.NewIngest(reg)
			s, err := NewServer(Limits{MaxRequestSize: 1 << 20, MaxRecordSize: 1000}, map[string]Target{
				"clicks": {Stream: mustStream(t, env, "clicks"), PartitionKeyField: "/user_id"}, "plain": {Stream: mustStream(t, env, "plain")},
				"clicks-archive": {ReadsFrom: "clicks"},
			}, nil, Settings{Now: func() time.Time { return env.now }, Metrics: m})
			if err != nil {
				t.Fatal(err)
			}
			env.srv = httptest.NewServer(s.Handler())
			defer env.srv.Close()
			if tt.drain {
				mustStream(t, env, "plain").Put(context.Background(), env.now, make([]shards.Record, 3))
			}
			if status, _, resp := env.put(t, tt.stream, tt.header, []byte(tt.body)); status != tt.status {
				t.Fatalf("status %d, want %d: %+v", status, tt.status, resp)
			}
			// The targets that take puts have series from the start; no other name has one.
			for _, vec := range []*prometheus.CounterVec{m.Requests, m.Records, m.Bytes} {
				if n := testutil.CollectAndCount(vec); n != 2 {
					t.Errorf("%d series, want 2 (clicks and plain)", n)
				}
			}
			for _, stream := range []string{"clicks", "plain"} {
				got := putCount{
					testutil.ToFloat64(m.Requests.WithLabelValues(stream, metrics.APINative)),
					testutil.ToFloat64(m.Records.WithLabelValues(stream, metrics.APINative)),
					testutil.ToFloat64(m.Bytes.WithLabelValues(stream, metrics.APINative)),
				}
				if got != tt.want[stream] {
					t.Errorf("%s: requests, records, bytes = %v, want %v", stream, got, tt.want[stream])
				}
			}
			if n := histogramCount(t, reg, "hydrant_ingest_put_duration_seconds", metrics.APINative); n != 1 {
				t.Errorf("%d put durations observed, want 1", n)
			}
		})
	}
}

// histogramCount returns the observations of a histogram on reg whose api
// label is api.
func histogramCount(t *testing.T, reg *prometheus.Registry, name, api string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "api" && l.GetValue() == api {
					n += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return n
}
