package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
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
func bench(ctx context.Context, opts options, bodies [][]byte, progress io.Writer) (res *Result, err error) {
	client := newClient(opts.concurrency)
	defer client.CloseIdleConnections()
	if opts.url != "" {
		base := strings.TrimRight(opts.url, "/")
		if err := waitReady(ctx, client, base, nil); err != nil {
			return nil, fmt.Errorf("%s is not ready: %w", base, err)
		}
		return drive(ctx, opts, client, base, bodies, 0, nil, progress)
	}
	srv, err := startServer(opts, len(bodies[0]), progress)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, srv.stop(progress)) }()
	if err := waitReady(ctx, client, srv.baseURL, srv.exited); errors.Is(err, errServerExited) {
		return nil, srv.exitError("before it was ready")
	} else if err != nil {
		return nil, fmt.Errorf("hydrant did not become ready: %w\n--- tail of %s ---\n%s", err, srv.logPath, srv.logTail(20))
	}
	res, err = drive(ctx, opts, client, srv.baseURL, bodies, srv.pid(), srv.exited, progress)
	if errors.Is(err, errServerExited) {
		return nil, srv.exitError("during the run")
	}
	return res, err
}

// drive runs the load against the server at base; pid and exited are those
// of the started process, or 0 and nil.
func drive(ctx context.Context, opts options, client *http.Client, base string, bodies [][]byte,
	pid int, exited <-chan struct{}, progress io.Writer) (*Result, error) {
	fmt.Fprintf(progress, "hydrant-load: warming up for %s, then measuring for %s with %d workers\n",
		opts.warmup, opts.duration, opts.concurrency)
	w := &workload{
		client:         client,
		url:            base + "/v1/streams/" + opts.stream + "/records",
		bodies:         bodies,
		recordsPerBody: opts.recordsPerRequest,
	}
	m, err := w.measure(ctx, opts, pid, exited, progress)
	if err != nil {
		return nil, err
	}
	return newResult(opts, base, m), nil
}

// parseFlags parses and checks the flags.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("hydrant-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: hydrant-load [flags]\n\nLoad-tests Hydrant's native ingest API and reports throughput, latency, CPU and RSS.\n\nFlags:")
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
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o, o.validate()
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
