package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/destinations/postgres"
	pgserver "github.com/hydrant-dev/hydrant/e2e/postgres"
	"github.com/jackc/pgx/v5"
)

func batch(first uint64, records ...string) *buffer.Batch {
	b := &buffer.Batch{Delivery: "d1", ShardID: "shardId-000000000000"}
	for i, r := range records {
		b.Records = append(b.Records, buffer.Record{Data: []byte(r), Sequence: first + uint64(i)})
		b.Bytes += len(r)
	}
	return b
}

func newDest(t testing.TB, cfg postgres.Config) *postgres.Destination {
	t.Helper()
	d, err := postgres.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	return d
}

func connect(t testing.TB, s *pgserver.Server) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), s.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func count(t testing.TB, c *pgx.Conn, sql string) int {
	t.Helper()
	var n int
	if err := c.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestEveryTypeNullsAndUnicode(t *testing.T) {
	s := pgserver.Start(t)
	d := newDest(t, postgres.Config{DSN: s.DSN, Table: "public.events", CreateTable: true, Columns: []postgres.Column{
		{Name: "t", Type: "text"}, {Name: "b", Type: "bigint"}, {Name: "i", Type: "integer"},
		{Name: "f", Type: "double"}, {Name: "ok", Type: "boolean"}, {Name: "n", Type: "numeric"},
		{Name: "at", Type: "timestamptz"}, {Name: "day", Type: "date"}, {Name: "doc", Type: "jsonb"},
		{Name: "id", Type: "uuid"}, {Name: "city", Path: "/geo/cities/1", Type: "text"}, {Name: "a/b", Type: "text"},
	}})
	err := d.Deliver(context.Background(), batch(1,
		`{"t":"héllo wörld 日本語 🚀","b":9007199254740993,"i":-2147483648,"f":1.5e-3,"ok":true,"n":"123456789012345678901234567890.000000001",`+
			`"at":"2024-05-06T07:08:09.123456Z","day":"2024-02-29","doc":{"k":[1,"ü",null]},"id":"0190a0e4-5f1b-7c3e-8a2b-1234567890ab",`+
			`"geo":{"cities":["Oslo","Zürich"]},"a/b":"slash"}`,
		`{"t":null,"b":null,"i":null,"f":null,"ok":null,"n":null,"at":null,"day":null,"doc":null,"id":null}`,
		`{}`,
		`{"t":42,"b":"7","i":1e3,"f":"2.5","ok":"false","n":1e-5,"at":1700000000.5,"doc":"just a string"}`,
	))
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	c := connect(t, s)
	rows, err := c.Query(context.Background(), `SELECT coalesce(t,'∅'), coalesce(b::text,'∅'), coalesce(i::text,'∅'), coalesce(f::text,'∅'),
		coalesce(ok::text,'∅'), coalesce(n::text,'∅'), coalesce(to_char(at AT TIME ZONE 'UTC','YYYY-MM-DD"T"HH24:MI:SS.US'),'∅'),
		coalesce(day::text,'∅'), coalesce(doc::text,'∅'), coalesce(id::text,'∅'), coalesce(city,'∅'), coalesce("a/b",'∅')
		FROM events ORDER BY b NULLS LAST, t NULLS LAST`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		v := make([]string, 12)
		ptrs := make([]any, 12)
		for i := range v {
			ptrs[i] = &v[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join(v, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`42|7|1000|2.5|false|0.00001|2023-11-14T22:13:20.500000|∅|"just a string"|∅|∅|∅`,
		`héllo wörld 日本語 🚀|9007199254740993|-2147483648|0.0015|true|123456789012345678901234567890.000000001|2024-05-06T07:08:09.123456|2024-02-29|{"k": [1, "ü", null]}|0190a0e4-5f1b-7c3e-8a2b-1234567890ab|Zürich|slash`,
		`∅|∅|∅|∅|∅|∅|∅|∅|∅|∅|∅|∅`,
		`∅|∅|∅|∅|∅|∅|∅|∅|∅|∅|∅|∅`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestConversionErrorsNameColumnAndReason(t *testing.T) {
	s := pgserver.Start(t)
	d := newDest(t, postgres.Config{DSN: s.DSN, Table: "conv", CreateTable: true, Columns: []postgres.Column{
		{Name: "i", Type: "integer"}, {Name: "id", Type: "uuid"}, {Name: "day", Type: "date"}, {Name: "ok", Type: "boolean"},
	}})
	err := d.Deliver(context.Background(), batch(1,
		`{"i":2147483648}`, `{"id":"not-a-uuid"}`, `{"day":"2024-13-01"}`, `{"ok":{}}`, `not json`, `{"i":1} {"i":2}`, `{"i":5}`))
	var re *destinations.RecordErrors
	if !errors.As(err, &re) || re.Type != "postgres-failed" || re.Code != "Postgres.ConversionFailed" {
		t.Fatalf("err = %#v", err)
	}
	for i, want := range map[int]string{0: `column "i": 2147483648 is not a integer`, 1: `column "id": "not-a-uuid" is not a UUID`,
		2: `column "day": "2024-13-01" is not a date`, 3: `column "ok": an object is not a boolean`, 4: "record is not JSON", 5: "data after its JSON value"} {
		if e := re.Failed[i]; e == nil || !strings.Contains(e.Error(), want) {
			t.Errorf("Failed[%d] = %v, want %q", i, e, want)
		}
	}
	if len(re.Failed) != 6 {
		t.Errorf("%d failed, want 6: %v", len(re.Failed), re.Failed)
	}
	if n := count(t, connect(t, s), "SELECT count(*) FROM conv WHERE i = 5"); n != 1 {
		t.Errorf("good row loaded %d times", n)
	}
}

func TestAutoColumns(t *testing.T) {
	s := pgserver.Start(t)
	s.Exec(t, `CREATE SCHEMA app; CREATE TABLE app.clicks (
		seq bigserial PRIMARY KEY, "User" text, n smallint, score real, at timestamp, meta json, tag varchar(8),
		created timestamptz DEFAULT now(), upper_user text GENERATED ALWAYS AS (upper("User")) STORED)`)
	d := newDest(t, postgres.Config{DSN: s.DSN, Table: "app.clicks", Auto: true})
	err := d.Deliver(context.Background(), batch(10,
		`{"User":"Ann","n":3,"score":0.5,"at":"2024-01-02T03:04:05Z","meta":{"x":1},"tag":"a","unmapped":"ignored","seq":999}`,
		`{"User":"Bob"}`))
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	c := connect(t, s)
	var user, upper, meta, tag string
	var n int16
	var seq int64
	err = c.QueryRow(context.Background(), `SELECT seq, "User", upper_user, n, meta::text, tag FROM app.clicks WHERE "User" = 'Ann'`).
		Scan(&seq, &user, &upper, &n, &meta, &tag)
	if err != nil {
		t.Fatal(err)
	}
	if seq == 999 || upper != "ANN" || n != 3 || meta != `{"x":1}` || tag != "a" {
		t.Errorf("got seq=%d upper=%q n=%d meta=%q tag=%q", seq, upper, n, meta, tag)
	}
	if got := count(t, c, `SELECT count(*) FROM app.clicks WHERE created IS NOT NULL AND n IS NULL AND "User" = 'Bob'`); got != 1 {
		t.Errorf("Bob row with defaults: %d", got)
	}
	// A value too large for smallint passes conversion (integer) and is
	// rejected by Postgres: isolated, the rest loads.
	err = d.Deliver(context.Background(), batch(20, `{"User":"Cy","n":70000}`, `{"User":"Di","n":1}`))
	var re *destinations.RecordErrors
	if !errors.As(err, &re) || re.Code != "Postgres.RowRejected" || len(re.Failed) != 1 || re.Failed[0] == nil {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(re.Failed[0].Error(), "greater than maximum value for int2") {
		t.Errorf("Failed[0] = %v, want an int2 range error", re.Failed[0])
	}
}

func TestExactlyOnce(t *testing.T) {
	s := pgserver.Start(t)
	cfg := postgres.Config{DSN: s.DSN, Table: "once", CreateTable: true, Columns: []postgres.Column{{Name: "n", Type: "bigint"}}}
	d := newDest(t, cfg)
	b := batch(100, `{"n":1}`, `{"n":2}`, `{"n":"x"}`)
	for range 2 {
		var re *destinations.RecordErrors
		if err := d.Deliver(context.Background(), b); !errors.As(err, &re) || len(re.Failed) != 1 || re.Failed[2] == nil {
			t.Fatalf("Deliver: %v", err)
		}
	}
	// A second process (as after a crash between commit and checkpoint),
	// delivering the same batch concurrently from several goroutines.
	d2 := newDest(t, cfg)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			var re *destinations.RecordErrors
			if err := d2.Deliver(context.Background(), b); !errors.As(err, &re) {
				t.Errorf("Deliver: %v", err)
			}
		})
	}
	wg.Wait()
	c := connect(t, s)
	if n := count(t, c, "SELECT count(*) FROM once"); n != 2 {
		t.Errorf("%d rows, want 2", n)
	}
	var first, last string
	if err := c.QueryRow(context.Background(), "SELECT first_sequence::text, last_sequence::text FROM hydrant_load_ledger").Scan(&first, &last); err != nil {
		t.Fatal(err)
	}
	if first != "100" || last != "102" {
		t.Errorf("ledger = %s..%s", first, last)
	}
	// The next batch of the shard loads.
	if err := d.Deliver(context.Background(), batch(103, `{"n":4}`)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, c, "SELECT count(*) FROM once"); n != 3 {
		t.Errorf("%d rows, want 3", n)
	}
}

func TestBadRowsAmongTenThousand(t *testing.T) {
	s := pgserver.Start(t)
	s.Exec(t, `CREATE TABLE big (n bigint CHECK (n >= 0), s text)`)
	d := newDest(t, postgres.Config{DSN: s.DSN, Table: "big", Columns: []postgres.Column{{Name: "n", Type: "bigint"}, {Name: "s", Type: "text"}}})
	recs := make([]string, 10000)
	for i := range recs {
		recs[i] = fmt.Sprintf(`{"n":%d,"s":"row %d"}`, i, i)
	}
	recs[17] = `{"n":"seventeen","s":"conversion fails"}`
	recs[4242] = `{"n":4242,"s":"nul \u0000 byte"}` // passes conversion, Postgres rejects text with NUL
	recs[9998] = `{"n":-1,"s":"check violation"}`   // passes conversion, violates the CHECK
	b := batch(1, recs...)
	err := d.Deliver(context.Background(), b)
	var re *destinations.RecordErrors
	if !errors.As(err, &re) || re.Type != "postgres-failed" || re.Code != "Postgres.RowRejected" {
		t.Fatalf("err = %v", err)
	}
	if len(re.Failed) != 3 {
		t.Fatalf("%d failed, want 3: %v", len(re.Failed), re.Failed)
	}
	for i, want := range map[int]string{17: `column "n": "seventeen" is not a bigint`, 4242: "SQLSTATE 22021", 9998: "SQLSTATE 23514"} {
		if e := re.Failed[i]; e == nil || !strings.Contains(e.Error(), want) {
			t.Errorf("Failed[%d] = %v, want %q", i, e, want)
		}
		t.Logf("Failed[%d]: %v", i, re.Failed[i])
	}
	c := connect(t, s)
	if n := count(t, c, "SELECT count(*) FROM big"); n != 9997 {
		t.Errorf("%d rows loaded, want 9997", n)
	}
	if n := count(t, c, "SELECT count(DISTINCT n) FROM big WHERE n NOT IN (17, 4242)"); n != 9997 {
		t.Errorf("%d distinct good rows, want 9997", n)
	}
	// Delivered again (as after a crash before the error report): nothing
	// is loaded twice, and every failure is reported again.
	err = d.Deliver(context.Background(), b)
	if !errors.As(err, &re) || len(re.Failed) != 3 || re.Failed[17] == nil || re.Failed[4242] == nil || re.Failed[9998] == nil {
		t.Fatalf("redeliver: %v", err)
	}
	if n := count(t, c, "SELECT count(*) FROM big"); n != 9997 {
		t.Errorf("%d rows after redelivery, want 9997", n)
	}
}

func TestPermanentErrors(t *testing.T) {
	s := pgserver.Start(t)
	_, err := postgres.New(context.Background(), postgres.Config{DSN: s.DSN, Table: "public.missing", Columns: []postgres.Column{{Name: "n", Type: "bigint"}}})
	if !destinations.IsPermanent(err) || !strings.Contains(err.Error(), "public.missing does not exist") {
		t.Errorf("missing table: %v (permanent %v)", err, destinations.IsPermanent(err))
	}
	s.Exec(t, `CREATE TABLE narrow (n bigint)`)
	d := newDest(t, postgres.Config{DSN: s.DSN, Table: "narrow", Columns: []postgres.Column{{Name: "n", Type: "bigint"}, {Name: "nope", Type: "text"}}})
	if err := d.Deliver(context.Background(), batch(1, `{"n":1}`)); !destinations.IsPermanent(err) {
		t.Errorf("missing column: %v", err)
	}
	s.Exec(t, `CREATE ROLE loader LOGIN; GRANT ALL ON hydrant_load_ledger TO loader`)
	dsn := strings.Replace(s.DSN, "postgres@", "loader@", 1)
	d = newDest(t, postgres.Config{DSN: dsn, Table: "narrow", Columns: []postgres.Column{{Name: "n", Type: "bigint"}}})
	if err := d.Deliver(context.Background(), batch(1, `{"n":1}`)); !destinations.IsPermanent(err) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("no privilege: %v", err)
	}
	if _, err := postgres.New(context.Background(), postgres.Config{DSN: s.DSN, Table: "gone", Auto: true}); !destinations.IsPermanent(err) {
		t.Errorf("auto on a missing table: %v", err)
	}
}

func TestServerDownIsRetryable(t *testing.T) {
	s := pgserver.Start(t)
	d := newDest(t, postgres.Config{DSN: s.DSN, Table: "r", CreateTable: true, Columns: []postgres.Column{{Name: "n", Type: "bigint"}}})
	s.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := batch(1, `{"n":1}`)
	if err := d.Deliver(ctx, b); err == nil || destinations.IsPermanent(err) {
		t.Fatalf("server down: %v, want a retryable error", err)
	}
	s.Start(t)
	if err := d.Deliver(context.Background(), b); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if n := count(t, connect(t, s), "SELECT count(*) FROM r"); n != 1 {
		t.Errorf("%d rows", n)
	}
}

// Open does not reach the server; Start does, and a Start that failed —
// the server down, the table missing — succeeds once that is mended,
// without opening the destination again.
func TestStartAfterServerAndTableAppear(t *testing.T) {
	s := pgserver.Start(t)
	s.Stop(t)
	tests := []struct {
		name   string
		cfg    postgres.Config
		create string // the table, created once the server is up
	}{
		{"columns", postgres.Config{Table: "late", Columns: []postgres.Column{{Name: "n", Type: "bigint"}}}, "CREATE TABLE late (n bigint)"},
		{"auto", postgres.Config{Table: "late_auto", Auto: true}, "CREATE TABLE late_auto (n bigint)"},
	}
	ds := make([]*postgres.Destination, len(tests))
	for i, tt := range tests {
		tt.cfg.DSN = s.DSN
		d, err := postgres.Open(tt.cfg)
		if err != nil {
			t.Fatalf("%s: Open with the server down: %v", tt.name, err)
		}
		t.Cleanup(func() { d.Close(context.Background()) })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := d.Start(ctx); err == nil || destinations.IsPermanent(err) {
			t.Errorf("%s: Start with the server down: %v, want a retryable error", tt.name, err)
		}
		cancel()
		ds[i] = d
	}
	s.Start(t)
	for i, tt := range tests {
		if err := ds[i].Start(context.Background()); !destinations.IsPermanent(err) || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("%s: Start without the table: %v, want a permanent error naming it", tt.name, err)
		}
		s.Exec(t, tt.create)
		if err := ds[i].Start(context.Background()); err != nil {
			t.Fatalf("%s: Start once the table exists: %v", tt.name, err)
		}
		// Both load as delivery d1's shard 0: each its own sequences.
		if err := ds[i].Deliver(context.Background(), batch(uint64(10*i+1), `{"n":1}`, `{"n":2}`)); err != nil {
			t.Fatalf("%s: Deliver: %v", tt.name, err)
		}
		table := strings.Fields(tt.create)[2]
		if n := count(t, connect(t, s), "SELECT count(*) FROM "+table); n != 2 {
			t.Errorf("%s: %d rows, want 2", tt.name, n)
		}
	}
}

func TestBadDSN(t *testing.T) {
	const dsn = "postgres://loader:s3cret@db:notaport/x"
	_, err := postgres.Open(postgres.Config{DSN: dsn, Table: "t", Auto: true})
	if !destinations.IsPermanent(err) {
		t.Errorf("Open: %v, want a permanent error", err)
	}
	err = postgres.CheckDSN(dsn)
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("CheckDSN: %v, want an error without the password", err)
	}
	if err := postgres.CheckDSN("host=db dbname=x"); err != nil {
		t.Errorf("CheckDSN of key=value pairs: %v", err)
	}
}

func BenchmarkDeliver(b *testing.B) {
	s := pgserver.Start(b)
	s.Exec(b, `CREATE UNLOGGED TABLE bench (id bigint, name text, email text, score double precision, active boolean,
		amount numeric, at timestamptz, day date, attrs jsonb, note text)`)
	d := newDest(b, postgres.Config{DSN: s.DSN, Table: "bench", Auto: true})
	const n = 10000
	recs := make([]string, n)
	for i := range recs {
		r := fmt.Sprintf(`{"id":%d,"name":"user %d","email":"user%d@example.com","score":%d.25,"active":true,"amount":"%d.10",`+
			`"at":"2024-05-06T07:08:09Z","day":"2024-05-06","attrs":{"plan":"pro","tags":["a","b"]},"note":"`, i, i, i, i, i)
		recs[i] = r + strings.Repeat("x", 1024-len(r)-2) + `"}`
	}
	bat := batch(0, recs...)
	b.SetBytes(int64(bat.Bytes))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for j := range bat.Records {
			bat.Records[j].Sequence = uint64(i*n + j)
		}
		if err := d.Deliver(context.Background(), bat); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// A batch re-read after a crash may be cut differently from the one that
// committed: more records, or fewer. What the table has is never loaded
// again, and what it lacks always is.
func TestRecutBatchesLoadOnce(t *testing.T) {
	s := pgserver.Start(t)
	d := newDest(t, postgres.Config{DSN: s.DSN, Table: "recut", CreateTable: true, Columns: []postgres.Column{{Name: "n", Type: "bigint"}}})
	recs := func(from, to int) []string {
		var out []string
		for n := from; n <= to; n++ {
			out = append(out, fmt.Sprintf(`{"n":%d}`, n))
		}
		return out
	}
	ctx := context.Background()
	// Sequences equal the values: batch(first, ...) numbers them from first.
	for _, b := range []*buffer.Batch{
		batch(1, recs(1, 100)...),   // committed, checkpoint lost
		batch(1, recs(1, 150)...),   // re-read with 50 more
		batch(51, recs(51, 120)...), // an older cut again
		batch(151, recs(151, 160)...),
	} {
		if err := d.Deliver(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	c := connect(t, s)
	if n := count(t, c, "SELECT count(*) FROM recut"); n != 160 {
		t.Fatalf("%d rows, want 160", n)
	}
	if n := count(t, c, "SELECT count(DISTINCT n) FROM recut"); n != 160 {
		t.Fatalf("%d distinct rows, want 160", n)
	}
}

// A partitioned delivery keeps a buffer per partition of a shard, and they
// flush in any order: a partition's batch of earlier sequences, flushed
// after another's of later ones, still loads, and each loads once.
func TestPartitionsFlushedOutOfOrderLoadOnce(t *testing.T) {
	s := pgserver.Start(t)
	d := newDest(t, postgres.Config{DSN: s.DSN, Table: "parts", CreateTable: true, Columns: []postgres.Column{{Name: "n", Type: "bigint"}}})
	part := func(key string, seqs ...uint64) *buffer.Batch {
		b := &buffer.Batch{Delivery: "d1", ShardID: "shardId-000000000000", PartitionKeys: map[string]string{"k": key}}
		for _, seq := range seqs {
			b.Records = append(b.Records, buffer.Record{Data: fmt.Appendf(nil, `{"n":%d}`, seq), Sequence: seq})
		}
		return b
	}
	ctx := context.Background()
	for _, b := range []*buffer.Batch{
		part("b", 2, 4), // partition b flushes first
		part("a", 1, 3), // then a, with earlier sequences
		part("a", 1, 3), // a re-read after a crash
		part("b", 2, 4, 6),
		part("a", 5),
	} {
		if err := d.Deliver(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	c := connect(t, s)
	if n := count(t, c, "SELECT count(*) FROM parts"); n != 6 {
		t.Fatalf("%d rows, want 6", n)
	}
	if n := count(t, c, "SELECT count(DISTINCT n) FROM parts"); n != 6 {
		t.Fatalf("%d distinct rows, want 6", n)
	}
}

// A table dropped and re-created (a migration) while records flow: the
// batch in between fails retryably, not permanently, so the delivery
// retries it for retry.duration instead of sending it to the error output
// at once; once the table is back it loads, once.
func TestTableRecreatedIsRetryable(t *testing.T) {
	s := pgserver.Start(t)
	s.Exec(t, `CREATE TABLE migrated (n bigint)`)
	d := newDest(t, postgres.Config{DSN: s.DSN, Table: "migrated", Columns: []postgres.Column{{Name: "n", Type: "bigint"}}})
	ctx := context.Background()
	if err := d.Deliver(ctx, batch(1, `{"n":1}`)); err != nil {
		t.Fatal(err)
	}
	s.Exec(t, `DROP TABLE migrated`)
	err := d.Deliver(ctx, batch(2, `{"n":2}`))
	if err == nil || destinations.IsPermanent(err) || !strings.Contains(err.Error(), "migrated does not exist") {
		t.Fatalf("table missing: %v (permanent %v), want a retryable error naming the table", err, destinations.IsPermanent(err))
	}
	s.Exec(t, `CREATE TABLE migrated (n bigint)`)
	if err := d.Deliver(ctx, batch(2, `{"n":2}`)); err != nil {
		t.Fatalf("table back: %v", err)
	}
	c := connect(t, s)
	if n := count(t, c, "SELECT count(*) FROM migrated WHERE n = 2"); n != 1 {
		t.Fatalf("%d rows of the retried batch, want 1", n)
	}
}
