//go:build cgo

package analytics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/shards"
)

// adhocEnv is a store with stream trades (2 shards) whose records arrive
// at the injected clock, and a Querier over it.
type adhocEnv struct {
	t     *testing.T
	ctx   context.Context
	clock time.Time
	store *shards.Store
	src   *shards.Stream
	dir   string
}

func newAdhocEnv(t *testing.T) *adhocEnv {
	e := &adhocEnv{t: t, ctx: context.Background(), clock: at("2026-12-05T09:00:00Z"), dir: t.TempDir()}
	s, err := shards.Open(e.ctx, shards.StoreConfig{DataDir: filepath.Join(e.dir, "data"), Now: func() time.Time { return e.clock }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e.store = s
	limits := shards.Limits{BytesPerSecond: 1 << 30, RecordsPerSecond: 1 << 20}
	if e.src, err = s.CreateStream(e.ctx, shards.StreamSpec{Name: "trades", Shards: 2, Limits: limits}); err != nil {
		t.Fatal(err)
	}
	return e
}

// putAt puts records as arriving at clock t (which the clock moves to).
func (e *adhocEnv) putAt(t time.Time, recs ...string) {
	e.t.Helper()
	e.clock = t
	for i, r := range recs {
		res := e.src.Put(e.ctx, t, []shards.Record{{PartitionKey: fmt.Sprint("k", i), Data: []byte(r)}})
		if res[0].Err != nil {
			e.t.Fatal(res[0].Err)
		}
	}
}

func (e *adhocEnv) querier(cfg QueryConfig) *Querier {
	e.t.Helper()
	cfg.Store, cfg.TempDir, cfg.Now = e.store, filepath.Join(e.dir, "sql"), func() time.Time { return e.clock }
	q, err := NewQuerier(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return q
}

// rowsText is a result's rows, one JSON object a line.
func rowsText(res *QueryResult) string {
	var b strings.Builder
	for _, r := range res.Rows {
		b.Write(r)
		b.WriteByte('\n')
	}
	return b.String()
}

// The trades of a day: two at 09:00, three at 11:30, queried at 12:00.
func tradesEnv(t *testing.T) *adhocEnv {
	e := newAdhocEnv(t)
	e.putAt(at("2026-12-05T09:00:00Z"), `{"ticker":"AAPL","price":100}`, `{"ticker":"MSFT","price":300}`)
	e.putAt(at("2026-12-05T11:30:00Z"), `{"ticker":"AAPL","price":110}`, `{"ticker":"AAPL","price":120}`, `{"ticker":"MSFT","price":330}`)
	e.clock = at("2026-12-05T12:00:00Z")
	return e
}

func TestQueryStream(t *testing.T) {
	e := tradesEnv(t)
	q := e.querier(QueryConfig{})
	tests := map[string]struct {
		sql, want string
	}{
		"group by over every record kept": {
			sql:  `SELECT ticker, count(*) AS n, sum(price) AS total FROM stream('trades') GROUP BY ticker ORDER BY ticker`,
			want: `{"ticker":"AAPL","n":3,"total":330}` + "\n" + `{"ticker":"MSFT","n":2,"total":630}` + "\n",
		},
		"from a duration before now excludes older records": {
			sql:  `SELECT ticker, count(*) AS n FROM stream('trades', from => '1h') GROUP BY ALL ORDER BY ticker`,
			want: `{"ticker":"AAPL","n":2}` + "\n" + `{"ticker":"MSFT","n":1}` + "\n",
		},
		"to a duration before now excludes newer ones": {
			sql:  `SELECT sum(price) AS total FROM stream('trades', to => '1h')`,
			want: `{"total":400}` + "\n",
		},
		"from and to as times, named as the user likes": {
			sql: `SELECT count(*) AS n FROM stream(name => 'trades', FROM /* since */ := '2026-12-05T11:00:00Z',
			      "to" => '2026-12-05 11:30:00')`,
			want: `{"n":3}` + "\n",
		},
		"days": {
			sql:  `SELECT count(*) AS n FROM stream('trades', from => '1d')`,
			want: `{"n":5}` + "\n",
		},
		"a self-join over two ranges": {
			sql: `SELECT b.ticker, max(a.price) AS before, max(b.price) AS latest
			      FROM stream('trades', to => '1h') a JOIN stream('trades', from => '1h') b USING (ticker)
			      GROUP BY b.ticker ORDER BY b.ticker`,
			want: `{"ticker":"AAPL","before":100,"latest":120}` + "\n" + `{"ticker":"MSFT","before":300,"latest":330}` + "\n",
		},
		"the record's own columns": {
			sql: `SELECT data, approximate_arrival_time, partition_key, shard_id LIKE 'shardId-%' AS shard,
			      sequence_number::UBIGINT > 0 AS seq FROM stream('trades', to => '2h')  WHERE ticker = 'MSFT'`,
			want: `{"data":"{\"ticker\":\"MSFT\",\"price\":300}","approximate_arrival_time":"2026-12-05T09:00:00Z","partition_key":"k1","shard":true,"seq":true}` + "\n",
		},
		"strings and comments that look like named parameters stay": {
			sql:  `SELECT 'from => 1' AS "to => 2" -- from => 3` + "\n" + `FROM stream('trades', from => '1h') LIMIT 1`,
			want: `{"to => 2":"from => 1"}` + "\n",
		},
		"an empty range has the meta columns": {
			sql:  `SELECT count(*) AS n, count(data) AS d FROM stream('trades', from => '1m')`,
			want: `{"n":0,"d":0}` + "\n",
		},
		"duplicate column names are made unique": {
			sql:  `SELECT 1 AS x, 2 AS x, 3 AS x_2`,
			want: `{"x":1,"x_1":2,"x_2":3}` + "\n",
		},
		"the order of ORDER BY": {
			sql:  `SELECT price FROM stream('trades') ORDER BY price DESC;  -- done;`,
			want: `{"price":330}` + "\n" + `{"price":300}` + "\n" + `{"price":120}` + "\n" + `{"price":110}` + "\n" + `{"price":100}` + "\n",
		},
		"DESCRIBE": {
			sql:  `DESCRIBE SELECT ticker FROM stream('trades')`,
			want: `{"column_name":"ticker","column_type":"VARCHAR","null":"YES","key":null,"default":null,"extra":null}` + "\n",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := q.Query(e.ctx, Query{SQL: tt.sql})
			if err != nil {
				t.Fatal(err)
			}
			if got := rowsText(res); got != tt.want {
				t.Errorf("rows\n%s want\n%s", got, tt.want)
			}
			if res.Truncated {
				t.Error("truncated")
			}
		})
	}
}

// A stream's closed shards are read too: records put before a reshard
// count.
func TestQueryStreamAfterReshard(t *testing.T) {
	e := tradesEnv(t)
	if err := e.store.UpdateShardCount(e.ctx, "trades", 3, false); err != nil {
		t.Fatal(err)
	}
	e.putAt(at("2026-12-05T12:00:00Z"), `{"ticker":"AMZN","price":5}`)
	res, err := e.querier(QueryConfig{}).Query(e.ctx, Query{SQL: `SELECT count(*) AS n, count(DISTINCT shard_id) > 2 AS many FROM stream('trades')`})
	if err != nil {
		t.Fatal(err)
	}
	if got := rowsText(res); got != `{"n":6,"many":true}`+"\n" {
		t.Errorf("rows %s", got)
	}
}

// Columns are inferred from the records (Discover), in the order first
// seen (keys sorted within a record); a record that is not JSON has NULLs,
// and data always holds the record. A key named as a stream() column gets
// _2.
func TestQueryStreamColumns(t *testing.T) {
	e := newAdhocEnv(t)
	e.putAt(e.clock, `{"n":1,"ts":"2026-12-05T08:00:00Z","data":"x","tags":["a"]}`, `{"n":2,"ts":"2026-12-05T08:30:00Z","data":"y"}`)
	e.putAt(e.clock.Add(time.Second), `not json`)
	q := e.querier(QueryConfig{})
	res, err := q.Query(e.ctx, Query{SQL: `SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM stream('trades'))`})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"column_name":"data_2","column_type":"VARCHAR"}
{"column_name":"n","column_type":"BIGINT"}
{"column_name":"tags","column_type":"VARCHAR"}
{"column_name":"ts","column_type":"TIMESTAMP"}
{"column_name":"data","column_type":"VARCHAR"}
{"column_name":"approximate_arrival_time","column_type":"TIMESTAMP"}
{"column_name":"partition_key","column_type":"VARCHAR"}
{"column_name":"sequence_number","column_type":"VARCHAR"}
{"column_name":"shard_id","column_type":"VARCHAR"}
`
	if got := rowsText(res); got != want {
		t.Errorf("columns\n%s want\n%s", got, want)
	}
	res, err = q.Query(e.ctx, Query{SQL: `SELECT n, ts, data_2, tags->>0 AS tag, data FROM stream('trades') ORDER BY approximate_arrival_time, n`})
	if err != nil {
		t.Fatal(err)
	}
	want = `{"n":1,"ts":"2026-12-05T08:00:00Z","data_2":"x","tag":"a","data":"{\"n\":1,\"ts\":\"2026-12-05T08:00:00Z\",\"data\":\"x\",\"tags\":[\"a\"]}"}
{"n":2,"ts":"2026-12-05T08:30:00Z","data_2":"y","tag":null,"data":"{\"n\":2,\"ts\":\"2026-12-05T08:30:00Z\",\"data\":\"y\"}"}
{"n":null,"ts":null,"data_2":null,"tag":null,"data":"not json"}
`
	if got := rowsText(res); got != want {
		t.Errorf("rows\n%s want\n%s", got, want)
	}
}

// The columns come from a sample (the first AutoSchemaSample records of
// each shard): a later value that does not fit its column is NULL there,
// and the record is still in data.
func TestQueryStreamMisfit(t *testing.T) {
	e := newAdhocEnv(t)
	var recs []shards.Record
	for i := range AutoSchemaSample {
		recs = append(recs, shards.Record{PartitionKey: "one-shard", Data: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	recs = append(recs, shards.Record{PartitionKey: "one-shard", Data: []byte(`{"n":"three"}`)})
	for _, r := range e.src.Put(e.ctx, e.clock, recs) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	res, err := e.querier(QueryConfig{}).Query(e.ctx, Query{SQL: `SELECT count(*) AS records, count(n) AS ns, sum(n) AS total,
		string_agg(data) FILTER (WHERE n IS NULL) AS misfit FROM stream('trades')`})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rowsText(res), `{"records":1001,"ns":1000,"total":499500,"misfit":"{\"n\":\"three\"}"}`+"\n"; got != want {
		t.Errorf("rows %s want %s", got, want)
	}
}

func TestQueryErrors(t *testing.T) {
	e := tradesEnv(t)
	q := e.querier(QueryConfig{MaxRecords: 4, RecordsLimit: 100})
	tests := map[string]struct {
		q       Query
		wantErr error  // errors.Is
		query   bool   // a *QueryError
		message string // in the error's text
	}{
		"unknown stream":             {q: Query{SQL: `SELECT * FROM stream('nope')`}, wantErr: ErrStreamNotFound, message: `"nope"`},
		"unknown stream in a join":   {q: Query{SQL: `SELECT * FROM stream('trades') JOIN stream('nope') USING (ticker)`}, wantErr: ErrStreamNotFound},
		"more records than allowed":  {q: Query{SQL: `SELECT count(*) FROM stream('trades')`}, wantErr: ErrTooManyRecords, message: "more than 4 records"},
		"over two calls, too":        {q: Query{SQL: `SELECT count(*) FROM stream('trades', to => '1h') a, stream('trades', from => '1h') b`}, wantErr: ErrTooManyRecords},
		"max_records past the limit": {q: Query{SQL: `SELECT 1`, MaxRecords: 101}, query: true, message: "max_records 101: must be 1..100"},
		"no SQL":                     {q: Query{SQL: " \n"}, query: true, message: "no SQL"},
		"SQL that does not parse":    {q: Query{SQL: `SELEC 1`}, query: true, message: "syntax error"},
		"a bad from":                 {q: Query{SQL: `SELECT * FROM stream('trades', from => 'yesterday')`}, query: true, message: `stream('trades'): from: "yesterday" is neither`},
		"a negative duration":        {q: Query{SQL: `SELECT * FROM stream('trades', from => '-1h')`}, query: true, message: "not negative"},
		"from after to":              {q: Query{SQL: `SELECT * FROM stream('trades', from => '1h', to => '2h')`}, query: true, message: "is after to"},
		"no name":                    {q: Query{SQL: `SELECT * FROM stream(NULL)`}, query: true, message: "name is the stream's name"},
		"two statements":             {q: Query{SQL: `SELECT 1; SELECT 2`}, query: true, message: "only one query runs here (SELECT, FROM, WITH, VALUES, DESCRIBE, SUMMARIZE, SHOW, PIVOT, or EXPLAIN of one): this is 2 statements"},
		"not a query":                {q: Query{SQL: `/* hm */ PRAGMA version`}, query: true, message: "only one query runs here"},
		"an unknown parameter":       {q: Query{SQL: `SELECT * FROM stream('trades', since => '1h')`}, query: true, message: "stream(name, from := NULL, to := NULL)"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := q.Query(e.ctx, tt.q)
			var qe *QueryError
			switch {
			case err == nil:
				t.Fatal("no error")
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("error %v, want %v", err, tt.wantErr)
			case tt.query && !errors.As(err, &qe):
				t.Errorf("error %v (%T), want a *QueryError", err, err)
			case !strings.Contains(err.Error(), tt.message):
				t.Errorf("error %q does not say %q", err, tt.message)
			}
		})
	}
	// Asking for enough records, the same query runs.
	res, err := q.Query(e.ctx, Query{SQL: `SELECT count(*) AS n FROM stream('trades')`, MaxRecords: 5})
	if err != nil || rowsText(res) != `{"n":5}`+"\n" || res.RecordsRead != 5 {
		t.Fatalf("%v %v", res, err)
	}
}

// A query can read no file, write none, reach no network and change no
// setting; its spill directory is removed after it.
func TestQuerySandbox(t *testing.T) {
	e := tradesEnv(t)
	secret := filepath.Join(t.TempDir(), "secret.csv")
	if err := os.WriteFile(secret, []byte("a,b\n1,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	q := e.querier(QueryConfig{})
	const noFiles, locked, onlyQueries = "file system operations are disabled by configuration", "the configuration has been locked",
		"only one query runs here"
	out := quote(filepath.Join(e.dir, "out.csv"))
	for sql, want := range map[string]string{
		`SELECT * FROM read_csv('/etc/passwd')`:                   noFiles,
		`SELECT * FROM read_csv_auto(` + quote(secret) + `)`:      noFiles,
		`SELECT * FROM read_text('/etc/hostname')`:                noFiles,
		`SELECT * FROM glob('/etc/*')`:                            noFiles,
		`SELECT * FROM read_json('http://127.0.0.1:1/x.json')`:    noFiles,
		`COPY (SELECT data FROM stream('trades')) TO ` + out:      onlyQueries,
		`ATTACH ` + quote(filepath.Join(e.dir, "x.db")) + ` AS x`: onlyQueries,
		`INSTALL httpfs`:                              onlyQueries,
		`SET enable_external_access = true`:           onlyQueries,
		`SELECT 1; SET enable_external_access = true`: onlyQueries,
		// EXPLAIN ANALYZE runs its statement: the engine refuses it.
		`EXPLAIN ANALYZE COPY (SELECT data FROM stream('trades')) TO ` + out: noFiles,
		`EXPLAIN ANALYZE SET enable_external_access = true`:                  locked,
		`EXPLAIN ANALYZE RESET lock_configuration`:                           locked,
	} {
		var qe *QueryError
		if _, err := q.Query(e.ctx, Query{SQL: sql}); !errors.As(err, &qe) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want a QueryError saying %q", sql, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, "out.csv")); err == nil {
		t.Error("COPY wrote a file")
	}
	if left, _ := filepath.Glob(filepath.Join(e.dir, "sql", "*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// Past MaxRows or MaxResultBytes a result is truncated.
func TestQueryTruncated(t *testing.T) {
	e := tradesEnv(t)
	for name, cfg := range map[string]QueryConfig{"rows": {MaxRows: 3}, "bytes": {MaxResultBytes: 100}} {
		t.Run(name, func(t *testing.T) {
			res, err := e.querier(cfg).Query(e.ctx, Query{SQL: `SELECT ticker, price FROM stream('trades') ORDER BY price`})
			if err != nil {
				t.Fatal(err)
			}
			want := `{"ticker":"AAPL","price":100}` + "\n" + `{"ticker":"AAPL","price":110}` + "\n" + `{"ticker":"AAPL","price":120}` + "\n"
			if got := rowsText(res); !res.Truncated || got != want {
				t.Errorf("truncated %v, rows\n%s", res.Truncated, got)
			}
		})
	}
}

// A result is cut in the engine, not after it: one of ten billion rows
// comes back at once.
func TestQueryHugeResult(t *testing.T) {
	e := tradesEnv(t)
	res, err := e.querier(QueryConfig{MaxRows: 2}).Query(e.ctx, Query{SQL: `SELECT range AS n FROM range(10000000000)`})
	if err != nil {
		t.Fatal(err)
	}
	if got := rowsText(res); !res.Truncated || got != `{"n":0}`+"\n"+`{"n":1}`+"\n" {
		t.Errorf("truncated %v, rows\n%s", res.Truncated, got)
	}
}

// A query past its time is stopped; one past the concurrency is refused.
func TestQueryLimits(t *testing.T) {
	e := tradesEnv(t)
	q := e.querier(QueryConfig{Timeout: 300 * time.Millisecond, Concurrency: 1})
	start := time.Now()
	_, err := q.Query(e.ctx, Query{SQL: `SELECT count(*) FROM range(1000000000000) a, stream('trades') b WHERE a.range % 7 = b.price`})
	if !errors.Is(err, ErrQueryTimeout) {
		t.Fatalf("error %v, want ErrQueryTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopped after %v", d)
	}
	q.slots <- struct{}{} // a query running
	if _, err := q.Query(e.ctx, Query{SQL: `SELECT 1`}); !errors.Is(err, ErrBusy) {
		t.Errorf("error %v, want ErrBusy", err)
	}
	<-q.slots
	if _, err := q.Query(e.ctx, Query{SQL: `SELECT 1`}); err != nil {
		t.Error(err)
	}
}
