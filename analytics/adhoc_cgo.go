//go:build cgo

package analytics

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/duckdb/duckdb-go/v2"
)

// engineBuilt: this build has the SQL engine.
const engineBuilt = true

// streamMacro is stream() as queries call it: a table macro, so that from
// and to may be left out (a table function of duckdb-go must be given
// every named parameter), over the table function hydrant_stream.
const streamMacro = `CREATE TEMP MACRO stream(name, "from" := NULL, "to" := NULL) AS TABLE
	SELECT * FROM hydrant_stream(CAST(name AS VARCHAR), CAST("from" AS VARCHAR), CAST("to" AS VARCHAR))`

// run runs query on an engine of its own, with stream() over r, and
// returns its first rows.
func (qr *Querier) run(ctx context.Context, r *queryRun, query string) (*QueryResult, error) {
	dir, err := os.MkdirTemp(qr.cfg.TempDir, "query-")
	if err != nil {
		return nil, fmt.Errorf("sql engine: %w", err)
	}
	defer os.RemoveAll(dir)
	e, err := NewEngine(ctx, EngineConfig{MemoryLimit: qr.cfg.MemoryLimit, TempDir: dir, Threads: qr.cfg.Threads})
	if err != nil {
		return nil, err
	}
	defer e.Close()
	if err := registerStream(ctx, e.conn, r); err != nil {
		return nil, err
	}
	if query, err = bounded(ctx, e.conn, query, qr.cfg.MaxRows+1); err != nil {
		return nil, err
	}
	res, err := e.conn.QueryContext(ctx, query)
	if err != nil {
		return nil, &QueryError{Err: err}
	}
	defer res.Close()
	return qr.collect(res)
}

// collect returns res's rows as JSON objects, up to MaxRows of them and
// MaxResultBytes.
func (qr *Querier) collect(res *sql.Rows) (*QueryResult, error) {
	cols, err := res.Columns()
	if err != nil {
		return nil, &QueryError{Err: err}
	}
	out := &QueryResult{Columns: uniqueNames(cols), Rows: []json.RawMessage{}}
	keys := make([][]byte, len(cols))
	for i, c := range out.Columns {
		keys[i] = appendJSONString(nil, c)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	size := 0
	for res.Next() {
		if len(out.Rows) == qr.cfg.MaxRows {
			out.Truncated = true
			break
		}
		if err := res.Scan(ptrs...); err != nil {
			return nil, &QueryError{Err: err}
		}
		b := []byte{'{'}
		for i := range cols {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(append(b, keys[i]...), ':')
			if s, ok := vals[i].(string); ok {
				b = appendJSONString(b, s)
			} else if nb, err := appendJSON(b, vals[i]); err == nil {
				b = nb
			} else { // a MAP's keys, say: its text
				b = strconv.AppendQuote(b, fmt.Sprint(vals[i]))
			}
		}
		b = append(b, '}')
		if size += len(b); size > qr.cfg.MaxResultBytes {
			out.Truncated = true
			break
		}
		out.Rows = append(out.Rows, b)
	}
	if !out.Truncated {
		if err := res.Err(); err != nil {
			return nil, &QueryError{Err: err}
		}
	}
	return out, nil
}

const onlyQueries = "only one query runs here (SELECT, FROM, WITH, VALUES, DESCRIBE, SUMMARIZE, SHOW, PIVOT, or EXPLAIN of one)"

// bounded returns query as it is run: a query (SELECT, FROM, WITH, VALUES,
// DESCRIBE, SUMMARIZE, SHOW, PIVOT) under a LIMIT of limit rows, since
// duckdb-go holds a result whole before its first row is read; an EXPLAIN
// as it is. Any other statement, or more than one, is a QueryError: a
// query reads, it changes nothing.
func bounded(ctx context.Context, conn *sql.Conn, query string, limit int) (string, error) {
	var text string
	if err := conn.QueryRowContext(ctx, "SELECT CAST(json_serialize_sql(?) AS VARCHAR)", query).Scan(&text); err != nil {
		return "", fmt.Errorf("sql engine: %w", err)
	}
	var parsed struct {
		Error        bool              `json:"error"`
		ErrorType    string            `json:"error_type"`
		ErrorMessage string            `json:"error_message"`
		Statements   []json.RawMessage `json:"statements"`
	}
	if err := json.Unmarshal([]byte(text), &parsed); err != nil {
		return "", fmt.Errorf("sql engine: json_serialize_sql: %w", err)
	}
	switch {
	case parsed.Error && parsed.ErrorType == "parser":
		return "", &QueryError{Err: fmt.Errorf("Parser Error: %s", parsed.ErrorMessage)}
	case parsed.Error && strings.EqualFold(firstWord(query), "EXPLAIN"):
		return query, nil // a plan: a few rows
	case parsed.Error:
		return "", &QueryError{Err: errors.New(onlyQueries + ": no other statement (PRAGMA, CALL, SET, COPY, ATTACH, CREATE, INSERT…)")}
	case len(parsed.Statements) != 1:
		return "", &QueryError{Err: fmt.Errorf("%s: this is %d statements", onlyQueries, len(parsed.Statements))}
	}
	return "SELECT * FROM (\n" + trimSemicolons(query) + "\n) LIMIT " + strconv.Itoa(limit), nil
}

// appendJSONString appends s as a JSON string, <, > and & as they are.
func appendJSONString(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})...)
}

// registerStream makes stream() on conn read through r.
func registerStream(ctx context.Context, conn *sql.Conn, r *queryRun) error {
	varchar, err := duckdb.NewTypeInfo(duckdb.TYPE_VARCHAR)
	if err != nil {
		return fmt.Errorf("sql engine: %w", err)
	}
	fn := duckdb.RowTableFunction{
		Config: duckdb.TableFunctionConfig{Arguments: []duckdb.TypeInfo{varchar, varchar, varchar}},
		BindArguments: func(_ map[string]any, args ...any) (duckdb.RowTableSource, error) {
			rng, err := r.bind(args)
			if err != nil {
				return nil, err
			}
			return newStreamSource(r, rng)
		},
	}
	if err := duckdb.RegisterTableUDF(conn, "hydrant_stream", fn); err != nil {
		return fmt.Errorf("sql engine: stream(): %w", err)
	}
	if _, err := conn.ExecContext(ctx, streamMacro); err != nil {
		return fmt.Errorf("sql engine: stream(): %w", err)
	}
	return nil
}

// streamSource is one stream() call's rows, for DuckDB.
type streamSource struct {
	run     *queryRun
	rng     *streamRange
	cols    []duckdb.ColumnInfo
	reader  *rangeReader
	vals    []any // the inferred columns' values of the current record
	nSchema int   // how many columns are inferred ones
}

func newStreamSource(r *queryRun, rng *streamRange) (*streamSource, error) {
	s := &streamSource{run: r, rng: rng, reader: &rangeReader{run: r, rng: rng}}
	for _, c := range rng.columns() {
		t, err := columnType(c.Type)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		s.cols = append(s.cols, duckdb.ColumnInfo{Name: c.Name, T: t})
	}
	if rng.schema != nil {
		s.nSchema = len(rng.schema.cols)
		s.vals = make([]any, s.nSchema)
	}
	return s, nil
}

// columnType is the DuckDB type stream() gives a column of type typ: as
// an application's, but json and decimal columns are text.
func columnType(typ string) (duckdb.TypeInfo, error) {
	t := duckdb.TYPE_VARCHAR
	switch typ {
	case "int32":
		t = duckdb.TYPE_INTEGER
	case "int64":
		t = duckdb.TYPE_BIGINT
	case "float":
		t = duckdb.TYPE_FLOAT
	case "double":
		t = duckdb.TYPE_DOUBLE
	case "boolean":
		t = duckdb.TYPE_BOOLEAN
	case "timestamp_millis", "timestamp_micros":
		t = duckdb.TYPE_TIMESTAMP
	case "date":
		t = duckdb.TYPE_DATE
	}
	return duckdb.NewTypeInfo(t)
}

func (s *streamSource) ColumnInfos() []duckdb.ColumnInfo     { return s.cols }
func (s *streamSource) Cardinality() *duckdb.CardinalityInfo { return nil }
func (s *streamSource) Init()                                {}

// FillRow puts the range's next record in row; false at its end. Only the
// columns the query uses are computed.
func (s *streamSource) FillRow(row duckdb.Row) (bool, error) {
	rec, sp, ok, err := s.reader.next(rangePageRecords, rangePageBytes)
	if err != nil || !ok {
		return false, err
	}
	if s.nSchema > 0 {
		for i := range s.nSchema {
			if row.IsProjected(i) {
				s.rng.schema.lenientValues(rec.Data, s.vals, row.IsProjected)
				break
			}
		}
		for i, v := range s.vals {
			if err := row.SetRowValue(i, v); err != nil {
				return false, s.run.fail(fmt.Errorf("stream %s: column %s: %w", s.rng.name, s.cols[i].Name, err))
			}
			s.vals[i] = nil
		}
	}
	n := s.nSchema
	if row.IsProjected(n) {
		data := string(rec.Data)
		if !utf8.ValidString(data) {
			data = strings.ToValidUTF8(data, "\uFFFD")
		}
		if err := row.SetRowValue(n, data); err != nil {
			return false, s.run.fail(fmt.Errorf("stream %s: column data: %w", s.rng.name, err))
		}
	}
	for i, v := range []any{rec.Arrival.UTC(), rec.PartitionKey, rec.Sequence.String(), sp.shardID} {
		if !row.IsProjected(n + 1 + i) {
			continue
		}
		if err := row.SetRowValue(n+1+i, v); err != nil {
			return false, s.run.fail(fmt.Errorf("stream %s: column %s: %w", s.rng.name, streamColumns[1+i], err))
		}
	}
	return true, nil
}
