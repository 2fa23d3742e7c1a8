package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Result is what a run measured, with the settings that produced it. It is
// what -json prints.
type Result struct {
	Target            string `json:"target"`
	URL               string `json:"url"`
	Stream            string `json:"stream"`
	Started           bool   `json:"started_server"` // false with -url
	Fsync             string `json:"fsync,omitempty"`
	Delivery          bool   `json:"delivery"` // a file delivery read the stream during the run
	Shards            int    `json:"shards,omitempty"`
	RecordSize        int    `json:"record_size_bytes"`
	RecordsPerRequest int    `json:"records_per_request"`
	Concurrency       int    `json:"concurrency"`
	Duration          string `json:"duration"`
	Warmup            string `json:"warmup"`

	Requests      int64  `json:"requests"`
	RequestErrors int64  `json:"request_errors"`
	RecordsStored int64  `json:"records_stored"`
	RecordsFailed int64  `json:"records_failed"`
	FirstError    string `json:"first_error,omitempty"`

	RecordsPerSecond  float64        `json:"records_per_second"`
	MiBPerSecond      float64        `json:"mib_per_second"`
	RequestsPerSecond float64        `json:"requests_per_second"`
	LatencyMillis     LatencySummary `json:"latency_ms"`

	Process      *ProcessSummary `json:"process,omitempty"`     // only for a started server
	GeneratorCPU float64         `json:"generator_cpu_seconds"` // this process, during the window
	// Consumer is what a GetRecords consumer read beside the producers
	// (the matrix's consumer row only).
	Consumer *ConsumerSummary `json:"consumer,omitempty"`
}

// LatencySummary is the request latency distribution, in milliseconds.
type LatencySummary struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// ProcessSummary is what the started server used.
type ProcessSummary struct {
	CPUSeconds float64 `json:"cpu_seconds"` // during the measured window
	Cores      float64 `json:"cores"`       // CPU seconds per second of the window
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

// newResult turns a measurement into the figures reported.
func newResult(opts options, target, base string, m *measurement) *Result {
	secs := m.window.Seconds()
	st := m.stats
	r := &Result{
		Target:            target,
		URL:               base,
		Stream:            opts.stream,
		Started:           opts.url == "",
		RecordSize:        opts.recordSize,
		RecordsPerRequest: opts.recordsPerRequest,
		Concurrency:       opts.concurrency,
		Duration:          opts.duration.String(),
		Warmup:            opts.warmup.String(),
		Requests:          st.requests,
		RequestErrors:     st.requestErrors,
		RecordsStored:     st.recordsStored,
		RecordsFailed:     st.recordsFailed,
		RecordsPerSecond:  float64(st.recordsStored) / secs,
		MiBPerSecond:      float64(st.recordsStored) * float64(opts.recordSize) / (1 << 20) / secs,
		RequestsPerSecond: float64(st.requests) / secs,
		LatencyMillis:     summarizeLatencies(st.latencies),
		GeneratorCPU:      m.generatorCPU.Seconds(),
	}
	if r.Started {
		r.Fsync, r.Shards, r.Delivery = opts.fsync, opts.shards, opts.deliver
	}
	if st.firstErr != nil {
		r.FirstError = st.firstErr.Error()
	}
	if u := m.usage; u != nil {
		r.Process = &ProcessSummary{
			CPUSeconds: u.cpu.Seconds(),
			Cores:      u.cpu.Seconds() / secs,
			PeakRSSMiB: float64(u.peakRSS) / (1 << 20),
		}
	}
	return r
}

// summarizeLatencies sorts latencies in place and summarizes them.
func summarizeLatencies(latencies []time.Duration) LatencySummary {
	slices.Sort(latencies)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return LatencySummary{
		P50: ms(percentile(latencies, 50)),
		P95: ms(percentile(latencies, 95)),
		P99: ms(percentile(latencies, 99)),
		Max: ms(percentile(latencies, 100)),
	}
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value at least p% of the values are at
// or below. It returns 0 for an empty slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// check fails the run when no request completed in the window or more than
// maxRatio of them failed.
func (r *Result) check(maxRatio float64) error {
	if r.Requests == 0 {
		return fmt.Errorf("no request completed in the %s window", r.Duration)
	}
	if ratio := float64(r.RequestErrors) / float64(r.Requests); ratio > maxRatio {
		return fmt.Errorf("%d of %d requests failed (%.1f%%, limit %.0f%%); first error: %s",
			r.RequestErrors, r.Requests, 100*ratio, 100*maxRatio, r.FirstError)
	}
	return nil
}

// writeResult prints r as indented JSON or as the table.
func writeResult(w io.Writer, r *Result, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	_, err := io.WriteString(w, r.table())
	return err
}

// table renders r as aligned lines of text.
func (r *Result) table() string {
	var b strings.Builder
	b.WriteString(r.Target + " ")
	if r.Started {
		fmt.Fprintf(&b, " fsync=%s shards=%d delivery=%v", r.Fsync, r.Shards, r.Delivery)
	} else {
		fmt.Fprintf(&b, " url=%s stream=%s", r.URL, r.Stream)
	}
	fmt.Fprintf(&b, " record=%dB batch=%d concurrency=%d duration=%s\n",
		r.RecordSize, r.RecordsPerRequest, r.Concurrency, r.Duration)
	row := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-14s"+format+"\n", append([]any{label}, args...)...)
	}
	l := r.LatencyMillis
	row("records/s", "%.0f", r.RecordsPerSecond)
	row("MiB/s", "%.1f", r.MiBPerSecond)
	row("requests/s", "%.1f", r.RequestsPerSecond)
	row("latency p50", "%.1fms  p95 %.1fms  p99 %.1fms  max %.1fms", l.P50, l.P95, l.P99, l.Max)
	row("failed", "%d records, %d request errors", r.RecordsFailed, r.RequestErrors)
	if r.FirstError != "" {
		row("first error", "%s", r.FirstError)
	}
	if p := r.Process; p != nil {
		row("cpu", "%.1fs (%.2f cores)", p.CPUSeconds, p.Cores)
		row("peak RSS", "%.1f MiB", p.PeakRSSMiB)
	}
	row("generator cpu", "%.1fs", r.GeneratorCPU)
	return b.String()
}
