package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hydrant-dev/hydrant/shards"
)

// Defaults of QueryConfig.
const (
	DefaultQueryMemoryLimit    = 256 << 20
	DefaultQueryThreads        = 2
	DefaultQueryTimeout        = time.Minute
	DefaultQueryConcurrency    = 2
	DefaultQueryMaxRows        = 10_000
	DefaultQueryMaxResultBytes = 32 << 20
	DefaultQueryMaxRecords     = 1_000_000
	DefaultQueryRecordsLimit   = 10_000_000
)

// QueryConfig bounds the ad-hoc queries of a Querier. Zero fields take the
// Default… constants.
type QueryConfig struct {
	Store *shards.Store
	// TempDir holds a directory per running query, where its engine
	// spills past MemoryLimit; removed when the query ends.
	TempDir     string
	MemoryLimit int64 // bytes, per query
	Threads     int   // per query
	Timeout     time.Duration
	// Concurrency is how many queries run at once; one more is refused
	// (ErrBusy) rather than queued.
	Concurrency int
	// MaxRows and MaxResultBytes bound a result: past either, it is
	// truncated (QueryResult.Truncated).
	MaxRows        int
	MaxResultBytes int
	// MaxRecords is how many records a query may read, over all its
	// stream() calls, unless it asks for another bound (Query.MaxRecords),
	// which may be at most RecordsLimit.
	MaxRecords   int
	RecordsLimit int
	// Now is the clock that from and to are relative to (default
	// time.Now).
	Now func() time.Time
	_   struct{} // keyed literals only
}

// Query is one ad-hoc query.
type Query struct {
	SQL string
	// MaxRecords bounds the records it reads (0: the Querier's default).
	MaxRecords int
}

// QueryResult is an ad-hoc query's result.
type QueryResult struct {
	// Columns are the result's column names, made unique (a second "x" is
	// "x_2"), in order.
	Columns []string
	// Rows are JSON objects of Columns, in order.
	Rows []json.RawMessage
	// Truncated is set when the result had more rows than MaxRows, or
	// than fit in MaxResultBytes: Rows are the first ones.
	Truncated bool
	// RecordsRead is how many records the query's stream() calls read.
	RecordsRead int64
}

// Errors of Querier.Query besides ErrNoEngine and *QueryError.
var (
	// ErrBusy: as many queries as allowed are running. Retry shortly.
	ErrBusy = errors.New("as many SQL queries as allowed are running: retry in a moment")
	// ErrStreamNotFound: stream() names no stream. Not retryable.
	ErrStreamNotFound = errors.New("stream not found")
	// ErrTooManyRecords: the query's stream() ranges hold more records
	// than it may read. Not retryable as is: narrow from/to, or raise
	// max_records.
	ErrTooManyRecords = errors.New("the query reads more records than it may")
	// ErrQueryTimeout: the query ran out of time. Not retryable as is.
	ErrQueryTimeout = errors.New("the query ran out of time")
)

// QueryError is a query that cannot run as written: its SQL (DuckDB's
// message), or stream()'s arguments. Not retryable.
type QueryError struct{ Err error }

func (e *QueryError) Error() string { return e.Err.Error() }
func (e *QueryError) Unwrap() error { return e.Err }

// Querier runs ad-hoc SQL over streams' retained records: the table
// function stream(name, from => …, to => …) reads them. Each query runs on
// its own engine, sandboxed as an application's (no file, no network, no
// setting changed), bounded in memory, time and records read. Safe for
// concurrent use.
type Querier struct {
	cfg   QueryConfig
	slots chan struct{}
}

// NewQuerier returns a Querier, removing what queries of an earlier run
// left in cfg.TempDir.
func NewQuerier(cfg QueryConfig) (*Querier, error) {
	if cfg.Store == nil || cfg.TempDir == "" {
		return nil, errors.New("sql queries: a store and a temp dir are needed")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.Threads, DefaultQueryThreads)
	def(&cfg.Concurrency, DefaultQueryConcurrency)
	def(&cfg.MaxRows, DefaultQueryMaxRows)
	def(&cfg.MaxResultBytes, DefaultQueryMaxResultBytes)
	def(&cfg.MaxRecords, DefaultQueryMaxRecords)
	def(&cfg.RecordsLimit, DefaultQueryRecordsLimit)
	cfg.RecordsLimit = max(cfg.RecordsLimit, cfg.MaxRecords)
	if cfg.MemoryLimit <= 0 {
		cfg.MemoryLimit = DefaultQueryMemoryLimit
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultQueryTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if engineBuilt {
		if err := os.MkdirAll(cfg.TempDir, 0o700); err != nil {
			return nil, fmt.Errorf("sql queries: %w", err)
		}
		left, _ := filepath.Glob(filepath.Join(cfg.TempDir, "query-*"))
		for _, d := range left {
			os.RemoveAll(d)
		}
	}
	return &Querier{cfg: cfg, slots: make(chan struct{}, cfg.Concurrency)}, nil
}

// Query runs q. Errors: ErrNoEngine (a build without cgo), ErrBusy
// (retry), ErrStreamNotFound, ErrTooManyRecords, ErrQueryTimeout and
// *QueryError (the query is wrong), ctx's error, or another (the store or
// the engine failed).
func (qr *Querier) Query(ctx context.Context, q Query) (*QueryResult, error) {
	if !engineBuilt {
		return nil, ErrNoEngine
	}
	if strings.TrimSpace(q.SQL) == "" {
		return nil, &QueryError{Err: errors.New("no SQL: send a query, e.g. SELECT count(*) FROM stream('NAME', from => '1h')")}
	}
	limit := qr.cfg.MaxRecords
	switch {
	case q.MaxRecords < 0 || q.MaxRecords > qr.cfg.RecordsLimit:
		return nil, &QueryError{Err: fmt.Errorf("max_records %d: must be 1..%d (0: %d)", q.MaxRecords, qr.cfg.RecordsLimit, qr.cfg.MaxRecords)}
	case q.MaxRecords > 0:
		limit = q.MaxRecords
	}
	select {
	case qr.slots <- struct{}{}:
		defer func() { <-qr.slots }()
	default:
		return nil, ErrBusy
	}
	runCtx, cancel := context.WithTimeout(ctx, qr.cfg.Timeout)
	defer cancel()
	run := &queryRun{cfg: &qr.cfg, ctx: runCtx, now: qr.cfg.Now(), limit: int64(limit), binds: map[rangeKey]*streamRange{}}
	res, err := qr.run(runCtx, run, quoteNamedArgs(q.SQL))
	if err != nil {
		return nil, run.classify(ctx, runCtx, err)
	}
	res.RecordsRead = run.read.Load()
	return res, nil
}

// queryRun is what the stream() calls of one query share.
type queryRun struct {
	cfg   *QueryConfig
	ctx   context.Context
	now   time.Time // from and to are relative to it, the same for every call
	limit int64     // records the query may read
	read  atomic.Int64

	mu      sync.Mutex
	binds   map[rangeKey]*streamRange // DuckDB binds a call more than once
	failure error                     // the first error of a stream() call, typed
}

// fail records err as the query's failure (the first one wins) and returns
// it: DuckDB carries only its text.
func (r *queryRun) fail(err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failure == nil {
		r.failure = err
	}
	return err
}

// classify turns the engine's error into what Query returns: the typed
// error of a stream() call when one failed, a timeout, or the query's.
func (r *queryRun) classify(parent, ctx context.Context, err error) error {
	r.mu.Lock()
	failure := r.failure
	r.mu.Unlock()
	switch {
	case failure != nil && !errors.Is(failure, context.DeadlineExceeded) && !errors.Is(failure, context.Canceled):
		return failure
	case parent.Err() != nil:
		return parent.Err()
	case ctx.Err() != nil:
		return fmt.Errorf("%w: it ran longer than %v; narrow its stream() ranges (from, to) or its work", ErrQueryTimeout, r.cfg.Timeout)
	}
	return err
}
