package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// bodyVariants is how many different request bodies the workers cycle
// through.
const bodyVariants = 4

// requestTimeout bounds one put; it matches the server's write timeout.
const requestTimeout = 2 * time.Minute

// errServerExited means the started hydrant exited while it was being
// measured.
var errServerExited = errors.New("hydrant exited during the run")

// buildBodies returns variants NDJSON request bodies of perBody records
// each. Every record is a JSON object of exactly recordSize bytes, followed
// by a newline; sequence numbers run on across the bodies, so no two
// records are the same.
func buildBodies(recordSize, perBody, variants int) ([][]byte, error) {
	bodies := make([][]byte, variants)
	seq := 0
	for v := range bodies {
		body := make([]byte, 0, perBody*(recordSize+1))
		for range perBody {
			var err error
			if body, err = appendRecord(body, seq, recordSize); err != nil {
				return nil, err
			}
			body = append(body, '\n')
			seq++
		}
		bodies[v] = body
	}
	return bodies, nil
}

// appendRecord appends a JSON object of exactly size bytes,
// {"seq":N,"user_id":"u-M","pad":"xxx…"}, to dst.
func appendRecord(dst []byte, seq, size int) ([]byte, error) {
	start := len(dst)
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendInt(dst, int64(seq), 10)
	dst = append(dst, `,"user_id":"u-`...)
	dst = strconv.AppendInt(dst, int64(seq%1000), 10)
	dst = append(dst, `","pad":"`...)
	const end = `"}`
	pad := size - (len(dst) - start) - len(end)
	if pad < 0 {
		return dst[:start], fmt.Errorf("record %d does not fit in %d bytes", seq, size)
	}
	for range pad {
		dst = append(dst, 'x')
	}
	return append(dst, end...), nil
}

// newClient returns the HTTP client the workers share, keeping one idle
// connection per worker.
func newClient(concurrency int) *http.Client {
	return &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        concurrency,
			MaxIdleConnsPerHost: concurrency,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// workload is what the workers send and where.
type workload struct {
	client         *http.Client
	url            string // the stream's records endpoint
	bodies         [][]byte
	recordsPerBody int

	// The measured window: requests that complete within it are counted.
	windowStart, windowEnd time.Time
}

// workerStats are the requests one worker completed in the window.
type workerStats struct {
	requests      int64
	requestErrors int64
	recordsStored int64
	recordsFailed int64
	latencies     []time.Duration
	firstErr      error // an example of what went wrong, for the report
}

// measurement is the outcome of a run.
type measurement struct {
	window time.Duration
	stats  workerStats
	usage  *processUsage // nil when no process was measured
}

// processUsage is what the started hydrant used.
type processUsage struct {
	cpu     time.Duration // user + system CPU time during the window
	peakRSS int64         // bytes, since the process started
}

// measure runs concurrency workers for the warmup and the window, and
// samples process pid (when not 0) at the window's edges. It fails when ctx
// ends or exited (when not nil) is closed before the window is over.
func (w *workload) measure(ctx context.Context, opts options, pid int, exited <-chan struct{}, progress io.Writer) (*measurement, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w.windowStart = time.Now().Add(opts.warmup)
	w.windowEnd = w.windowStart.Add(opts.duration)
	perWorker := make([]workerStats, opts.concurrency)
	var wg sync.WaitGroup
	for i := range perWorker {
		wg.Go(func() { perWorker[i] = w.run(ctx, i) })
	}
	usage, err := sampleWindow(ctx, w.windowStart, w.windowEnd, pid, exited, progress)
	if err != nil {
		cancel()
	}
	wg.Wait() // requests still in flight at the window's end finish uncounted
	if err != nil {
		return nil, err
	}
	return &measurement{window: opts.duration, stats: mergeStats(perWorker), usage: usage}, nil
}

// sampleWindow waits for the window and returns what process pid used in
// it, or nil when pid is 0 or /proc cannot be read.
func sampleWindow(ctx context.Context, start, end time.Time, pid int, exited <-chan struct{}, progress io.Writer) (*processUsage, error) {
	if err := waitUntil(ctx, start, exited); err != nil {
		return nil, err
	}
	var cpu0 time.Duration
	var procErr error
	if pid != 0 {
		cpu0, procErr = processCPU(pid)
	}
	if err := waitUntil(ctx, end, exited); err != nil {
		return nil, err
	}
	if pid == 0 {
		return nil, nil
	}
	cpu1, err1 := processCPU(pid)
	rss, err2 := processPeakRSS(pid)
	if err := errors.Join(procErr, err1, err2); err != nil {
		fmt.Fprintf(progress, "hydrant-load: warning: no CPU/RSS figures: %v\n", err)
		return nil, nil
	}
	return &processUsage{cpu: cpu1 - cpu0, peakRSS: rss}, nil
}

// waitUntil blocks until t, or fails when ctx ends or exited is closed.
func waitUntil(ctx context.Context, t time.Time, exited <-chan struct{}) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-exited:
		return errServerExited
	case <-ctx.Done():
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
}

// run is one worker: it posts bodies back to back until the window ends
// and records the requests that completed inside it. Worker id starts at
// body id so the workers do not all send the same body at once.
func (w *workload) run(ctx context.Context, id int) workerStats {
	var st workerStats
	var buf bytes.Buffer
	for i := id; ; i++ {
		t0 := time.Now()
		if !t0.Before(w.windowEnd) || ctx.Err() != nil {
			return st
		}
		stored, err := w.post(ctx, w.bodies[i%len(w.bodies)], &buf)
		t1 := time.Now()
		if t1.Before(w.windowStart) || t1.After(w.windowEnd) {
			continue // warmup, or finished after the window
		}
		st.add(t1.Sub(t0), stored, w.recordsPerBody-stored, err)
	}
}

// add records one completed request.
func (s *workerStats) add(latency time.Duration, stored, failed int, err error) {
	s.requests++
	s.latencies = append(s.latencies, latency)
	s.recordsStored += int64(stored)
	s.recordsFailed += int64(failed)
	if err != nil {
		s.requestErrors++
		if s.firstErr == nil {
			s.firstErr = err
		}
	}
}

// mergeStats adds up the workers' stats.
func mergeStats(all []workerStats) workerStats {
	var m workerStats
	for _, s := range all {
		m.requests += s.requests
		m.requestErrors += s.requestErrors
		m.recordsStored += s.recordsStored
		m.recordsFailed += s.recordsFailed
		m.latencies = append(m.latencies, s.latencies...)
		if m.firstErr == nil {
			m.firstErr = s.firstErr
		}
	}
	return m
}

// post sends one body and returns how many of its records were stored.
// buf is scratch space for the response.
func (w *workload) post(ctx context.Context, body []byte, buf *bytes.Buffer) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return 0, fmt.Errorf("HTTP %d: read response: %w", resp.StatusCode, err)
	}
	return storedRecords(resp.StatusCode, buf.Bytes(), w.recordsPerBody)
}

// storedRecords reads a put response to a request of sent records: how
// many were stored, and an error when the request counts as failed (any
// status but 200 and 207).
func storedRecords(status int, body []byte, sent int) (int, error) {
	switch status {
	case http.StatusOK, http.StatusMultiStatus, http.StatusTooManyRequests, http.StatusServiceUnavailable:
	default:
		return 0, fmt.Errorf("HTTP %d: %s", status, snippet(body))
	}
	var r struct {
		FailedRecordCount *int `json:"failed_record_count"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.FailedRecordCount == nil {
		return 0, fmt.Errorf("HTTP %d: no failed_record_count in the response: %s", status, snippet(body))
	}
	failed := *r.FailedRecordCount
	if failed < 0 || failed > sent {
		return 0, fmt.Errorf("HTTP %d: failed_record_count %d of %d records", status, failed, sent)
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		return sent - failed, fmt.Errorf("HTTP %d: %d of %d records failed: %s", status, failed, sent, snippet(body))
	}
	return sent - failed, nil
}

// snippet is the start of a response body, for error messages.
func snippet(body []byte) string {
	const n = 200
	body = bytes.TrimSpace(body)
	if len(body) > n {
		return string(body[:n]) + "…"
	}
	return string(body)
}
