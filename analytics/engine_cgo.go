//go:build cgo

package analytics

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// Engine runs an application's SQL over one window's rows at a time, in an
// embedded DuckDB that can read no file and reach no network: queries see
// only the tables Hydrant gives them. Not safe for concurrent use.
type Engine struct {
	connector *duckdb.Connector
	db        *sql.DB
	conn      *sql.Conn
	refs      []Reference // paths made absolute
}

// NewEngine starts an in-memory DuckDB bounded by cfg.
func NewEngine(ctx context.Context, cfg EngineConfig) (*Engine, error) {
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, fmt.Errorf("sql engine: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sql engine: %w", err)
	}
	e := &Engine{connector: connector, db: db, conn: conn, refs: cfg.References}
	var settings []string
	if len(cfg.References) > 0 {
		paths := make([]string, len(cfg.References))
		for i, r := range cfg.References {
			if !columnName.MatchString(r.Name) || strings.EqualFold(r.Name, "source") || strings.EqualFold(r.Name, "source_rows") {
				e.Close()
				return nil, fmt.Errorf("reference %q: a name is an SQL identifier other than source", r.Name)
			}
			if _, err := r.readFunction(); err != nil {
				e.Close()
				return nil, err
			}
			abs, err := filepath.Abs(r.Path)
			if err != nil {
				e.Close()
				return nil, fmt.Errorf("reference %s: %w", r.Name, err)
			}
			e.refs[i].Path, paths[i] = abs, quote(abs)
		}
		settings = append(settings, "SET allowed_paths = ["+strings.Join(paths, ", ")+"]")
	}
	if cfg.MemoryLimit > 0 {
		settings = append(settings, fmt.Sprintf("SET memory_limit = '%dB'", cfg.MemoryLimit))
	}
	if cfg.TempDir != "" {
		settings = append(settings, "SET temp_directory = "+quote(cfg.TempDir))
	}
	if cfg.Threads > 0 {
		settings = append(settings, fmt.Sprintf("SET threads = %d", cfg.Threads))
	}
	// Last: no query may read or write files or the network, nor change
	// these settings back.
	settings = append(settings, "SET enable_external_access = false", "SET autoinstall_known_extensions = false",
		"SET autoload_known_extensions = false", "SET lock_configuration = true")
	for _, s := range settings {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			e.Close()
			return nil, fmt.Errorf("sql engine: %s: %w", s, err)
		}
	}
	if err := e.Reload(ctx); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Reload loads the reference tables from their files again (fetched
// first, for those with a Fetcher), each in one statement: a file that
// cannot be read or fetched leaves its table as it was, and is the error
// (retryable: the file may be back).
func (e *Engine) Reload(ctx context.Context) error {
	var errs []error
	for _, r := range e.refs {
		if r.Fetch != nil {
			if err := r.Fetch.Fetch(ctx, r.Path); err != nil {
				errs = append(errs, fmt.Errorf("reference %s: %w", r.Name, err))
				if _, statErr := os.Stat(r.Path); statErr != nil {
					continue // no copy yet: nothing to load
				}
			}
		}
		fn, _ := r.readFunction()
		q := "CREATE OR REPLACE TABLE " + ident(r.Name) + " AS SELECT * FROM " + fn + "(" + quote(r.Path) + ")"
		if _, err := e.conn.ExecContext(ctx, q); err != nil {
			errs = append(errs, fmt.Errorf("reference %s: %w", r.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Close releases the engine.
func (e *Engine) Close() error {
	e.conn.Close()
	e.db.Close()
	return e.connector.Close()
}

// quote returns s as an SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// ident returns name as an SQL identifier.
func ident(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// Run loads rows as table source (the schema's columns, then
// approximate_arrival_time, partition_key, sequence_number, shard_id,
// window_start, window_end) and runs query over it. Each result row is a
// JSON object of the query's columns, in their order. An error is the
// query's (not retryable: the same rows fail the same way) or ctx's.
func (e *Engine) Run(ctx context.Context, schema *Schema, w Window, rows []Row, query string) ([][]byte, error) {
	if err := e.load(ctx, schema, w, rows); err != nil {
		return nil, err
	}
	res, err := e.conn.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer res.Close()
	cols, err := res.Columns()
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	keys := make([][]byte, len(cols))
	for i, c := range cols {
		keys[i], _ = json.Marshal(c)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out [][]byte
	for res.Next() {
		if err := res.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		b := []byte{'{'}
		for i := range cols {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(append(b, keys[i]...), ':')
			if b, err = appendJSON(b, vals[i]); err != nil {
				return nil, fmt.Errorf("query: column %s: %w", cols[i], err)
			}
		}
		out = append(out, append(b, '}'))
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return out, nil
}

// load replaces table source with rows. Decimal columns are loaded as text
// into a staging table and cast by the view source, which the appender
// cannot do.
func (e *Engine) load(ctx context.Context, schema *Schema, w Window, rows []Row) error {
	var raw, view []string
	for i, c := range schema.cols {
		typ := schema.types[i]
		if strings.HasPrefix(typ, "DECIMAL") {
			raw = append(raw, ident(c.Name)+" VARCHAR")
			view = append(view, "CAST("+ident(c.Name)+" AS "+typ+") AS "+ident(c.Name))
			continue
		}
		raw = append(raw, ident(c.Name)+" "+typ)
		view = append(view, ident(c.Name))
	}
	raw = append(raw, "approximate_arrival_time TIMESTAMP", "partition_key VARCHAR", "sequence_number VARCHAR", "shard_id VARCHAR",
		"window_start TIMESTAMP", "window_end TIMESTAMP")
	view = append(view, metaColumns...)
	for _, s := range []string{
		"DROP VIEW IF EXISTS source",
		"CREATE OR REPLACE TABLE source_rows (" + strings.Join(raw, ", ") + ")",
		"CREATE VIEW source AS SELECT " + strings.Join(view, ", ") + " FROM source_rows",
	} {
		if _, err := e.conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("sql engine: %w", err)
		}
	}
	return e.conn.Raw(func(dc any) error {
		app, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", "source_rows")
		if err != nil {
			return fmt.Errorf("sql engine: %w", err)
		}
		args := make([]driver.Value, len(schema.cols)+6)
		for _, r := range rows {
			for i, v := range r.Values {
				args[i] = v
			}
			n := len(schema.cols)
			args[n], args[n+1], args[n+2], args[n+3], args[n+4], args[n+5] = r.Arrival.UTC(), r.PartitionKey, r.Sequence, r.ShardID, w.Start.UTC(), w.End.UTC()
			if err := app.AppendRow(args...); err != nil {
				app.Close()
				return fmt.Errorf("sql engine: append a row: %w", err)
			}
		}
		if err := app.Close(); err != nil {
			return fmt.Errorf("sql engine: %w", err)
		}
		return nil
	})
}

// appendJSON appends v, as DuckDB returned it, as JSON.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case time.Time:
		return strconv.AppendQuote(b, x.UTC().Format(time.RFC3339Nano)), nil
	case duckdb.Decimal:
		return append(b, decimalText(x)...), nil
	case *big.Int:
		return append(b, x.String()...), nil
	case []byte:
		return strconv.AppendQuote(b, base64.StdEncoding.EncodeToString(x)), nil
	case duckdb.Interval:
		d := time.Duration(x.Micros)*time.Microsecond + time.Duration(x.Days)*24*time.Hour
		return strconv.AppendQuote(b, fmt.Sprintf("%dmonths %v", x.Months, d)), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return b, err
	}
	return append(b, j...), nil
}

// decimalText writes a decimal exactly: its digits with the point in place.
func decimalText(d duckdb.Decimal) string {
	s := d.Value.String()
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	scale := int(d.Scale)
	for len(s) <= scale {
		s = "0" + s
	}
	if scale > 0 {
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
