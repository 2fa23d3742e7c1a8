package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
)

const parquetAutoConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
deliveries:
  - name: logs
    buffer: {interval: 1s}
    destination:
      file:
        dir: "{{DIR}}/out"
        prefix: "logs/"
        error_prefix: "errors/!{firehose:error-output-type}/"
        format: parquet
        parquet: {schema: auto}
`

// Parquet with schema: auto from the real binary to a file, read back with
// pyarrow and DuckDB: the columns inferred from the batch (sorted, with a
// struct, a list, a timestamp, a key of mixed types as a string and a key
// that is no column name renamed) hold every object record's values, and
// the record that is not an object is in the error output alone.
func TestParquetSchemaAuto(t *testing.T) {
	py := pyarrowPython(t)
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, parquetAutoConfig)

	body := strings.Join([]string{
		`{"id":1,"level":"info","ts":"2025-11-25T11:00:00.123Z","latency":0.5,"ok":true,` +
			`"geo":{"city":"Dublin","lat":53.35},"tags":["a","b"],"code":200}`,
		`[1,2,3]`,
		`{"id":2,"level":"warn","ts":"2025-11-25 12:00:00+01:00","latency":3,"ok":false,` +
			`"geo":{"zip":"D02"},"tags":[],"code":"E42","a-b":7,"extra":null}`,
		`{"id":3}`,
	}, "\n") + "\n"
	if code, _, err := h.put("logs", []byte(body)); err != nil || code != 200 {
		t.Fatalf("put: %d %v", code, err)
	}

	var files []string
	errDir := filepath.Join(dir, "out", "errors", "format-conversion-failed")
	await.Cond(t, 30*time.Second, "one Parquet file and 1 conversion failure", func() bool {
		files, _ = filepath.Glob(filepath.Join(dir, "out", "logs", "*", "*", "*", "*", "*.parquet"))
		return len(files) == 1 && countDirLines(t, errDir) == 1
	})
	h.stop()
	errFiles, _ := filepath.Glob(filepath.Join(errDir, "*", "*", "*", "*", "*"))
	if len(errFiles) != 1 {
		t.Fatalf("error files %v, want 1", errFiles)
	}
	failure, err := os.ReadFile(errFiles[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(failure), "record is not a JSON object") || !strings.Contains(string(failure), "WzEsMiwzXQ==") {
		t.Fatalf("the error output holds\n%s\nwant [1,2,3] (base64 WzEsMiwzXQ==), not a JSON object", failure)
	}

	read := `
import json, sys, pyarrow.parquet as pq, duckdb
t = pq.read_table(sys.argv[1])
print(t.schema.to_string(show_schema_metadata=False))
for row in t.to_pylist():
    row["ts"] = None if row["ts"] is None else row["ts"].isoformat()
    print(json.dumps(row, sort_keys=True))
print(duckdb.sql("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))", params=[sys.argv[1]]).fetchall())
print(duckdb.sql('SELECT id, epoch_ms(ts), geo.city, tags, code, a_b FROM read_parquet(?) ORDER BY id',
    params=[sys.argv[1]]).fetchall())
`
	out, err := exec.Command(py, "-c", read, files[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("pyarrow/duckdb: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != parquetAutoWant {
		t.Fatalf("pyarrow and DuckDB read\n%s\nwant\n%s", got, parquetAutoWant)
	}
}

// parquetAutoWant is pyarrow's schema and rows, then DuckDB's column types
// and a query, for the batch above.
const parquetAutoWant = `a_b: int64
code: string
extra: string
geo: struct<city: string, lat: double, zip: string>
  child 0, city: string
  child 1, lat: double
  child 2, zip: string
id: int64
latency: double
level: string
ok: bool
tags: list<element: string>
  child 0, element: string
ts: timestamp[ms, tz=UTC]
{"a_b": null, "code": "200", "extra": null, "geo": {"city": "Dublin", "lat": 53.35, "zip": null}, "id": 1, "latency": 0.5, "level": "info", "ok": true, "tags": ["a", "b"], "ts": "2025-11-25T11:00:00.123000+00:00"}
{"a_b": 7, "code": "E42", "extra": null, "geo": {"city": null, "lat": null, "zip": "D02"}, "id": 2, "latency": 3.0, "level": "warn", "ok": false, "tags": [], "ts": "2025-11-25T11:00:00+00:00"}
{"a_b": null, "code": null, "extra": null, "geo": null, "id": 3, "latency": null, "level": null, "ok": null, "tags": null, "ts": null}
[('a_b', 'BIGINT'), ('code', 'VARCHAR'), ('extra', 'VARCHAR'), ('geo', 'STRUCT(city VARCHAR, lat DOUBLE, zip VARCHAR)'), ('id', 'BIGINT'), ('latency', 'DOUBLE'), ('level', 'VARCHAR'), ('ok', 'BOOLEAN'), ('tags', 'VARCHAR[]'), ('ts', 'TIMESTAMP WITH TIME ZONE')]
[(1, 1764068400123, 'Dublin', ['a', 'b'], '200', None), (2, 1764068400000, None, [], 'E42', 7), (3, None, None, None, None, None)]`
