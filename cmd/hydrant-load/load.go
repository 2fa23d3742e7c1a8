package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// bodyVariants is how many different request bodies the workers cycle
// through.
const bodyVariants = 4

// requestTimeout bounds one put; it matches the server's write timeout.
const requestTimeout = 2 * time.Minute

// errServerExited means the started process exited while it was being
// measured.
var errServerExited = errors.New("the started server exited during the run")

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
	url            string
	header         http.Header // Content-Type, and X-Amz-Target for the AWS APIs
	bodies         [][]byte
	recordsPerBody int
	// stored reads a response: how many records were stored, and an error
	// when the request counts as failed.
	stored func(status int, body []byte, sent int) (int, error)
	// rate, when positive, is the requests per second the workers send
	// together, each request scheduled ahead; its latency is counted from
	// its scheduled time, so a server that falls behind is not hidden by
	// the workers waiting for it. Zero: every worker sends back to back.
	rate float64
	// onWindow, when set, is called as the measured window starts (false)
	// and ends (true).
	onWindow func(end bool)

	// The measured window: requests that complete within it are counted.
	windowStart, windowEnd time.Time
}

// nativeWorkload posts NDJSON bodies to a stream's records endpoint at base.
func nativeWorkload(client *http.Client, base, stream string, bodies [][]byte, perBody int) *workload {
	return &workload{
		client:         client,
		url:            base + "/v1/streams/" + stream + "/records",
		header:         http.Header{"Content-Type": {"application/x-ndjson"}},
		bodies:         bodies,
		recordsPerBody: perBody,
		stored:         storedRecords,
	}
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
	window       time.Duration
	stats        workerStats
	usage        *processUsage // nil when no process was measured
	generatorCPU time.Duration // this process's CPU time during the window
}

// processUsage is what the started process used.
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
	var wg sync.WaitGroup
	var schedule <-chan time.Time
	if w.rate > 0 {
		ch := make(chan time.Time, 1024)
		interval := time.Duration(float64(time.Second) / w.rate)
		wg.Go(func() { pace(ctx, ch, time.Now(), w.windowEnd, interval) })
		schedule = ch
	}
	perWorker := make([]workerStats, opts.concurrency)
	for i := range perWorker {
		wg.Go(func() { perWorker[i] = w.run(ctx, i, schedule) })
	}
	m, err := w.sampleWindow(ctx, pid, exited, progress)
	if err != nil {
		cancel()
	}
	wg.Wait() // requests still in flight at the window's end finish uncounted
	if err != nil {
		return nil, err
	}
	m.window, m.stats = opts.duration, mergeStats(perWorker)
	return m, nil
}

// pace sends the scheduled start of each request on schedule, one every
// interval from start until end, then closes it. A request that no worker
// is free to take waits in the channel with its scheduled time.
func pace(ctx context.Context, schedule chan<- time.Time, start, end time.Time, interval time.Duration) {
	defer close(schedule)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for next := start; next.Before(end); next = next.Add(interval) {
		timer.Reset(time.Until(next))
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		}
		select {
		case schedule <- next:
		case <-ctx.Done():
			return
		}
	}
}

// sampleWindow waits for the window and returns what this process and
// process pid (unless pid is 0 or /proc cannot be read) used in it.
func (w *workload) sampleWindow(ctx context.Context, pid int, exited <-chan struct{}, progress io.Writer) (*measurement, error) {
	if err := waitUntil(ctx, w.windowStart, exited); err != nil {
		return nil, err
	}
	if w.onWindow != nil {
		w.onWindow(false)
	}
	self0, selfErr := processCPU(os.Getpid())
	var cpu0 time.Duration
	var procErr error
	if pid != 0 {
		cpu0, procErr = processCPU(pid)
	}
	if err := waitUntil(ctx, w.windowEnd, exited); err != nil {
		return nil, err
	}
	if w.onWindow != nil {
		w.onWindow(true)
	}
	m := &measurement{}
	if self1, err := processCPU(os.Getpid()); err == nil && selfErr == nil {
		m.generatorCPU = self1 - self0
	}
	if pid == 0 {
		return m, nil
	}
	cpu1, err1 := processCPU(pid)
	rss, err2 := processPeakRSS(pid)
	if err := errors.Join(procErr, err1, err2); err != nil {
		fmt.Fprintf(progress, "hydrant-load: warning: no CPU/RSS figures: %v\n", err)
		return m, nil
	}
	m.usage = &processUsage{cpu: cpu1 - cpu0, peakRSS: rss}
	return m, nil
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

// run is one worker: it posts bodies back to back (or, with a schedule,
// at the times it takes from it) until the window ends and records the
// requests that completed (or, with a schedule, were due) inside it. Worker id starts at body id so the
// workers do not all send the same body at once.
func (w *workload) run(ctx context.Context, id int, schedule <-chan time.Time) workerStats {
	var st workerStats
	var buf bytes.Buffer
	for i := id; ; i++ {
		var t0 time.Time
		if schedule == nil {
			t0 = time.Now()
			if !t0.Before(w.windowEnd) || ctx.Err() != nil {
				return st
			}
		} else {
			var ok bool
			if t0, ok = <-schedule; !ok || ctx.Err() != nil {
				return st
			}
		}
		stored, err := w.post(ctx, w.bodies[i%len(w.bodies)], &buf)
		t1 := time.Now()
		// A closed loop counts what completed in the window; a schedule
		// what was due in it, however late it completed.
		counted := t1
		if schedule != nil {
			counted = t0
		}
		if counted.Before(w.windowStart) || counted.After(w.windowEnd) {
			continue // warmup, or after the window
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
	maps.Copy(req.Header, w.header)
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return 0, fmt.Errorf("HTTP %d: read response: %w", resp.StatusCode, err)
	}
	return w.stored(resp.StatusCode, buf.Bytes(), w.recordsPerBody)
}

// storedRecords reads a native API put response to a request of sent records: how
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
