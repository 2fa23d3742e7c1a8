//go:build cgo

package analytics

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newTestEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := NewEngine(context.Background(), EngineConfig{MemoryLimit: 256 << 20, TempDir: t.TempDir(), Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func mustSchema(t *testing.T, cols ...Column) *Schema {
	t.Helper()
	s, err := NewSchema(cols)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rows(t *testing.T, s *Schema, arrival time.Time, recs ...string) []Row {
	t.Helper()
	var out []Row
	for i, r := range recs {
		v, err := s.Values([]byte(r))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Row{Values: v, Arrival: arrival.Add(time.Duration(i) * time.Millisecond), PartitionKey: "k", Sequence: "1", ShardID: "shardId-000000000000"})
	}
	return out
}

// A tumbling window's count and average per ticker, as Kinesis Data
// Analytics' canonical example computes it, with the window's bounds.
func TestEngineAggregatesAWindow(t *testing.T) {
	e := newTestEngine(t)
	s := mustSchema(t, Column{Name: "ticker", Type: "string"}, Column{Name: "price", Type: "decimal(10,2)"},
		Column{Name: "qty", Type: "int32", Path: "/trade/qty"})
	w := Windows{Size: time.Minute}.Of(at("2026-12-05T12:00:10Z"))[0]
	in := rows(t, s, at("2026-12-05T12:00:10Z"),
		`{"ticker":"AMZN","price":"100.10","trade":{"qty":3}}`,
		`{"ticker":"AMZN","price":100.30,"trade":{"qty":1}}`,
		`{"ticker":"MSFT","price":7,"trade":{"qty":2}}`)
	got, err := e.Run(context.Background(), s, w, in,
		`SELECT ticker, count(*) AS n, avg(price) AS avg_price, sum(qty) AS qty, min(window_start) AS window_start, max(window_end) AS window_end
		 FROM source GROUP BY ticker ORDER BY ticker`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"ticker":"AMZN","n":2,"avg_price":100.2,"qty":4,"window_start":"2026-12-05T12:00:00Z","window_end":"2026-12-05T12:01:00Z"}`,
		`{"ticker":"MSFT","n":1,"avg_price":7,"qty":2,"window_start":"2026-12-05T12:00:00Z","window_end":"2026-12-05T12:01:00Z"}`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows: %s", len(got), got)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("row %d = %s, want %s", i, got[i], want[i])
		}
	}
	// The next window replaces the rows; decimals keep their digits.
	got, err = e.Run(context.Background(), s, w, in[:1], `SELECT price, partition_key, shard_id, approximate_arrival_time FROM source`)
	if err != nil || len(got) != 1 || string(got[0]) != `{"price":100.10,"partition_key":"k","shard_id":"shardId-000000000000","approximate_arrival_time":"2026-12-05T12:00:10Z"}` {
		t.Fatalf("second run: %s, %v", got, err)
	}
}

// A query reads only what Hydrant gives it: no files, no settings.
func TestEngineIsSandboxed(t *testing.T) {
	e := newTestEngine(t)
	s := mustSchema(t, Column{Name: "a", Type: "int64"})
	for _, q := range []string{
		`SELECT * FROM read_csv('/etc/passwd')`,
		`COPY (SELECT 1) TO '/tmp/hydrant-escape.csv'`,
		`SET enable_external_access = true`,
		`INSTALL httpfs`,
	} {
		if _, err := e.Run(context.Background(), s, Window{}, nil, q); err == nil {
			t.Errorf("%s: ran, want refused", q)
		}
	}
	if _, err := e.Run(context.Background(), s, Window{}, nil, `SELECT count(*) FROM source`); err != nil {
		t.Fatalf("after refused queries: %v", err)
	}
}

func TestSchemaValues(t *testing.T) {
	s := mustSchema(t, Column{Name: "n", Type: "int32"}, Column{Name: "at", Type: "timestamp_millis"}, Column{Name: "ok", Type: "boolean"},
		Column{Name: "doc", Type: "json", Path: "/d"}, Column{Name: "f", Type: "double"})
	v, err := s.Values([]byte(`{"n":"42","at":1764936000000,"ok":true,"d":{"x":[1,2]},"extra":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if v[0] != int32(42) || !v[1].(time.Time).Equal(time.UnixMilli(1764936000000)) || v[2] != true || v[3] != `{"x":[1,2]}` || v[4] != nil {
		t.Fatalf("values %#v", v)
	}
	for _, tt := range []struct{ rec, col string }{
		{`{"n":3000000000}`, "n"},
		{`{"n":1.5}`, "n"},
		{`{"ok":"yes"}`, "ok"},
		{`{"at":"yesterday"}`, "at"},
		{`not json`, ""},
	} {
		_, err := s.Values([]byte(tt.rec))
		var ce *ConversionError
		if !errors.As(err, &ce) || ce.Column != tt.col {
			t.Errorf("%s: %v, want a conversion error of column %q", tt.rec, err, tt.col)
		}
	}
	for _, cols := range [][]Column{
		{{Name: "shard_id", Type: "string"}},
		{{Name: "a b", Type: "string"}},
		{{Name: "a", Type: "decimal(40,2)"}},
		{{Name: "a", Type: "uuid"}},
		{{Name: "a", Type: "string"}, {Name: "A", Type: "string"}},
	} {
		if _, err := NewSchema(cols); err == nil || !strings.Contains(err.Error(), "column") {
			t.Errorf("NewSchema(%+v) = %v, want refused", cols, err)
		}
	}
}

// A reference table from a file joins the window's rows, is loaded again
// by Reload, and is the only file a query may read.
func TestEngineReferenceTables(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "companies.csv")
	if err := os.WriteFile(csv, []byte("ticker,name\nAMZN,Amazon\nMSFT,Microsoft\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret.csv"), []byte("a\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(context.Background(), EngineConfig{References: []Reference{{Name: "companies", Path: csv}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s := mustSchema(t, Column{Name: "ticker", Type: "string"})
	in := rows(t, s, at("2026-12-05T12:00:00Z"), `{"ticker":"AMZN"}`, `{"ticker":"MSFT"}`, `{"ticker":"AMZN"}`)
	q := `SELECT c.name, count(*) AS n FROM source JOIN companies c USING (ticker) GROUP BY ALL ORDER BY c.name`
	got, err := e.Run(context.Background(), s, Window{}, in, q)
	if err != nil || len(got) != 2 || string(got[0]) != `{"name":"Amazon","n":2}` {
		t.Fatalf("join: %s, %v", got, err)
	}
	if err := os.WriteFile(csv, []byte("ticker,name\nAMZN,Amazon.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err = e.Run(context.Background(), s, Window{}, in, q)
	if err != nil || len(got) != 1 || string(got[0]) != `{"name":"Amazon.com","n":2}` {
		t.Fatalf("after reload: %s, %v", got, err)
	}
	os.Remove(csv)
	if err := e.Reload(context.Background()); err == nil {
		t.Fatal("reload of a missing file: no error")
	}
	if got, err := e.Run(context.Background(), s, Window{}, in, q); err != nil || len(got) != 1 {
		t.Fatalf("a failed reload dropped the table: %s, %v", got, err)
	}
	if _, err := e.Run(context.Background(), s, Window{}, nil, `SELECT * FROM read_csv('`+filepath.Join(dir, "secret.csv")+`')`); err == nil {
		t.Fatal("a query read a file beside the reference")
	}
	for _, bad := range []Reference{{Name: "source", Path: csv}, {Name: "x", Path: filepath.Join(dir, "a.xlsx")}} {
		if _, err := NewEngine(context.Background(), EngineConfig{References: []Reference{bad}}); err == nil {
			t.Errorf("reference %+v accepted", bad)
		}
	}
}
