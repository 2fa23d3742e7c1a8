package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The restart run.
const (
	maxRestartGiB = 1024
	// restartRetention keeps everything put: nothing is trimmed before the
	// kill.
	restartRetention = "168h"
	// restartPoll is how often the restarted node is asked whether it is
	// ready and whether it takes a put.
	restartPoll = 10 * time.Millisecond
	// restartTimeout bounds the wait for the restarted node.
	restartTimeout = 2 * time.Minute
	// fillTimeoutPerGiB bounds the fill: at least 1 GiB every 3 minutes
	// (under 6 MiB/s means something is wrong).
	fillTimeoutPerGiB = 3 * time.Minute
	// restartTargetSeconds is the target, for a node holding
	// restartTargetGiB of log.
	restartTargetSeconds = 5
	restartTargetGiB     = 10
)

// RestartResult is the restart run: a node filled with a log of GiB,
// killed, and started again on the same data directory.
type RestartResult struct {
	GiB         float64 `json:"gib"`         // the log asked for (-restart-gib)
	Concurrency int     `json:"concurrency"` // producers of the fill
	// LogBytes is the record data acknowledged before the kill, put in
	// FillSeconds.
	LogBytes    int64   `json:"log_bytes"`
	FillSeconds float64 `json:"fill_seconds"`
	// DiskBytes is what the data directory took on disk after the kill, as
	// du counts it.
	DiskBytes int64 `json:"disk_bytes"`
	// ReadySeconds is from exec until GET /readyz answered 200;
	// FirstPutSeconds until a put of one record was acknowledged.
	ReadySeconds    float64 `json:"ready_seconds"`
	FirstPutSeconds float64 `json:"first_put_seconds"`
	// AckedRecords were acknowledged before the kill and after the
	// restart; ReadRecords is what the restarted node then served from
	// TRIM_HORIZON, reading every shard to its end, in ReadSeconds.
	AckedRecords int64   `json:"acked_records"`
	ReadRecords  int64   `json:"read_records"`
	ReadSeconds  float64 `json:"read_seconds"`
	Skipped      string  `json:"skipped,omitempty"` // why the run did not happen
	Note         string  `json:"note,omitempty"`
	Error        string  `json:"error,omitempty"`
}

// restart starts hydrant with fsync: interval and a stream that keeps
// everything and has no delivery, fills it with gib GiB of records from
// the largest of -concurrencies producers, kills it with SIGKILL and
// starts it again on the same data directory, timing from exec until it
// is ready and until it acknowledges a put.
func (l *liveRunner) restart(ctx context.Context, gib float64) (res *RestartResult, err error) {
	opts := l.opts
	conc := slices.Max(opts.concurrencies)
	res = &RestartResult{GiB: gib, Concurrency: conc}
	want := int64(gib * (1 << 30))
	if free, err := freeBytes(os.TempDir()); err == nil && free < want*3/2 {
		res.Skipped = fmt.Sprintf("%s has %.1f GiB free, want %.1f", os.TempDir(), float64(free)/(1<<30), 1.5*gib)
		return res, nil
	}
	bin, err := hydrantPath(opts.hydrant)
	if err != nil {
		return res, err
	}
	setup := hydrantSetup{fsync: "interval", recordSize: opts.recordSize, requestSize: len(l.native[0]),
		stream: opts.stream, shards: opts.shards, retention: restartRetention}
	srv, err := startHydrant(opts, setup, l.progress)
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, srv.stop(l.progress)) }() // srv is the restarted node once there is one
	client := newClient(conc)
	defer client.CloseIdleConnections()
	if err := waitReady(ctx, client, srv.readyURL(), srv.exited); err != nil {
		return res, fmt.Errorf("hydrant did not become ready: %w\n--- tail of %s ---\n%s", err, srv.logPath, srv.logTail(20))
	}
	fmt.Fprintf(l.progress, "hydrant-load: filling %s with %g GiB from %d producers (fsync=interval)\n", opts.stream, gib, conc)
	w := nativeWorkload(client, srv.baseURL, opts.stream, l.native, opts.recordsPerRequest)
	start := time.Now()
	stored, err := fill(ctx, w, conc, want, opts.recordSize, srv.exited, time.Duration(max(gib, 1/3.)*float64(fillTimeoutPerGiB)))
	res.FillSeconds, res.LogBytes = time.Since(start).Seconds(), stored
	if errors.Is(err, errServerExited) {
		return res, srv.exitError("during the fill")
	} else if err != nil {
		return res, err
	}

	srv.cmd.Process.Kill()
	<-srv.exited
	srv.log.Close()
	if res.DiskBytes, err = diskUsage(filepath.Join(srv.dir, "data")); err != nil {
		return res, err
	}
	cfg := filepath.Join(srv.dir, "hydrant.yaml")
	listen := strings.TrimPrefix(srv.baseURL, "http://")
	t0 := time.Now()
	again, err := launch("hydrant restarted", srv.dir, listen, nil, bin, "serve", "-c", cfg)
	if err != nil {
		return res, err
	}
	srv = again
	fmt.Fprintf(l.progress, "hydrant-load: killed hydrant holding %.2f GiB (%.2f GiB on disk) and started it again (pid %d)\n",
		float64(res.LogBytes)/(1<<30), float64(res.DiskBytes)/(1<<30), srv.pid())
	one, err := buildBodies(opts.recordSize, 1, 1)
	if err != nil {
		return res, err
	}
	ready, firstPut, err := timeRestart(ctx, srv, t0, nativeWorkload(client, srv.baseURL, opts.stream, one, 1))
	res.ReadySeconds, res.FirstPutSeconds = ready.Seconds(), firstPut.Seconds()
	if err != nil {
		return res, err
	}
	fmt.Fprintf(l.progress, "hydrant-load: restart with %g GiB: ready in %.2f s, first put acknowledged in %.2f s\n",
		gib, res.ReadySeconds, res.FirstPutSeconds)
	res.AckedRecords = stored/int64(opts.recordSize) + 1
	readers := newClient(opts.shards)
	defer readers.CloseIdleConnections()
	c := newConsumer(readers, srv.baseURL, opts.stream)
	c.drain = true
	start = time.Now()
	if err := c.run(ctx); err != nil {
		return res, fmt.Errorf("read the log back: %w", err)
	}
	res.ReadSeconds, res.ReadRecords = time.Since(start).Seconds(), c.state().records
	res.Note = res.readBackNote()
	fmt.Fprintf(l.progress, "hydrant-load: %s\n", res.Note)
	return res, nil
}

// readBackNote says whether the restarted node served every record
// acknowledged.
func (r *RestartResult) readBackNote() string {
	switch {
	case r.ReadRecords == r.AckedRecords:
		return fmt.Sprintf("all %d acknowledged records read back from TRIM_HORIZON in %.1f s", r.ReadRecords, r.ReadSeconds)
	case r.ReadRecords < r.AckedRecords:
		return fmt.Sprintf("LOST %d of %d acknowledged records: %d read back from TRIM_HORIZON",
			r.AckedRecords-r.ReadRecords, r.AckedRecords, r.ReadRecords)
	}
	return fmt.Sprintf("%d records read back from TRIM_HORIZON, %d more than the %d acknowledged (requests that failed may have stored theirs)",
		r.ReadRecords, r.ReadRecords-r.AckedRecords, r.AckedRecords)
}

// fill has conc workers post w's bodies until want bytes of records of
// recordSize are stored, and returns the bytes stored. It fails after
// timeout, when ctx ends or exited is closed, and when a request fails.
func fill(ctx context.Context, w *workload, conc int, want int64, recordSize int, exited <-chan struct{}, timeout time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("the fill took longer than %s", timeout))
	defer cancel()
	var stored atomic.Int64
	var once sync.Once
	var failed error
	var wg sync.WaitGroup
	for id := range conc {
		wg.Go(func() {
			var buf bytes.Buffer
			for i := id; stored.Load() < want && ctx.Err() == nil; i++ {
				n, err := w.post(ctx, w.bodies[i%len(w.bodies)], &buf)
				stored.Add(int64(n) * int64(recordSize))
				if err != nil {
					once.Do(func() { failed = err })
					cancel()
				}
			}
		})
	}
	go func() {
		select {
		case <-exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	wg.Wait()
	select {
	case <-exited:
		return stored.Load(), errServerExited
	default:
	}
	if stored.Load() >= want {
		return stored.Load(), nil
	}
	if err := context.Cause(ctx); err != nil && failed == nil {
		return stored.Load(), err
	}
	return stored.Load(), fmt.Errorf("fill: %w", failed)
}

// timeRestart polls srv, started at t0, every restartPoll until GET
// /readyz answers 200 and until put (a workload of one record) is
// acknowledged, and returns how long after t0 each first succeeded.
func timeRestart(ctx context.Context, srv *server, t0 time.Time, put *workload) (ready, firstPut time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, restartTimeout)
	defer cancel()
	poll := func(try func() bool) (time.Duration, error) {
		ticker := time.NewTicker(restartPoll)
		defer ticker.Stop()
		for {
			if try() {
				return time.Since(t0), nil
			}
			select {
			case <-srv.exited:
				return 0, srv.exitError("after the restart")
			case <-ctx.Done():
				return 0, fmt.Errorf("restarted hydrant: %w\n--- tail of %s ---\n%s", ctx.Err(), srv.logPath, srv.logTail(20))
			case <-ticker.C:
			}
		}
	}
	var readyErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		ready, readyErr = poll(func() bool { return probeReady(ctx, put.client, srv.readyURL()) == nil })
	})
	var buf bytes.Buffer
	firstPut, err = poll(func() bool {
		n, err := put.post(ctx, put.bodies[0], &buf)
		return err == nil && n == 1
	})
	wg.Wait()
	return ready, firstPut, errors.Join(readyErr, err)
}

// diskUsage is what the files under dir take on disk, as du counts it:
// their allocated blocks.
func diskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	return total, err
}

// freeBytes is the space an unprivileged process may still use on the
// filesystem of dir.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// cells is the restart table, header first.
func (r *RestartResult) cells() [][]string {
	gib := func(b int64) string { return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30)) }
	note := r.Note
	if r.Skipped != "" {
		note = joinNotes("skipped: "+r.Skipped, note)
	}
	if r.Error != "" {
		note = joinNotes(note, "error: "+r.Error)
	}
	line := []string{fmt.Sprintf("restart with %g GiB", r.GiB), fmt.Sprint(r.Concurrency), "", "", "", "", "", note}
	if r.LogBytes > 0 && r.FillSeconds > 0 {
		line[2] = gib(r.LogBytes)
		line[3] = fmt.Sprintf("%.1f s (%.0f MiB/s)", r.FillSeconds, float64(r.LogBytes)/(1<<20)/r.FillSeconds)
	}
	if r.DiskBytes > 0 {
		line[4] = gib(r.DiskBytes)
	}
	if r.ReadySeconds > 0 {
		line[5] = fmt.Sprintf("%.2f", r.ReadySeconds)
	}
	if r.FirstPutSeconds > 0 {
		line[6] = fmt.Sprintf("%.2f", r.FirstPutSeconds)
	}
	return [][]string{{"restart after SIGKILL", "producers (fill)", "log put", "fill", "data dir on disk",
		"ready s", "first put s", "note"}, line}
}
