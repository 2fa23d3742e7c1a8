package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/internal/testnet"
)

// scrape returns the samples of GET /metrics, by series as exposed
// (name{label="value",...}, labels sorted).
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// One put → flush → deliver cycle through an in-process server, read back
// from the text GET /metrics serves: what came in per stream and API, how
// long the puts took, the interval flush and the delivered batch, and the
// buffers and freshness back at 0 — while a second delivery of the same
// stream, with a 15-minute interval, still holds the records and shows
// their age.
func TestMetricsOfAPutDeliverCycle(t *testing.T) {
	dir := t.TempDir()
	base := fmt.Sprintf("http://127.0.0.1:%d", testnet.FreePort(t))
	path := filepath.Join(dir, "hydrant.yaml")
	yaml := fmt.Sprintf(`server:
  listen: %s
storage:
  data_dir: %s
streams:
  - name: events
    shards: 2
deliveries:
  - name: fast
    source: events
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: %s, compression: none}
  - name: slow
    source: events
    buffer: {size: 1MiB, interval: 900s}
    destination:
      file: {dir: %s, compression: none}
`, strings.TrimPrefix(base, "http://"), filepath.Join(dir, "data"), filepath.Join(dir, "fast"), filepath.Join(dir, "slow"))
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	regs := newRegistries()
	cfg, err := loadConfig(path, regs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, cfg, regs, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not return within 30 s of the shutdown")
		}
	})
	await.Cond(t, 30*time.Second, "hydrant ready", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	post := func(path, contentType, body string, header map[string]string, want int) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	post("/v1/streams/nope/records", "application/x-ndjson", "{\"n\":0}\n", nil, http.StatusNotFound)
	post("/v1/streams/events/records", "application/x-ndjson", "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n", nil, http.StatusOK)
	// {"n":4}, base64 in the Kinesis API's JSON.
	post("/", "application/x-amz-json-1.1", `{"StreamName":"events","Records":[{"Data":"eyJuIjo0fQ==","PartitionKey":"k"}]}`,
		map[string]string{"X-Amz-Target": "Kinesis_20131202.PutRecords"}, http.StatusOK)

	var m map[string]float64
	// A batch is counted by result once it is done (after its records stopped
	// counting as pending): every flushed batch done is the end of the cycle.
	await.Cond(t, 30*time.Second, "fast to deliver all 4 records and slow to buffer them", func() bool {
		m = scrape(t, base)
		flushed := m[`hydrant_delivery_flushes_total{delivery="fast",reason="interval"}`]
		return m[`hydrant_delivery_records_total{delivery="fast"}`] == 4 && flushed > 0 &&
			m[`hydrant_delivery_batches_total{delivery="fast",result="ok"}`] == flushed &&
			m[`hydrant_delivery_buffer_bytes{delivery="slow"}`] == 28 &&
			m[`hydrant_delivery_data_freshness_seconds{delivery="fast"}`] == 0 // nothing pending once every shard moved on
	})
	exact := map[string]float64{
		`hydrant_ingest_incoming_requests_total{api="native",stream="events"}`:  1,
		`hydrant_ingest_incoming_records_total{api="native",stream="events"}`:   3,
		`hydrant_ingest_incoming_bytes_total{api="native",stream="events"}`:     21,
		`hydrant_ingest_incoming_requests_total{api="kinesis",stream="events"}`: 1,
		`hydrant_ingest_incoming_records_total{api="kinesis",stream="events"}`:  1,
		`hydrant_ingest_incoming_bytes_total{api="kinesis",stream="events"}`:    7,
		// Every put request is timed, the one to an unknown stream too.
		`hydrant_ingest_put_duration_seconds_count{api="native"}`:                         2,
		`hydrant_ingest_put_duration_seconds_count{api="kinesis"}`:                        1,
		`hydrant_delivery_records_total{delivery="fast"}`:                                 4,
		`hydrant_delivery_bytes_total{delivery="fast"}`:                                   28,
		`hydrant_delivery_buffer_bytes{delivery="fast"}`:                                  0,
		`hydrant_delivery_data_freshness_seconds{delivery="fast"}`:                        0,
		`hydrant_delivery_flushes_total{delivery="fast",reason="size"}`:                   0,
		`hydrant_delivery_batches_total{delivery="fast",result="failed"}`:                 0,
		`hydrant_delivery_retries_total{delivery="fast"}`:                                 0,
		`hydrant_delivery_buffer_bytes{delivery="slow"}`:                                  28,
		`hydrant_delivery_records_total{delivery="slow"}`:                                 0,
		`hydrant_store_throttled_records_total{reason="quota",shard="1",stream="events"}`: 0,
	}
	for series, want := range exact {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (exposed: %v), want %v", series, got, ok, want)
		}
	}
	atLeast := map[string]float64{
		`hydrant_delivery_flushes_total{delivery="fast",reason="interval"}`:  1, // one per shard that got records
		`hydrant_delivery_batches_total{delivery="fast",result="ok"}`:        1,
		`hydrant_delivery_duration_seconds_count{delivery="fast"}`:           1,
		`hydrant_delivery_data_freshness_seconds{delivery="slow"}`:           1e-9, // its records are pending
		`hydrant_ingest_put_duration_seconds_bucket{api="native",le="10"}`:   2,
		`hydrant_ingest_put_duration_seconds_bucket{api="native",le="+Inf"}`: 2,
	}
	for series, min := range atLeast {
		if got, ok := m[series]; !ok || got < min {
			t.Errorf("%s = %v (exposed: %v), want at least %v", series, got, ok, min)
		}
	}
	for series := range m {
		if strings.Contains(series, `stream="nope"`) {
			t.Errorf("a put to an unknown stream created %s", series)
		}
	}
}
