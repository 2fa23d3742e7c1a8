package analytics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hydrant-dev/hydrant/shards"
)

// streamColumns are the columns stream() gives after those inferred from
// its records.
var streamColumns = []string{"data", "approximate_arrival_time", "partition_key", "sequence_number", "shard_id"}

// Pages a stream() call reads at a time: what it holds in memory.
const (
	rangePageRecords = 4096
	rangePageBytes   = 8 << 20
	sampleBytes      = 8 << 20 // what a call reads to infer its columns, over all shards
)

// rangeKey is a stream() call's arguments.
type rangeKey struct{ name, from, to string }

// streamRange is what a stream() call reads: the records of a stream that
// arrived in [from, to], shard by shard, and the columns inferred from
// them.
type streamRange struct {
	name     string
	from, to time.Time // from zero: from the oldest record kept
	spans    []shardSpan
	schema   *Schema // nil: no record read is a JSON object with keys
}

// shardSpan is the part of a shard a range reads: [start, end).
type shardSpan struct {
	id         int
	shardID    string
	start, end shards.Sequence
}

// columns returns the range's column names: the inferred ones, then
// streamColumns.
func (rng *streamRange) columns() []Column {
	var cols []Column
	if rng.schema != nil {
		cols = append(cols, rng.schema.cols...)
	}
	for _, c := range streamColumns {
		typ := "string"
		if c == "approximate_arrival_time" {
			typ = "timestamp_micros"
		}
		cols = append(cols, Column{Name: c, Type: typ})
	}
	return cols
}

// bind resolves a stream() call's arguments — name, from and to, each a
// string or nil — once per distinct arguments in a query: DuckDB binds a
// call more than once, and the same stream may be read twice.
func (r *queryRun) bind(args []any) (*streamRange, error) {
	var key rangeKey
	for i, p := range []*string{&key.name, &key.from, &key.to} {
		if i < len(args) {
			*p, _ = args[i].(string)
		}
	}
	r.mu.Lock()
	rng, ok := r.binds[key]
	r.mu.Unlock()
	if ok {
		return rng, nil
	}
	rng, err := r.resolve(key)
	if err != nil {
		return nil, r.fail(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if was, ok := r.binds[key]; ok {
		return was, nil
	}
	r.binds[key] = rng
	return rng, nil
}

// call writes a stream() call of name for messages.
func call(name string) string { return "stream('" + strings.ReplaceAll(name, "'", "''") + "')" }

// resolve finds where a range starts and ends on each of its stream's
// shards (closed ones too), and infers its columns from a sample.
func (r *queryRun) resolve(key rangeKey) (*streamRange, error) {
	if key.name == "" {
		return nil, &QueryError{Err: errors.New("stream(name, from => …, to => …): name is the stream's name, e.g. stream('clicks', from => '1h')")}
	}
	rng := &streamRange{name: key.name, to: r.now}
	var err error
	if key.from != "" {
		if rng.from, err = parseBound(key.from, r.now); err != nil {
			return nil, &QueryError{Err: fmt.Errorf("%s: from: %w", call(key.name), err)}
		}
	}
	if key.to != "" {
		if rng.to, err = parseBound(key.to, r.now); err != nil {
			return nil, &QueryError{Err: fmt.Errorf("%s: to: %w", call(key.name), err)}
		}
	}
	if !rng.from.IsZero() && rng.from.After(rng.to) {
		return nil, &QueryError{Err: fmt.Errorf("%s: from %s is after to %s", call(key.name),
			rng.from.UTC().Format(time.RFC3339Nano), rng.to.UTC().Format(time.RFC3339Nano))}
	}
	st, ok := r.cfg.Store.Stream(key.name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrStreamNotFound, key.name)
	}
	for _, sh := range st.Lineage().Shards {
		sp := shardSpan{id: sh.ID, shardID: shards.ShardID(sh.ID)}
		if rng.from.IsZero() {
			sp.start, err = r.cfg.Store.Position(r.ctx, key.name, sh.ID, "TRIM_HORIZON", time.Time{})
		} else {
			sp.start, err = r.cfg.Store.Position(r.ctx, key.name, sh.ID, "AT_TIMESTAMP", rng.from)
		}
		if err != nil {
			return nil, err
		}
		if sp.end, err = r.cfg.Store.Position(r.ctx, key.name, sh.ID, "AT_TIMESTAMP", rng.to.Add(time.Nanosecond)); err != nil {
			return nil, err
		}
		if sp.start < sp.end {
			rng.spans = append(rng.spans, sp)
		}
	}
	if rng.schema, err = r.sampleSchema(rng); err != nil {
		return nil, err
	}
	return rng, nil
}

// sampleSchema infers a range's columns from up to AutoSchemaSample of its
// first records, the same share of each shard (Discover). A key named as
// one of streamColumns gets a column named KEY_2.
func (r *queryRun) sampleSchema(rng *streamRange) (*Schema, error) {
	var samples [][]byte
	perShard := sampleBytes / max(len(rng.spans), 1)
	for _, sp := range rng.spans {
		rr := &rangeReader{run: r, rng: &streamRange{name: rng.name, from: rng.from, to: rng.to, spans: []shardSpan{sp}}, sample: true}
		for n, size := 0, 0; n < AutoSchemaSample && size < perShard; n++ {
			rec, _, ok, err := rr.next(min(AutoSchemaSample-n, rangePageRecords), perShard-size)
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			samples = append(samples, rec.Data)
			size += len(rec.Data)
		}
	}
	samples = spreadSample(samples, AutoSchemaSample)
	cols := Discover(samples)
	if len(cols) == 0 {
		return nil, nil
	}
	taken := map[string]bool{}
	for _, c := range cols {
		taken[strings.ToLower(c.Name)] = true
	}
	for _, c := range streamColumns {
		taken[c] = true
	}
	for i, c := range cols {
		if !isStreamColumn(c.Name) {
			continue
		}
		if c.Path == "" {
			cols[i].Path = "/" + c.Name
		}
		name := c.Name
		for n := 2; taken[strings.ToLower(name)]; n++ {
			name = c.Name + "_" + strconv.Itoa(n)
		}
		taken[strings.ToLower(name)] = true
		cols[i].Name = name
	}
	return NewSchema(cols)
}

func isStreamColumn(name string) bool {
	for _, c := range streamColumns {
		if strings.EqualFold(c, name) {
			return true
		}
	}
	return false
}

// rangeReader reads a range's records, shard after shard, a page at a
// time.
type rangeReader struct {
	run     *queryRun
	rng     *streamRange
	sample  bool // reading to infer columns: not counted against the query's bound
	span    int  // index in rng.spans
	started bool // rng.spans[span] is being read from pos
	pos     shards.Sequence
	page    []shards.StoredRecord
}

// next returns the range's next record and its shard's span, or false at
// the range's end; it reads at most pageRecords records and (but for
// one) pageBytes bytes from the store at a time. A record past the
// query's bound is ErrTooManyRecords.
func (rr *rangeReader) next(pageRecords, pageBytes int) (shards.StoredRecord, *shardSpan, bool, error) {
	for rr.span < len(rr.rng.spans) {
		sp := &rr.rng.spans[rr.span]
		for len(rr.page) > 0 {
			rec := rr.page[0]
			rr.page = rr.page[1:]
			if rec.Sequence >= sp.end {
				rr.page = nil
				rr.pos = sp.end
				break
			}
			if rec.Arrival.Before(rr.rng.from) || rec.Arrival.After(rr.rng.to) {
				continue
			}
			if !rr.sample && rr.run.read.Add(1) > rr.run.limit {
				return rec, sp, false, rr.run.fail(fmt.Errorf(
					"%w: its stream() calls hold more than %d records (max_records); narrow from/to, or ask for more (at most %d)",
					ErrTooManyRecords, rr.run.limit, rr.run.cfg.RecordsLimit))
			}
			return rec, sp, true, nil
		}
		if !rr.started {
			rr.pos, rr.started = sp.start, true
		}
		if rr.pos >= sp.end {
			rr.span, rr.started = rr.span+1, false
			continue
		}
		res, err := rr.run.cfg.Store.Read(rr.run.ctx, rr.rng.name, sp.id, rr.pos, pageRecords, pageBytes)
		if err != nil {
			return shards.StoredRecord{}, sp, false, rr.run.fail(err)
		}
		if len(res.Records) == 0 {
			rr.span, rr.started = rr.span+1, false
			continue
		}
		rr.page, rr.pos = res.Records, res.Next
	}
	return shards.StoredRecord{}, nil, false, nil
}

// lenientValues converts rec to s's columns as Values does, into out,
// except that a value that does not fit its column is nil (NULL) instead
// of failing the record: stream()'s data column keeps the record whole.
// want says which columns are read.
func (s *Schema) lenientValues(rec []byte, out []any, want func(int) bool) {
	clear(out)
	dec := json.NewDecoder(bytes.NewReader(rec))
	dec.UseNumber()
	var doc any
	if dec.Decode(&doc) != nil {
		return
	}
	for i, c := range s.cols {
		if !want(i) {
			continue
		}
		v, ok := s.paths[i].Resolve(doc)
		if !ok || v == nil {
			continue
		}
		if cv, err := convert(v, c.Type); err == nil {
			out[i] = cv
		}
	}
}

// parseBound reads stream()'s from or to: a duration before now (a Go
// duration such as 90s, 15m or 1h30m, or days: 2d) or a time (RFC 3339,
// or as DuckDB writes a TIMESTAMP or TIMESTAMPTZ; UTC when without zone).
func parseBound(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	d, err := time.ParseDuration(s)
	if err != nil && strings.HasSuffix(s, "d") {
		if days, ferr := strconv.ParseFloat(strings.TrimSuffix(s, "d"), 64); ferr == nil && days < 1e5 && days > -1e5 {
			d, err = time.Duration(days*24*float64(time.Hour)), nil
		}
	}
	if err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: a duration is how long before now, so not negative", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07",
		"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration before now (90s, 15m, 1h, 2d) nor a time (RFC 3339: 2026-12-05T12:00:00Z)", s)
}
