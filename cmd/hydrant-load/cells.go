package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// liveRunner measures the matrix for real: every cell starts its target as
// a child process on a free loopback port (a floor is this binary with
// -floor), loads it over HTTP and stops it.
type liveRunner struct {
	opts     options
	native   [][]byte // NDJSON bodies, for the floors and hydrant's native API
	firehose [][]byte // PutRecordBatch bodies
	kinesis  [][]byte // PutRecords bodies
	progress io.Writer
}

// newLiveRunner builds the request bodies for opts.
func newLiveRunner(opts options, progress io.Writer) (*liveRunner, error) {
	native, err := buildBodies(opts.recordSize, opts.recordsPerRequest, bodyVariants)
	if err != nil {
		return nil, err
	}
	firehose, err := buildFirehoseBodies(directName(opts.stream), opts.recordSize, opts.recordsPerRequest, bodyVariants)
	if err != nil {
		return nil, err
	}
	kinesis, err := buildKinesisBodies(opts.stream, opts.recordSize, opts.recordsPerRequest, bodyVariants)
	if err != nil {
		return nil, err
	}
	return &liveRunner{opts: opts, native: native, firehose: firehose, kinesis: kinesis, progress: progress}, nil
}

// directName is the name of the DirectPut delivery PutRecordBatch writes
// to.
func directName(stream string) string { return stream + "-direct" }

// cell starts spec's target, measures it and stops it.
func (l *liveRunner) cell(ctx context.Context, spec cellSpec) (*Result, string, error) {
	if spec.target == targetNativeConsumer {
		return l.consumerCell(ctx, spec)
	}
	opts := l.opts
	opts.concurrency = spec.concurrency
	if spec.duration > 0 {
		opts.duration = spec.duration
	}
	client := newClient(spec.concurrency)
	defer client.CloseIdleConnections()
	setup := hydrantSetup{fsync: opts.fsync, recordSize: opts.recordSize}
	var srv *server
	var err error
	switch {
	case spec.target == targetHTTPFloor:
		srv, err = startFloor(floorHTTP, l.progress)
	case spec.target == targetDiskFloor:
		srv, err = startFloor(floorDisk, l.progress)
	case spec.target == targetNative || spec.target == targetNativeHalf || strings.HasPrefix(spec.target, pacedPrefix):
		setup.requestSize, setup.stream, setup.shards, setup.deliver = len(l.native[0]), opts.stream, opts.shards, opts.deliver
		srv, err = startHydrant(opts, setup, l.progress)
	case spec.target == targetKinesis:
		setup.requestSize, setup.stream, setup.shards, setup.deliver = len(l.kinesis[0]), opts.stream, opts.shards, opts.deliver
		srv, err = startHydrant(opts, setup, l.progress)
	case spec.target == targetFirehose:
		setup.requestSize, setup.direct, setup.directShards = len(l.firehose[0]), directName(opts.stream), opts.firehoseShards
		srv, err = startHydrant(opts, setup, l.progress)
	default:
		return nil, "", fmt.Errorf("unknown target %q", spec.target)
	}
	if err != nil {
		return nil, "", err
	}
	var w *workload
	switch spec.target {
	case targetFirehose:
		w = firehoseWorkload(client, srv.baseURL, l.firehose, opts.recordsPerRequest)
	case targetKinesis:
		w = kinesisWorkload(client, srv.baseURL, l.kinesis, opts.recordsPerRequest)
	default:
		w = nativeWorkload(client, srv.baseURL, opts.stream, l.native, opts.recordsPerRequest)
	}
	w.rate = spec.rate / float64(opts.recordsPerRequest)
	var note string
	if spec.target == targetDiskFloor {
		w.onWindow = func(end bool) {
			if !end {
				return
			}
			if st, err := floorFsyncs(ctx, client, srv.baseURL); err == nil {
				note = fmt.Sprintf("%d fsyncs for %d requests", st.Fsyncs, st.Requests)
			}
		}
	}
	m, err := runOn(ctx, opts, srv, w, l.progress)
	if err != nil {
		return nil, note, err
	}
	return newResult(opts, spec.target, srv.baseURL, m), note, nil
}

// consumerCell measures hydrant's native API at full speed with its file
// delivery while a GetRecords consumer reads the stream from TRIM_HORIZON,
// starting as soon as the server answers. The consumer's figures are the
// result's Consumer and the row's note.
func (l *liveRunner) consumerCell(ctx context.Context, spec cellSpec) (*Result, string, error) {
	opts := l.opts
	opts.concurrency, opts.deliver = spec.concurrency, true
	setup := hydrantSetup{fsync: opts.fsync, recordSize: opts.recordSize, requestSize: len(l.native[0]),
		stream: opts.stream, shards: opts.shards, deliver: true}
	srv, err := startHydrant(opts, setup, l.progress)
	if err != nil {
		return nil, "", err
	}
	client := newClient(spec.concurrency)
	defer client.CloseIdleConnections()
	readers := newClient(opts.shards)
	defer readers.CloseIdleConnections()
	c := newConsumer(readers, srv.baseURL, opts.stream)
	cctx, stopConsumer := context.WithCancel(ctx)
	var consumerErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		consumerErr = c.run(cctx)
	}()
	w := nativeWorkload(client, srv.baseURL, opts.stream, l.native, opts.recordsPerRequest)
	var states [2]consumerState
	var counts pipelineCounts
	var scrapeErr error
	w.onWindow = func(end bool) {
		if !end {
			states[0] = c.state()
			return
		}
		states[1] = c.state()
		counts, scrapeErr = scrapeCounts(ctx, client, srv.baseURL, opts.stream)
		stopConsumer() // so that it does not read on while the server stops
	}
	m, err := runOn(ctx, opts, srv, w, l.progress)
	stopConsumer()
	<-done
	if err != nil {
		return nil, "", err
	}
	res := newResult(opts, spec.target, srv.baseURL, m)
	if scrapeErr != nil {
		return res, "", fmt.Errorf("read hydrant's metrics: %w", scrapeErr)
	}
	res.Consumer = newConsumerSummary(states[0], states[1], int64(counts.ingested), opts.duration, opts.recordSize, res.RecordsPerSecond)
	if consumerErr != nil {
		res.Consumer.Error = firstLine(consumerErr.Error())
	}
	return res, res.Consumer.note(), nil
}

// s3Unavailable says why there is no MinIO to run the S3 end-to-end run
// against, or "".
func (l *liveRunner) s3Unavailable() string {
	if l.opts.minio == "" {
		return "no MinIO binary (-minio)"
	}
	if _, err := os.Stat(l.opts.minio); err != nil {
		return fmt.Sprintf("no MinIO binary at %s (run `make minio` or set HYDRANT_MINIO_BIN)", l.opts.minio)
	}
	return ""
}

// endToEnd starts hydrant with a stream delivered to files or to a bucket
// of a started MinIO, puts to it for the end-to-end window, and counts
// what the delivery wrote in that window from hydrant's metrics.
func (l *liveRunner) endToEnd(ctx context.Context, spec e2eSpec) (row *EndToEndRow, err error) {
	opts := l.opts
	opts.concurrency, opts.duration = spec.concurrency, opts.e2eDuration
	setup := hydrantSetup{fsync: opts.fsync, recordSize: opts.recordSize, requestSize: len(l.native[0]),
		stream: opts.stream, shards: opts.shards, deliver: true}
	client := newClient(spec.concurrency)
	defer client.CloseIdleConnections()
	if spec.destination == destS3 {
		mio, merr := startMinio(ctx, opts.minio, client, l.progress)
		if merr != nil {
			return nil, merr
		}
		defer func() { err = errors.Join(err, mio.stop(l.progress)) }()
		setup.s3 = mio.target
	}
	srv, err := startHydrant(opts, setup, l.progress)
	if err != nil {
		return nil, err
	}
	w := nativeWorkload(client, srv.baseURL, opts.stream, l.native, opts.recordsPerRequest)
	var counts [2]pipelineCounts
	var scrapeErr error
	w.onWindow = func(end bool) {
		i := 0
		if end {
			i = 1
		}
		var err error
		counts[i], err = scrapeCounts(ctx, client, srv.baseURL, opts.stream)
		scrapeErr = errors.Join(scrapeErr, err)
	}
	m, err := runOn(ctx, opts, srv, w, l.progress)
	if err != nil {
		return nil, err
	}
	res := newResult(opts, targetNative, srv.baseURL, m)
	row = &EndToEndRow{Destination: spec.destination, Concurrency: spec.concurrency, Duration: opts.duration.String(), Ingest: res}
	if err := res.check(maxFailedRequestRatio); err != nil {
		return row, err
	}
	if scrapeErr != nil {
		return row, fmt.Errorf("read hydrant's metrics: %w", scrapeErr)
	}
	delivered := counts[1].delivered - counts[0].delivered
	row.DeliveredRecordsPerSecond = delivered / opts.duration.Seconds()
	row.DeliveredMiBPerSecond = row.DeliveredRecordsPerSecond * float64(opts.recordSize) / (1 << 20)
	if res.RecordsPerSecond > 0 {
		row.DeliveredShare = row.DeliveredRecordsPerSecond / res.RecordsPerSecond
	}
	row.BacklogRecords = int64(counts[1].ingested - counts[1].delivered)
	if spec.destination == destS3 {
		row.Note = "MinIO on the same machine"
	}
	return row, nil
}
