package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
)

const parquetNestedConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
deliveries:
  - name: shop
    buffer: {interval: 1s}
    destination:
      file:
        dir: "{{DIR}}/out"
        prefix: "shop/"
        error_prefix: "errors/!{firehose:error-output-type}/"
        format: parquet
        parquet:
          timestamp_formats: [epoch_millis, "dd/MM/yyyy HH:mm:ss"]
          schema:
            - {name: id, type: int64, required: true}
            - {name: at, type: timestamp_millis}
            - name: customer
              type: struct
              fields:
                - {name: name, type: string}
                - {name: vip, type: boolean, required: true}
                - {name: emails, type: list, element: {type: string}}
            - name: items
              type: list
              element:
                type: struct
                fields:
                  - {name: sku, type: string, required: true}
                  - {name: qty, type: int32}
            - {name: attrs, type: map, value: {type: string}}
            - {name: matrix, type: list, element: {type: list, element: {type: int64}}}
`

// Nested Parquet from the real binary to files, read back with pyarrow and
// DuckDB: structs, lists of structs, maps and lists of lists with nulls at
// every level, timestamps as epoch milliseconds and a Joda pattern, and a
// record whose nested value does not fit in the error output.
func TestParquetNested(t *testing.T) {
	py := pyarrowPython(t)
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, parquetNestedConfig)

	body := strings.Join([]string{
		`{"id":1,"at":1764068400123,"customer":{"name":"Ann","vip":true,"emails":["a@x.io","ann@y.io"]},` +
			`"items":[{"sku":"A1","qty":2},{"sku":"B2"}],"attrs":{"src":"web","ref":"mail"},"matrix":[[1,2],[],[3]]}`,
		`{"id":2,"at":"25/11/2025 11:00:00"}`,
		`{"id":3,"at":"2025-11-25T12:00:00+0100","customer":{"vip":false,"emails":[]},"items":[],"attrs":{},"matrix":[]}`,
		`{"id":4,"at":null,"customer":{"name":null,"vip":true,"emails":[null,"z@z.io"]},` +
			`"items":[null,{"sku":"C3","qty":null}],"attrs":{"k":null},"matrix":[null,[null,4]]}`,
		`{"id":5,"customer":{"name":"no vip flag"}}`,
		`{"id":6,"items":[{"sku":"D4","qty":"many"}]}`,
	}, "\n") + "\n"
	if code, _, err := h.put("shop", []byte(body)); err != nil || code != 200 {
		t.Fatalf("put: %d %v", code, err)
	}

	var files []string
	await.Cond(t, 30*time.Second, "one Parquet file and 2 conversion failures", func() bool {
		files, _ = filepath.Glob(filepath.Join(dir, "out", "shop", "*", "*", "*", "*", "*.parquet"))
		return len(files) == 1 && countDirLines(t, filepath.Join(dir, "out", "errors", "format-conversion-failed")) == 2
	})
	h.stop()
	var failures strings.Builder
	err := filepath.WalkDir(filepath.Join(dir, "out", "errors", "format-conversion-failed"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		failures.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, reason := range []string{`column \"customer.vip\": required value is missing`,
		`column \"items.list.element.qty\": value \"many\" is not an int32`} {
		if !strings.Contains(failures.String(), reason) {
			t.Errorf("the error output has no %s:\n%s", reason, failures.String())
		}
	}

	read := `
import json, sys, pyarrow.parquet as pq, duckdb
t = pq.read_table(sys.argv[1])
for row in t.to_pylist():
    row["at"] = None if row["at"] is None else row["at"].isoformat()
    print(json.dumps(row, sort_keys=True))
print(duckdb.sql('SELECT id, epoch_ms("at"), customer, items, attrs, matrix, ' +
    "len(items), customer.emails[2], attrs['ref'] FROM read_parquet(?) ORDER BY id",
    params=[sys.argv[1]]).fetchall())
`
	out, err := exec.Command(py, "-c", read, files[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("pyarrow/duckdb: %v\n%s", err, out)
	}
	want := strings.Join([]string{
		`{"at": "2025-11-25T11:00:00.123000+00:00", "attrs": [["ref", "mail"], ["src", "web"]], "customer": {"emails": ["a@x.io", "ann@y.io"], "name": "Ann", "vip": true}, "id": 1, "items": [{"qty": 2, "sku": "A1"}, {"qty": null, "sku": "B2"}], "matrix": [[1, 2], [], [3]]}`,
		`{"at": "2025-11-25T11:00:00+00:00", "attrs": null, "customer": null, "id": 2, "items": null, "matrix": null}`,
		`{"at": "2025-11-25T11:00:00+00:00", "attrs": [], "customer": {"emails": [], "name": null, "vip": false}, "id": 3, "items": [], "matrix": []}`,
		`{"at": null, "attrs": [["k", null]], "customer": {"emails": [null, "z@z.io"], "name": null, "vip": true}, "id": 4, "items": [null, {"qty": null, "sku": "C3"}], "matrix": [null, [null, 4]]}`,
		`DUCKDB`,
	}, "\n")
	got := strings.TrimSpace(string(out))
	gotLines := strings.Split(got, "\n")
	wantLines := strings.Split(want, "\n")
	if len(gotLines) != len(wantLines) {
		t.Fatalf("pyarrow and DuckDB read\n%s\nwant\n%s", got, want)
	}
	for i, w := range wantLines[:len(wantLines)-1] {
		if gotLines[i] != w {
			t.Fatalf("pyarrow row %d:\n%s\nwant\n%s", i, gotLines[i], w)
		}
	}
	if d := gotLines[len(gotLines)-1]; d != parquetNestedDuckDB {
		t.Fatalf("DuckDB reads\n%s\nwant\n%s", d, parquetNestedDuckDB)
	}
}

// parquetNestedDuckDB is what DuckDB returns for the query above.
const parquetNestedDuckDB = `[(1, 1764068400123, {'name': 'Ann', 'vip': True, 'emails': ['a@x.io', 'ann@y.io']}, [{'sku': 'A1', 'qty': 2}, {'sku': 'B2', 'qty': None}], {'ref': 'mail', 'src': 'web'}, [[1, 2], [], [3]], 2, 'ann@y.io', 'mail'), ` +
	`(2, 1764068400000, None, None, None, None, None, None, None), ` +
	`(3, 1764068400000, {'name': None, 'vip': False, 'emails': []}, [], {}, [], 0, None, None), ` +
	`(4, None, {'name': None, 'vip': True, 'emails': [None, 'z@z.io']}, [None, {'sku': 'C3', 'qty': None}], {'k': None}, [None, [None, 4]], 2, 'z@z.io', None)]`

// countDirLines counts the lines of every file under dir (0 if it does not exist).
func countDirLines(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			n++
		}
		return nil
	})
	return n
}

// pyarrowPython returns the venv's Python with pyarrow and duckdb (built by
// `make pyarrow`, which make test runs).
func pyarrowPython(t *testing.T) string {
	t.Helper()
	py := os.Getenv("HYDRANT_DUCKDB_PYTHON")
	if py == "" {
		_, here, _, _ := runtime.Caller(0)
		py = filepath.Join(filepath.Dir(here), "..", ".cache", "venv", "bin", "python")
	}
	if err := exec.Command(py, "-c", "import pyarrow, duckdb").Run(); err != nil {
		if testing.Short() && os.Getenv("CI") == "" {
			t.Skip("pyarrow is not installed; run `make pyarrow` (make test does)")
		}
		t.Fatalf("no Python with pyarrow and duckdb at %s (%v): run `make pyarrow` or `make test`, or set HYDRANT_DUCKDB_PYTHON", py, err)
	}
	return py
}
