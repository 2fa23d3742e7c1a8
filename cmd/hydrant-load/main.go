package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// maxFailedRequestRatio is the share of failed requests above which a run
// counts as failed.
const maxFailedRequestRatio = 0.01

// Bounds on the flags; the record size is also bounded by the JSON
// envelope around the padding and by Hydrant's max_record_size range.
const (
	minRecordSize  = 64
	maxRecordSize  = 10 << 20
	maxRequestSize = 256 << 20
)

// options are the command-line flags.
type options struct {
	hydrant           string
	recordSize        int
	recordsPerRequest int
	concurrency       int
	duration          time.Duration
	warmup            time.Duration
	fsync             string
	shards            int
	url               string
	stream            string
	json              bool
	deliver           bool

	// The matrix (-matrix).
	matrix         bool
	markdown       bool
	concurrencies  []int
	firehoseShards int
	e2eDuration    time.Duration
	e2eConcurrency int
	minio          string
	pacedRates     []float64 // MiB/s
	pacedDuration  time.Duration
	restartGiB     float64

	// A floor child process (-floor).
	floor  string
	listen string
	dir    string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command: 0 on success, 1 when the run failed, 2 on bad
// flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "hydrant-load:", err)
		return 2
	}
	switch {
	case opts.floor != "":
		if err := runFloor(ctx, opts.floor, opts.listen, opts.dir, stderr); err != nil {
			fmt.Fprintln(stderr, "hydrant-load:", err)
			return 1
		}
		return 0
	case opts.matrix:
		return runMatrixCommand(ctx, opts, stdout, stderr)
	}
	bodies, err := buildBodies(opts.recordSize, opts.recordsPerRequest, bodyVariants)
	if err != nil {
		fmt.Fprintln(stderr, "hydrant-load:", err)
		return 2
	}
	res, err := bench(ctx, opts, bodies, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "hydrant-load:", err)
		return 1
	}
	if err := writeResult(stdout, res, opts.json); err != nil {
		fmt.Fprintln(stderr, "hydrant-load:", err)
		return 1
	}
	if err := res.check(maxFailedRequestRatio); err != nil {
		fmt.Fprintln(stderr, "hydrant-load:", err)
		return 1
	}
	return 0
}

// bench starts hydrant unless opts.url is set, waits until it is ready,
// runs the load and stops what it started.
func bench(ctx context.Context, opts options, bodies [][]byte, progress io.Writer) (*Result, error) {
	client := newClient(opts.concurrency)
	defer client.CloseIdleConnections()
	if opts.url != "" {
		base := strings.TrimRight(opts.url, "/")
		if err := waitReady(ctx, client, base+"/readyz", nil); err != nil {
			return nil, fmt.Errorf("%s is not ready: %w", base, err)
		}
		w := nativeWorkload(client, base, opts.stream, bodies, opts.recordsPerRequest)
		m, err := drive(ctx, opts, w, 0, nil, progress)
		if err != nil {
			return nil, err
		}
		return newResult(opts, "hydrant native API", base, m), nil
	}
	srv, err := startServer(opts, len(bodies[0]), progress)
	if err != nil {
		return nil, err
	}
	w := nativeWorkload(client, srv.baseURL, opts.stream, bodies, opts.recordsPerRequest)
	m, err := runOn(ctx, opts, srv, w, progress)
	if err != nil {
		return nil, err
	}
	return newResult(opts, "hydrant native API", srv.baseURL, m), nil
}

// runOn waits until the started srv is ready, runs w against it and stops
// srv.
func runOn(ctx context.Context, opts options, srv *server, w *workload, progress io.Writer) (m *measurement, err error) {
	defer func() { err = errors.Join(err, srv.stop(progress)) }()
	if err := waitReady(ctx, w.client, srv.readyURL(), srv.exited); errors.Is(err, errServerExited) {
		return nil, srv.exitError("before it was ready")
	} else if err != nil {
		return nil, fmt.Errorf("%s did not become ready: %w\n--- tail of %s ---\n%s", srv.name, err, srv.logPath, srv.logTail(20))
	}
	m, err = drive(ctx, opts, w, srv.pid(), srv.exited, progress)
	if errors.Is(err, errServerExited) {
		return nil, srv.exitError("during the run")
	}
	return m, err
}

// drive runs w; pid and exited are those of the started process, or 0 and
// nil.
func drive(ctx context.Context, opts options, w *workload, pid int, exited <-chan struct{}, progress io.Writer) (*measurement, error) {
	pacing := ""
	if w.rate > 0 {
		pacing = fmt.Sprintf(" at %.1f requests/s", w.rate)
	}
	fmt.Fprintf(progress, "hydrant-load: warming up for %s, then measuring for %s with %d workers%s\n",
		opts.warmup, opts.duration, opts.concurrency, pacing)
	return w.measure(ctx, opts, pid, exited, progress)
}

// parseFlags parses and checks the flags.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("hydrant-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: hydrant-load [flags]\n\nLoad-tests Hydrant's native ingest API and reports throughput, latency, CPU and RSS;\nwith -matrix, also PutRecordBatch, end to end, and two floors to compare with.\n\nFlags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.hydrant, "hydrant", "bin/hydrant", "path to the hydrant binary to start (ignored with -url)")
	fs.IntVar(&o.recordSize, "record-size", 1024, "bytes per record, excluding the newline")
	fs.IntVar(&o.recordsPerRequest, "records-per-request", 500, "records per request body")
	fs.IntVar(&o.concurrency, "concurrency", 8, "concurrent workers (and connections)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of the measured window")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before the measured window, not counted")
	fs.StringVar(&o.fsync, "fsync", "always", "storage fsync mode of the started server: always | interval")
	fs.IntVar(&o.shards, "shards", 4, "shards of the bench stream of the started server")
	fs.StringVar(&o.url, "url", "", "base URL of an already-running server to drive instead of starting one")
	fs.StringVar(&o.stream, "stream", "bench", "stream to write to")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON instead of a table")
	fs.BoolVar(&o.deliver, "deliver", true, "give the started server a file delivery (Firehose default buffer: 5MiB, 60s) reading the stream while it is loaded")
	fs.BoolVar(&o.matrix, "matrix", false, "run the matrix: the HTTP and disk floors, hydrant's native API, PutRecordBatch and Kinesis PutRecords at each of -concurrencies, then the latency, consumer and paced rows, end to end; print one table")
	fs.BoolVar(&o.markdown, "markdown", false, "with -matrix: print the table as Markdown")
	concurrencies := fs.String("concurrencies", "4,16", "with -matrix: comma-separated producer counts")
	fs.IntVar(&o.firehoseShards, "firehose-shards", 4, "with -matrix: shards of the PutRecordBatch DirectPut delivery (quotas raised out of the way, as the native stream's)")
	fs.DurationVar(&o.e2eDuration, "e2e-duration", 0, "with -matrix: measured window of the end-to-end runs (default: -duration)")
	fs.IntVar(&o.e2eConcurrency, "e2e-concurrency", 0, "with -matrix: producers of the end-to-end runs (default: the largest of -concurrencies)")
	fs.StringVar(&o.minio, "minio", defaultMinio(), "with -matrix: MinIO binary for the end-to-end S3 run; skipped when it does not exist (default: $HYDRANT_MINIO_BIN, else .cache/bin/minio)")
	pacedRates := fs.String("paced-rates", "10,40", "with -matrix: comma-separated MiB/s offered at an even pace to the native API, one row each (\"\" for none)")
	fs.DurationVar(&o.pacedDuration, "paced-duration", 45*time.Second, "with -matrix: measured window of the paced rows")
	fs.Float64Var(&o.restartGiB, "restart-gib", 1, "with -matrix: GiB of log to fill a node with (fsync=interval, no delivery) before killing it with SIGKILL and timing its restart (0: skip)")
	fs.StringVar(&o.floor, "floor", "", "serve a floor instead of loading anything: http | disk (what -matrix starts as a child)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "with -floor: address to listen on")
	fs.StringVar(&o.dir, "dir", "", "with -floor disk: directory of the file it appends to")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.concurrencies, err = parseInts(*concurrencies); err != nil {
		return o, fmt.Errorf("-concurrencies %q: %w", *concurrencies, err)
	}
	if o.pacedRates, err = parseFloats(*pacedRates); err != nil {
		return o, fmt.Errorf("-paced-rates %q: %w", *pacedRates, err)
	}
	if o.e2eDuration == 0 {
		o.e2eDuration = o.duration
	}
	if o.e2eConcurrency == 0 {
		o.e2eConcurrency = slices.Max(o.concurrencies)
	}
	return o, o.validate()
}

// defaultMinio is the MinIO binary make builds, or the one
// HYDRANT_MINIO_BIN names.
func defaultMinio() string {
	if p := os.Getenv("HYDRANT_MINIO_BIN"); p != "" {
		return p
	}
	return filepath.Join(".cache", "bin", "minio")
}

// parseInts parses a comma-separated list of positive integers.
func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseFloats parses a comma-separated list of positive numbers; "" is
// none.
func parseFloats(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []float64
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || n <= 0 || math.IsInf(n, 0) {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// validate reports every flag whose value is out of range.
func (o options) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(o.recordSize >= minRecordSize && o.recordSize <= maxRecordSize,
		"-record-size %d: must be between %d and %d", o.recordSize, minRecordSize, maxRecordSize)
	check(o.recordsPerRequest >= 1, "-records-per-request %d: must be at least 1", o.recordsPerRequest)
	check(int64(o.recordSize+1)*int64(o.recordsPerRequest) <= maxRequestSize,
		"-record-size × -records-per-request: a request must be at most %d bytes", maxRequestSize)
	check(o.concurrency >= 1, "-concurrency %d: must be at least 1", o.concurrency)
	check(o.duration > 0, "-duration %s: must be positive", o.duration)
	check(o.warmup >= 0, "-warmup %s: must not be negative", o.warmup)
	check(o.fsync == "always" || o.fsync == "interval", "-fsync %q: must be always or interval", o.fsync)
	check(o.shards >= 1 && o.shards <= 1024, "-shards %d: must be between 1 and 1024", o.shards)
	check(validStreamName(o.stream), "-stream %q: must be 1-64 of [a-zA-Z0-9_.-]", o.stream)
	check(o.url == "" || strings.HasPrefix(o.url, "http://") || strings.HasPrefix(o.url, "https://"),
		"-url %q: must start with http:// or https://", o.url)
	check(o.floor == "" || o.floor == floorHTTP || o.floor == floorDisk, "-floor %q: must be %s or %s", o.floor, floorHTTP, floorDisk)
	check(o.floor != floorDisk || o.dir != "", "-floor disk needs -dir")
	if o.matrix {
		check(o.url == "", "-matrix starts its own servers; it does not take -url")
		check(o.recordsPerRequest <= maxBatchRecords && o.recordSize*o.recordsPerRequest <= maxBatchBytes,
			"-matrix: a PutRecordBatch request takes at most %d records and %d bytes of data; -records-per-request %d × -record-size %d does not fit",
			maxBatchRecords, maxBatchBytes, o.recordsPerRequest, o.recordSize)
		check(o.firehoseShards >= 1 && o.firehoseShards <= 1024, "-firehose-shards %d: must be between 1 and 1024", o.firehoseShards)
		check(o.e2eDuration > 0, "-e2e-duration %s: must be positive", o.e2eDuration)
		check(o.e2eConcurrency >= 1, "-e2e-concurrency %d: must be at least 1", o.e2eConcurrency)
		check(o.pacedDuration > 0, "-paced-duration %s: must be positive", o.pacedDuration)
		check(o.restartGiB >= 0 && o.restartGiB <= maxRestartGiB, "-restart-gib %g: must be between 0 and %d", o.restartGiB, maxRestartGiB)
	}
	return errors.Join(errs...)
}

// validStreamName reports whether s is a name Hydrant accepts, so it can be
// put in a URL path as is.
func validStreamName(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}
