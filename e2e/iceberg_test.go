package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	iceberggo "github.com/apache/iceberg-go"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	_ "github.com/apache/iceberg-go/io/gocloud" // registers the s3:// file IO
	"github.com/apache/iceberg-go/table"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/hydrant-dev/hydrant/e2e/minio"
	"github.com/hydrant-dev/hydrant/e2e/postgres"
	"github.com/hydrant-dev/hydrant/internal/await"
)

const icebergConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: orders
    shards: 2
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
deliveries:
  - name: orders-lake
    source: orders
    buffer: {size: 1MiB, interval: 500ms}
    retry: {duration: 3600s}
    destination:
      iceberg:
        dsn: "${PG_DSN}"
        namespace: sales
        table: orders
        warehouse: s3://lake/warehouse
        s3: {endpoint: "${S3_ENDPOINT}", access_key_id: "${S3_KEY}", secret_access_key: "${S3_SECRET}"}
        create_table: true
        columns:
          - {name: order_id, type: long, required: true}
          - {name: customer, type: string}
          - {name: ts, type: timestamptz}
        partition_by:
          - {column: customer, transform: identity}
          - {column: ts, transform: hour}
`

// icebergOrders reads every order_id of sales.orders through iceberg-go's
// SQL catalog and table scan.
func icebergOrders(t *testing.T, dsn string, minioSrv *minio.Server) (ids []int64, err error) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	cat, err := sqlcat.NewCatalog("hydrant", db, sqlcat.Postgres, iceberggo.Properties{
		"s3.endpoint": minioSrv.Endpoint, "s3.region": "us-east-1",
		"s3.access-key-id": minioSrv.AccessKey, "s3.secret-access-key": minioSrv.SecretKey,
		"init_catalog_tables": "false"}) // the delivery creates them; two creators race in Postgres's catalog
	if err != nil {
		return nil, err
	}
	tbl, err := cat.LoadTable(context.Background(), table.Identifier{"sales", "orders"})
	if err != nil {
		return nil, err
	}
	at, err := tbl.Scan().ToArrowTable(context.Background())
	if err != nil {
		return nil, err
	}
	defer at.Release()
	col := at.Column(at.Schema().FieldIndices("order_id")[0])
	for _, c := range col.Data().Chunks() {
		ids = append(ids, c.(*array.Int64).Int64Values()...)
	}
	return ids, nil
}

// pyicebergPython returns the venv's Python with pyiceberg (built by
// `make pyiceberg`, which make test runs).
func pyicebergPython(t *testing.T) string {
	t.Helper()
	py := os.Getenv("HYDRANT_DUCKDB_PYTHON")
	if py == "" {
		_, here, _, _ := runtime.Caller(0)
		py = filepath.Join(filepath.Dir(here), "..", ".cache", "venv", "bin", "python")
	}
	if err := exec.Command(py, "-c", "import pyiceberg.catalog.sql, pyarrow, psycopg2").Run(); err != nil {
		if testing.Short() && os.Getenv("CI") == "" {
			t.Skip("pyiceberg is not installed; run `make pyiceberg` (make test does)")
		}
		t.Fatalf("no Python with pyiceberg at %s (%v): run `make pyiceberg` or `make test`, or set HYDRANT_DUCKDB_PYTHON", py, err)
	}
	return py
}

// pyicebergOrders reads sales.orders' order_id column through pyiceberg
// (e2e/pyiceberg_read.py): a reader independent of the writer's library.
func pyicebergOrders(t *testing.T, pg *postgres.Server, m *minio.Server) []int64 {
	t.Helper()
	uri := strings.Replace(pg.DSN, "postgres://", "postgresql+psycopg2://", 1)
	return pyicebergReadIDs(t, pyicebergPython(t), uri, m, "sales.orders")
}

var _ = stdlib.GetDefaultDriver // registers the "pgx" database/sql driver

// Orders appended to an Iceberg table (SQL catalog in a real Postgres,
// files in a real MinIO) through the real binary, across a kill -9 under
// load (batches committed but not checkpointed are not appended twice),
// and a MinIO outage and a catalog outage each longer than the flush
// interval (nothing lost).
func TestIcebergExactlyOnce(t *testing.T) {
	pg := postgres.Start(t)
	m := minio.Start(t)
	m.CreateBucket(t, "lake")
	dir, listen := t.TempDir(), freeAddr(t)
	env := []string{"PG_DSN=" + pg.DSN, "S3_ENDPOINT=" + m.Endpoint, "S3_KEY=" + m.AccessKey, "S3_SECRET=" + m.SecretKey}
	h := startHydrant(t, dir, listen, icebergConfig, env...)
	var lastErr string
	counts := func() (rows, distinct int, err error) {
		ids, err := icebergOrders(t, pg.DSN, m)
		if err != nil {
			if err.Error() != lastErr { // the table may not be there yet, or MinIO down
				lastErr = err.Error()
				t.Logf("reading the table: %v", err)
			}
			return 0, 0, err
		}
		seen := map[int64]bool{}
		for _, id := range ids {
			seen[id] = true
		}
		return len(ids), len(seen), nil
	}

	load := newOrderLoad("orders")
	stopProducers := load.produce(h, 2)
	await.Cond(t, 60*time.Second, "rows appended while producers put", func() bool {
		rows, _, err := counts()
		return err == nil && rows >= 1000
	})
	h.kill()
	stopProducers()
	h = startHydrant(t, dir, listen, icebergConfig, env...)
	want := load.owed()
	await.Cond(t, 60*time.Second, fmt.Sprintf("all %d acknowledged orders appended", want), func() bool {
		_, distinct, err := counts()
		return err == nil && distinct >= want
	})
	if rows, distinct, err := counts(); err != nil || rows != distinct {
		t.Fatalf("after kill -9: %d rows for %d orders (%v): batches were appended twice", rows, distinct, err)
	}

	// MinIO goes away for longer than the flush interval: puts are still
	// acknowledged, deliveries retry, and once it is back every order is
	// appended exactly once.
	m.Stop(t)
	for range 4 {
		if err := load.put(h, 50, ""); err != nil {
			t.Fatal(err)
		}
	}
	await.Cond(t, 60*time.Second, "hydrant retrying against the stopped MinIO", func() bool {
		log, _ := os.ReadFile(h.logPath)
		return strings.Count(string(log), "delivery failed, retrying") >= 2
	})
	m.Start(t)
	want = load.owed()
	await.Cond(t, 120*time.Second, "orders put during the MinIO outage appended", func() bool {
		_, distinct, err := counts()
		return err == nil && distinct >= want
	})

	// The catalog's Postgres goes away likewise.
	retries := func() int {
		log, _ := os.ReadFile(h.logPath)
		return strings.Count(string(log), "delivery failed, retrying")
	}
	before := retries()
	pg.Stop(t)
	for range 4 {
		if err := load.put(h, 50, ""); err != nil {
			t.Fatal(err)
		}
	}
	await.Cond(t, 60*time.Second, "hydrant retrying against the stopped catalog", func() bool { return retries() >= before+2 })
	pg.Start(t)
	want = load.owed()
	await.Cond(t, 120*time.Second, "orders put during the catalog outage appended", func() bool {
		_, distinct, err := counts()
		return err == nil && distinct >= want
	})
	h.stop()
	ids, err := icebergOrders(t, pg.DSN, m)
	if err != nil {
		t.Fatal(err)
	}
	load.checkOnce(t, ids)
	py := pyicebergOrders(t, pg, m)
	slices.Sort(ids)
	if !slices.Equal(py, ids) {
		t.Fatalf("pyiceberg reads %d rows, iceberg-go %d: the readers disagree", len(py), len(ids))
	}
	t.Logf("%d acknowledged orders, each appended once (%d rows, the same through pyiceberg)", load.owed(), len(ids))
}
