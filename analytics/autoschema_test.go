//go:build cgo

package analytics

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/shards"
)

// With no declared schema, an app infers its columns from the source's
// first records, runs its windows over them, and keeps them across a
// restart even when later records have other keys; a query that does not
// run over the inferred columns is ErrQueryOverSchema.
func TestAppInfersItsSchema(t *testing.T) {
	e := newAppEnv(t)
	sql := `SELECT ticker, count(*) AS trades, sum(price) AS total FROM source GROUP BY ticker ORDER BY ticker`
	newApp := func(sql string) *App {
		a, err := NewApp(AppConfig{Name: "auto", Source: "trades", Output: "per-ticker", Windows: Windows{Size: 10 * time.Second}, SQL: sql},
			e.store, e.engine, e.now, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.restore(e.ctx); err != nil {
			t.Fatal(err)
		}
		return a
	}
	a := newApp(sql)
	if err := a.Step(e.ctx); err != nil || a.Schema() != nil {
		t.Fatalf("no records yet: schema %v, error %v", a.Schema(), err)
	}
	e.put("AMZN", 3)
	e.put("MSFT", 4)
	if err := a.Step(e.ctx); err != nil {
		t.Fatal(err)
	}
	want := []Column{{Name: "price", Type: "int64", Path: "/price"}, {Name: "ticker", Type: "string", Path: "/ticker"}}
	if a.Schema() == nil || !slices.Equal(a.Schema().Columns(), want) {
		t.Fatalf("inferred %v, want %v", a.Schema(), want)
	}
	// A restart keeps the columns, whatever the records say now.
	if res := e.src.Put(e.ctx, e.clock, []shards.Record{{PartitionKey: "AMZN", Data: []byte(`{"ticker":"AMZN","price":5,"venue":"XNAS"}`)}}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	b := newApp(sql)
	if b.Schema() == nil || !slices.Equal(b.Schema().Columns(), want) {
		t.Fatalf("after a restart: %v, want %v", b.Schema(), want)
	}
	e.clock = e.clock.Add(12 * time.Second)
	if err := b.Step(e.ctx); err != nil {
		t.Fatal(err)
	}
	if out := e.output(); !slices.Equal(out, []string{`{"ticker":"AMZN","trades":2,"total":8}`, `{"ticker":"MSFT","trades":1,"total":4}`}) {
		t.Fatalf("output %v", out)
	}

	// Another app whose query names a column the records do not have.
	c, err := NewApp(AppConfig{Name: "auto-bad", Source: "trades", Output: "per-ticker", Windows: Windows{Size: 10 * time.Second},
		SQL: `SELECT sum(quantity) FROM source`}, e.store, e.engine, e.now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.restore(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Step(e.ctx); !errors.Is(err, ErrQueryOverSchema) {
		t.Fatalf("a query over a column no record has: %v, want ErrQueryOverSchema", err)
	}
}
