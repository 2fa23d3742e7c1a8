package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	miniogo "github.com/minio/minio-go/v7"

	"github.com/hydrant-dev/hydrant/e2e/minio"
	"github.com/hydrant-dev/hydrant/internal/await"
)

const parquetConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
deliveries:
  - name: orders
    buffer: {interval: 1s}
    destination:
      s3:
        endpoint: "${S3_ENDPOINT}"
        bucket: lake
        access_key_id: "${S3_KEY}"
        secret_access_key: "${S3_SECRET}"
        prefix: "orders/"
        error_prefix: "errors/!{firehose:error-output-type}/"
        format: parquet
        parquet:
          compression: zstd
          schema:
            - {name: order_id, type: int64, required: true}
            - {name: customer, type: string}
            - {name: amount, type: "decimal(12,2)", path: /total/amount}
            - {name: ts, type: timestamp_millis}
            - {name: paid, type: boolean}
            - {name: items, type: json}
`

// A Parquet delivery to a real MinIO: download the object and read it back
// with two independent readers (arrow-go, DuckDB): the rows and values are
// what was put, and records that do not fit the schema are in the error
// output as format-conversion-failed.
func TestParquetToMinIO(t *testing.T) {
	m := minio.Start(t)
	m.CreateBucket(t, "lake")
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, parquetConfig, "S3_ENDPOINT="+m.Endpoint, "S3_KEY="+m.AccessKey, "S3_SECRET="+m.SecretKey)

	var body strings.Builder
	for i := range 100 {
		fmt.Fprintf(&body, "{\"order_id\":%d,\"customer\":\"c%d ü\",\"total\":{\"amount\":\"%d.25\"},\"ts\":\"2026-11-25T10:00:%02dZ\",\"paid\":%v,\"items\":[{\"sku\":\"A\",\"n\":%d}]}\n",
			9007199254740993+i, i%3, i, i%60, i%2 == 0, i)
	}
	body.WriteString("{\"order_id\":\"abc\",\"customer\":\"bad\"}\n")       // not an int64
	body.WriteString("{\"customer\":\"no id\",\"total\":{\"amount\":1}}\n") // required column missing
	resp, err := http.Post(h.url+"/v1/streams/orders/records", "application/x-ndjson", strings.NewReader(body.String()))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("put: %v %v", err, resp)
	}
	resp.Body.Close()

	ctx := context.Background()
	var objects []string
	await.Cond(t, 30*time.Second, "a Parquet object and 2 conversion failures", func() bool {
		objects = nil
		for obj := range m.Client.ListObjects(ctx, "lake", miniogo.ListObjectsOptions{Prefix: "orders/", Recursive: true}) {
			objects = append(objects, obj.Key)
		}
		return len(objects) == 1 && countObjectLines(t, m, "errors/format-conversion-failed/") == 2
	})
	if !strings.HasSuffix(objects[0], ".parquet") {
		t.Fatalf("object %s: want a .parquet name", objects[0])
	}
	o, err := m.Client.GetObject(ctx, "lake", objects[0], miniogo.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(o)
	o.Close()
	if err != nil {
		t.Fatal(err)
	}

	// arrow-go: the row count and the exact int64 beyond float64's precision.
	rdr, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	if tbl.NumRows() != 100 || tbl.NumCols() != 6 {
		t.Fatalf("arrow-go reads %d rows × %d columns, want 100 × 6", tbl.NumRows(), tbl.NumCols())
	}
	if got := tbl.Column(0).Data().Chunk(0).ValueStr(0); got != "9007199254740993" {
		t.Fatalf("order_id[0] = %s, want 9007199254740993 exactly", got)
	}

	// DuckDB, as a newcomer would query the file.
	py := duckdbPython(t)
	path := filepath.Join(dir, "orders.parquet")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	query := fmt.Sprintf(`SELECT count(*), sum(amount), min(order_id), count(DISTINCT customer), sum(CASE WHEN paid THEN 1 ELSE 0 END), `+
		`epoch_ms(min(ts)), max(json_extract(items, '$[0].n')::INT) FROM '%s'`, path)
	out, err := exec.Command(py, "-c", "import duckdb,sys; print(duckdb.sql(sys.argv[1]).fetchall())", query).CombinedOutput()
	if err != nil {
		t.Fatalf("duckdb: %v\n%s", err, out)
	}
	want := "[(100, Decimal('4975.00'), 9007199254740993, 3, 50, 1795600800000, 99)]"
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("DuckDB reads\n%s\nwant\n%s", got, want)
	}
	h.stop()
}

// duckdbPython returns a Python with the duckdb package (built by `make
// duckdb`, which make test runs).
func duckdbPython(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HYDRANT_DUCKDB_PYTHON"); p != "" {
		return p
	}
	_, here, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(here), "..", ".cache", "venv", "bin", "python")
	if _, err := os.Stat(p); err != nil {
		if testing.Short() {
			t.Skip("DuckDB is not installed; run `make duckdb` (make test does)")
		}
		t.Fatalf("no Python with duckdb at %s: run `make duckdb` or `make test`, or set HYDRANT_DUCKDB_PYTHON", p)
	}
	return p
}
