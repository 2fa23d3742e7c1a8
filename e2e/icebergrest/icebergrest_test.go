package icebergrest_test

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog/rest"
	_ "github.com/apache/iceberg-go/io/gocloud" // registers the s3:// file IO
	"github.com/apache/iceberg-go/table"

	"github.com/hydrant-dev/hydrant/e2e/icebergrest"
	"github.com/hydrant-dev/hydrant/e2e/minio"
)

// The server is a catalog iceberg-go's REST client can use: a namespace
// and a table are created, two appends committed with their snapshot
// summaries, and after a restart on the same SQLite file the table scans
// back with every row. The client names the S3 endpoint and keys itself:
// the server hands out none unless asked to (IncludeCredentials), and
// never the endpoint.
func TestServer(t *testing.T) {
	m := minio.Start(t)
	m.CreateBucket(t, "lake")
	t0 := time.Now()
	s := icebergrest.Start(t, icebergrest.Options{Warehouse: "s3://lake/warehouse",
		S3Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey})
	t.Logf("started in %v at %s", time.Since(t0).Round(time.Millisecond), s.URI)
	ctx := context.Background()
	props := iceberggo.Properties{"s3.endpoint": m.Endpoint, "s3.region": "us-east-1",
		"s3.access-key-id": m.AccessKey, "s3.secret-access-key": m.SecretKey}
	cat, err := rest.NewCatalog(ctx, "rest", s.URI, rest.WithAdditionalProps(props))
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.CreateNamespace(ctx, table.Identifier{"sales"}, nil); err != nil {
		t.Fatalf("create namespace: %v\n%s", err, s.Log())
	}
	schema := iceberggo.NewSchema(0,
		iceberggo.NestedField{ID: 1, Name: "order_id", Type: iceberggo.PrimitiveTypes.Int64, Required: true},
		iceberggo.NestedField{ID: 2, Name: "customer", Type: iceberggo.PrimitiveTypes.String})
	tbl, err := cat.CreateTable(ctx, table.Identifier{"sales", "orders"}, schema)
	if err != nil {
		t.Fatalf("create table: %v\n%s", err, s.Log())
	}
	if loc := tbl.Location(); loc != "s3://lake/warehouse/sales/orders" {
		t.Errorf("table location %q, want it under the warehouse", loc)
	}
	as, err := table.SchemaToArrowSchema(tbl.Schema(), nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(2) {
		b := array.NewRecordBuilder(memory.DefaultAllocator, as)
		b.Field(0).(*array.Int64Builder).AppendValues([]int64{3*i + 1, 3*i + 2, 3*i + 3}, nil)
		b.Field(1).(*array.StringBuilder).AppendValues([]string{"a", "b", "c"}, nil)
		rec := b.NewRecordBatch()
		b.Release()
		at := array.NewTableFromRecords(as, []arrow.RecordBatch{rec})
		rec.Release()
		tbl, err = tbl.AppendTable(ctx, at, 100, iceberggo.Properties{"test.append": string(rune('0' + i))})
		at.Release()
		if err != nil {
			t.Fatalf("append %d: %v\n%s", i, err, s.Log())
		}
	}

	s.Stop(t)
	s.Start(t)
	cat, err = rest.NewCatalog(ctx, "rest", s.URI, rest.WithAdditionalProps(props))
	if err != nil {
		t.Fatal(err)
	}
	tbl, err = cat.LoadTable(ctx, table.Identifier{"sales", "orders"})
	if err != nil {
		t.Fatalf("load table after a restart: %v\n%s", err, s.Log())
	}
	if got := tbl.CurrentSnapshot().Summary.Properties["test.append"]; got != "1" {
		t.Errorf("current snapshot's test.append = %q, want 1 (the second append)", got)
	}
	out, err := tbl.Scan().ToArrowTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	if out.NumRows() != 6 {
		t.Fatalf("scanned %d rows, want 6", out.NumRows())
	}
}
