package iceberg_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/destinations/iceberg"
	"github.com/hydrant-dev/hydrant/e2e/minio"
	pgserver "github.com/hydrant-dev/hydrant/e2e/postgres"
)

// servers starts a real MinIO with a bucket and a real Postgres.
func servers(t *testing.T) (*minio.Server, *pgserver.Server) {
	t.Helper()
	m := minio.Start(t)
	m.CreateBucket(t, "lake")
	return m, pgserver.Start(t)
}

func config(m *minio.Server, pg *pgserver.Server) iceberg.Config {
	return iceberg.Config{
		DSN: pg.DSN, Namespace: "logs", Table: "events", Warehouse: "s3://lake/warehouse",
		Endpoint: m.Endpoint, Region: "us-east-1", AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey,
		CreateTable: true,
		Columns: []iceberg.Column{
			{Name: "id", Type: "long", Required: true}, {Name: "host", Type: "string"},
			{Name: "ts", Type: "timestamptz"}, {Name: "ok", Type: "boolean"},
			{Name: "ms", Path: "/m/latency", Type: "double"}, {Name: "day", Type: "date"}, {Name: "n", Type: "int"},
		},
		PartitionBy: []iceberg.PartitionField{{Column: "host", Transform: "identity"}, {Column: "ts", Transform: "day"}},
	}
}

func newDest(t *testing.T, cfg iceberg.Config) *iceberg.Destination {
	t.Helper()
	d, err := iceberg.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	return d
}

func record(id int) string {
	return fmt.Sprintf(`{"id":%d,"host":"h%d","ts":"2026-12-0%dT10:00:00Z","ok":true,"m":{"latency":%d.5},"day":"2026-12-01","n":%d}`,
		id, id%3, 1+id%2, id, id)
}

func batch(shard string, seqs ...int) *buffer.Batch {
	b := &buffer.Batch{Delivery: "d1", ShardID: shard}
	for _, s := range seqs {
		b.Records = append(b.Records, buffer.Record{Data: []byte(record(s)), Sequence: uint64(s)})
	}
	return b
}

func span(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// ids reads the table back through iceberg-go's scan: every id, sorted.
func ids(t *testing.T, cfg iceberg.Config) []int64 {
	t.Helper()
	tbl, err := iceberg.LoadForTest(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	at, err := tbl.Scan().ToArrowTable(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	var out []int64
	col := at.Column(int(at.Schema().FieldIndices("id")[0]))
	for _, c := range col.Data().Chunks() {
		out = append(out, c.(*array.Int64).Int64Values()...)
	}
	slices.Sort(out)
	return out
}

func wantIDs(from, to int) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, int64(i))
	}
	return s
}

// localConfig is config's table in a SQLite catalog with its files on the
// local disk: the embedded default, no server needed.
func localConfig(t *testing.T) iceberg.Config {
	dir := t.TempDir()
	cfg := config(&minio.Server{}, &pgserver.Server{})
	cfg.Catalog, cfg.SQLitePath, cfg.Warehouse = iceberg.CatalogSQLite, filepath.Join(dir, "catalog", "iceberg.db"), "file://"+filepath.Join(dir, "warehouse")
	cfg.Endpoint, cfg.Region = "", ""
	return cfg
}

func TestAppendExactlyOnce(t *testing.T) {
	for _, catalog := range []string{iceberg.CatalogPostgres, iceberg.CatalogSQLite} {
		t.Run(catalog, func(t *testing.T) {
			var cfg iceberg.Config
			if catalog == iceberg.CatalogSQLite {
				cfg = localConfig(t)
			} else {
				cfg = config(servers(t))
			}
			testAppendExactlyOnce(t, cfg)
		})
	}
}

func testAppendExactlyOnce(t *testing.T, cfg iceberg.Config) {
	d := newDest(t, cfg)
	ctx := t.Context()
	steps := []struct {
		name string
		b    *buffer.Batch
		want []int64
	}{
		{"first batch", batch("s0", span(1, 10)...), wantIDs(1, 10)},
		{"the same batch again", batch("s0", span(1, 10)...), wantIDs(1, 10)},
		{"re-read cut longer", batch("s0", span(5, 20)...), wantIDs(1, 20)},
		{"re-read cut shorter", batch("s0", span(11, 15)...), wantIDs(1, 20)},
		{"another shard, lower sequences", batch("s1", span(100, 104)...), append(wantIDs(1, 20), wantIDs(100, 104)...)},
	}
	for _, s := range steps {
		if err := d.Deliver(ctx, s.b); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := ids(t, cfg); !slices.Equal(got, s.want) {
			t.Fatalf("%s: ids %v, want %v", s.name, got, s.want)
		}
	}
	// A second destination (a restarted process) sees the same marks.
	d2 := newDest(t, cfg)
	if err := d2.Deliver(ctx, batch("s0", span(1, 21)...)); err != nil {
		t.Fatal(err)
	}
	if got, want := ids(t, cfg), append(wantIDs(1, 21), wantIDs(100, 104)...); !slices.Equal(got, want) {
		t.Fatalf("after restart: ids %v, want %v", got, want)
	}
}

func TestPartitionKeysKeepTheirOwnMark(t *testing.T) {
	m, pg := servers(t)
	cfg := config(m, pg)
	d := newDest(t, cfg)
	ctx := t.Context()
	late := batch("s0", 1, 3)
	late.PartitionKeys = map[string]string{"kind": "a"}
	early := batch("s0", 2, 4)
	early.PartitionKeys = map[string]string{"kind": "b"}
	for _, b := range []*buffer.Batch{early, late, early, late} { // flushed out of order, then again
		if err := d.Deliver(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if got := ids(t, cfg); !slices.Equal(got, wantIDs(1, 4)) {
		t.Fatalf("ids %v, want 1..4", got)
	}
}

func TestRecordsThatDoNotConvert(t *testing.T) {
	m, pg := servers(t)
	cfg := config(m, pg)
	d := newDest(t, cfg)
	b := batch("s0", 1, 2, 3, 4, 5)
	b.Records[1].Data = []byte(`{"id":"two"}`)
	b.Records[3].Data = []byte(`not json`)
	b.Records[4].Data = []byte(`{"host":"no id"}`)
	for range 2 { // the failures are reported again on a re-delivery
		err := d.Deliver(t.Context(), b)
		var re *destinations.RecordErrors
		if !errors.As(err, &re) || re.Type != iceberg.ErrorType || len(re.Failed) != 3 {
			t.Fatalf("Deliver: %v, want RecordErrors of 3 %s", err, iceberg.ErrorType)
		}
		for _, i := range []int{1, 3, 4} {
			if re.Failed[i] == nil {
				t.Fatalf("record %d not reported: %v", i, re.Failed)
			}
		}
		if got := ids(t, cfg); !slices.Equal(got, []int64{1, 3}) {
			t.Fatalf("ids %v, want [1 3]", got)
		}
	}
}

// TestOutages: with MinIO or the catalog's Postgres down, Deliver fails
// retryably, and the same batch lands once when it is back.
func TestOutages(t *testing.T) {
	m, pg := servers(t)
	cfg := config(m, pg)
	d := newDest(t, cfg)
	ctx := t.Context()
	if err := d.Deliver(ctx, batch("s0", span(1, 5)...)); err != nil {
		t.Fatal(err)
	}
	for i, down := range []struct {
		name        string
		stop, start func(testing.TB)
	}{{"minio", m.Stop, m.Start}, {"postgres", pg.Stop, pg.Start}} {
		down.stop(t)
		b := batch("s0", span(1, 10*(i+2))...)
		short, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := d.Deliver(short, b)
		cancel()
		if err == nil || destinations.IsPermanent(err) {
			t.Fatalf("%s down: Deliver: %v, want a retryable error", down.name, err)
		}
		down.start(t)
		if err := d.Deliver(ctx, b); err != nil {
			t.Fatalf("%s back: %v", down.name, err)
		}
		if got := ids(t, cfg); !slices.Equal(got, wantIDs(1, 10*(i+2))) {
			t.Fatalf("%s back: ids %v", down.name, got)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	base := iceberg.Config{DSN: "postgres://u@h/db", Namespace: "n", Table: "t", Warehouse: "s3://b/w", CreateTable: true,
		Columns: []iceberg.Column{{Name: "a", Type: "string"}, {Name: "ts", Type: "timestamptz"}}}
	for name, tc := range map[string]struct {
		edit func(*iceberg.Config)
		want string
	}{
		"no dsn":    {func(c *iceberg.Config) { c.DSN, c.Catalog = "", "postgres" }, "dsn: required"},
		"no sqlite": {func(c *iceberg.Config) { c.DSN = "" }, "sqlite_path: required"},
		"rest uri":  {func(c *iceberg.Config) { c.DSN, c.REST.URI = "", "localhost:8181" }, "rest.uri"},
		"catalog":   {func(c *iceberg.Config) { c.Catalog = "glue" }, "postgres, sqlite or rest"},
		"evolution": {func(c *iceberg.Config) { c.SchemaEvolution = "all" }, "schema_evolution"},
		"bad type":  {func(c *iceberg.Config) { c.Columns[0].Type = "text" }, "columns[0].type"},
		"twice":     {func(c *iceberg.Config) { c.Columns[1].Name = "a" }, "appears twice"},
		"warehouse": {func(c *iceberg.Config) { c.Warehouse = "/tmp/x" }, "warehouse"},
		"unknown column": {func(c *iceberg.Config) {
			c.PartitionBy = []iceberg.PartitionField{{Column: "x", Transform: "identity"}}
		}, "partition_by[0].column"},
		"hour of string":  {func(c *iceberg.Config) { c.PartitionBy = []iceberg.PartitionField{{Column: "a", Transform: "hour"}} }, "partition_by[0].transform"},
		"bucket":          {func(c *iceberg.Config) { c.PartitionBy = []iceberg.PartitionField{{Column: "a", Transform: "bucket"}} }, "identity, day or hour"},
		"pointer":         {func(c *iceberg.Config) { c.Columns[0].Path = "a" }, "JSON pointer"},
		"no columns":      {func(c *iceberg.Config) { c.Columns = nil }, "columns: required"},
		"dsn not parsing": {func(c *iceberg.Config) { c.DSN = "::" }, "dsn"},
	} {
		t.Run(name, func(t *testing.T) {
			c := base
			c.Columns = slices.Clone(base.Columns)
			tc.edit(&c)
			_, err := iceberg.Open(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !destinations.IsPermanent(err) {
				t.Fatalf("Open: %v, want a permanent error naming %q", err, tc.want)
			}
		})
	}
}

// A column added to the config is added to the table with
// schema_evolution: add_columns, as an optional column: rows appended
// before have no value for it. Without it the delivery does not start.
func TestSchemaEvolutionAddColumns(t *testing.T) {
	cfg := localConfig(t)
	cfg.Columns = cfg.Columns[:2] // id, host
	cfg.PartitionBy = nil
	d := newDest(t, cfg)
	if err := d.Deliver(t.Context(), batch("s0", 1, 2)); err != nil {
		t.Fatal(err)
	}
	d.Close(t.Context())

	cfg.Columns = append(cfg.Columns, iceberg.Column{Name: "n", Type: "int"}, iceberg.Column{Name: "ms", Path: "/m/latency", Type: "double"})
	strict, err := iceberg.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close(t.Context())
	if err := strict.Start(t.Context()); err == nil || !destinations.IsPermanent(err) || !strings.Contains(err.Error(), "not in the table") {
		t.Fatalf("Start without schema_evolution: %v, want a permanent error naming the missing column", err)
	}

	cfg.SchemaEvolution = iceberg.SchemaEvolutionAddColumns
	d2 := newDest(t, cfg)
	if err := d2.Deliver(t.Context(), batch("s0", 3, 4)); err != nil {
		t.Fatal(err)
	}
	// A second start finds nothing to add.
	d3 := newDest(t, cfg)
	if err := d3.Deliver(t.Context(), batch("s0", 4, 5)); err != nil {
		t.Fatal(err)
	}
	tbl, err := iceberg.LoadForTest(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(tbl.Schema().Fields()); got != 4 {
		t.Fatalf("table has %d columns, want 4: %v", got, tbl.Schema())
	}
	for _, f := range tbl.Schema().Fields()[2:] {
		if f.Required {
			t.Fatalf("added column %s is required", f.Name)
		}
	}
	at, err := tbl.Scan().ToArrowTable(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	got := map[int64]string{}
	ids, ns := at.Column(0), at.Column(at.Schema().FieldIndices("n")[0])
	for c := range ids.Data().Chunks() {
		idc, nc := ids.Data().Chunk(c).(*array.Int64), ns.Data().Chunk(c).(*array.Int32)
		for i := range idc.Len() {
			got[idc.Value(i)] = "null"
			if nc.IsValid(i) {
				got[idc.Value(i)] = fmt.Sprint(nc.Value(i))
			}
		}
	}
	want := map[int64]string{1: "null", 2: "null", 3: "3", 4: "4", 5: "5"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("id → n: %v, want %v", got, want)
	}
}
