package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/console"
	"github.com/hydrant-dev/hydrant/console/history"
	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/ingest/auth"
	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/hydrant-dev/hydrant/shards"
)

// consoleSampleEnv overrides the console history's sample interval (10 s):
// tests set it to 1s so that charts have points within seconds.
const consoleSampleEnv = "HYDRANT_CONSOLE_SAMPLE_INTERVAL"

// consoleEnv is what the web console reads.
type consoleEnv struct {
	board  *statusBoard
	cat    *catalog.Catalog
	store  *shards.Store
	ingest *metrics.Ingest
	// throttled is hydrant_store_throttled_records_total, retries
	// hydrant_delivery_retries_total.
	throttled, retries prometheus.Collector
	authn              *auth.Authenticator
	logger             *slog.Logger
}

// withConsole serves the web console at /console/ (its page shell and
// assets, which hold no data, without credentials) and its history at
// GET /v1/console/history (with the credentials /v1/status needs) beside
// h, and samples the history until the returned stop is called.
func withConsole(h http.Handler, env consoleEnv) (http.Handler, func(), error) {
	interval := 10 * time.Second
	if v := os.Getenv(consoleSampleEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond || d > time.Hour {
			return nil, nil, fmt.Errorf("%s=%q: must be a duration from 100ms to 1h", consoleSampleEnv, v)
		}
		interval = d
	}
	sampler := history.New(history.Config{Source: consoleSource{env}, Interval: interval, Window: time.Hour, Logger: env.logger})
	ctx, cancel := context.WithCancel(context.Background())
	ticker := time.NewTicker(interval)
	done := make(chan struct{})
	go func() { sampler.Run(ctx, ticker.C); close(done) }()
	stop := func() { cancel(); ticker.Stop(); <-done }

	mux := http.NewServeMux()
	mux.Handle("/console/", console.Handler())
	mux.Handle("GET /v1/console/history", ingest.RequireAction(env.authn, auth.ActionGetStatus, console.HistoryHandler(sampler)))
	mux.Handle("/", h)
	return mux, stop, nil
}

// consoleSource reads the history's samples: the status report's shard
// counters and delivery lag, the ingest and throttling counters.
type consoleSource struct{ env consoleEnv }

// Read implements history.Source. A stream's bytes and records are what its
// puts stored (hydrant_ingest_incoming_*); a shard's records are its running
// count and its bytes what its log holds (so a trim shows as no growth); a
// delivery's lag is the status report's, its retries the retried attempts
// of its batches (hydrant_delivery_retries_total).
func (s consoleSource) Read(ctx context.Context, dst []history.Reading) ([]history.Reading, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rep, err := s.env.board.report(ctx, s.env.cat, s.env.store, time.Now())
	if err != nil {
		return dst, err
	}
	in := map[string][2]float64{} // stream → bytes, records
	collect(s.env.ingest.Bytes, func(l labels, v float64) { c := in[l["stream"]]; c[0] += v; in[l["stream"]] = c })
	collect(s.env.ingest.Records, func(l labels, v float64) { c := in[l["stream"]]; c[1] += v; in[l["stream"]] = c })
	throttled := map[[2]string]float64{} // stream, shard index → records
	collect(s.env.throttled, func(l labels, v float64) { throttled[[2]string{l["stream"], l["shard"]}] += v })
	for _, st := range rep.Streams {
		r := history.Reading{Kind: history.KindStream, Name: st.Name, Bytes: in[st.Name][0], Records: in[st.Name][1]}
		at := len(dst)
		dst = append(dst, r)
		for i, sh := range st.Shards {
			thr := throttled[[2]string{st.Name, strconv.Itoa(i)}]
			dst[at].Throttled += thr
			dst = append(dst, history.Reading{Kind: history.KindShard, Name: st.Name, Shard: sh.ShardID,
				Bytes: float64(sh.Bytes), Records: float64(max(sh.RecordsTotal, 0)), Throttled: thr})
		}
	}
	retries := map[string]float64{}
	collect(s.env.retries, func(l labels, v float64) { retries[l["delivery"]] += v })
	for _, d := range rep.Deliveries {
		dst = append(dst, history.Reading{Kind: history.KindDelivery, Name: d.Name, LagSeconds: d.LagSeconds,
			LagRecords: float64(max(d.LagRecords, 0)), Retries: retries[d.Name]})
	}
	return dst, nil
}

type labels map[string]string

// collect calls fn with each counter series of c: its labels and value.
func collect(c prometheus.Collector, fn func(labels, float64)) {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil || d.Counter == nil {
			continue
		}
		l := make(labels, len(d.Label))
		for _, p := range d.Label {
			l[p.GetName()] = p.GetValue()
		}
		fn(l, d.Counter.GetValue())
	}
}
