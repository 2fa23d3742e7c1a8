package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
)

// icebergLocalConfig is the embedded default: no catalog server, no object
// store. The SQLite catalog and the table's files are under data_dir.
const icebergLocalConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: orders
    shards: 2
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
deliveries:
  - name: orders-lake
    source: orders
    buffer: {size: 1MiB, interval: 300ms}
    destination:
      iceberg:
        namespace: sales
        table: orders
        create_table: true
        columns:
          - {name: order_id, type: long, required: true}
          - {name: customer, type: string}
          - {name: ts, type: timestamptz}
        partition_by:
          - {column: ts, transform: day}
`

// icebergLocalTable is what iceberg_local_read.py printed: each column's
// values in order_id order, read by pyiceberg and by DuckDB.
type icebergLocalTable struct {
	PyIceberg map[string][]any `json:"pyiceberg"`
	DuckDB    map[string][]any `json:"duckdb"`
}

// readIcebergLocal reads sales.orders of the SQLite catalog at dir's
// default path through pyiceberg and DuckDB, and fails unless both read
// the same rows.
func readIcebergLocal(t *testing.T, dir string, cols ...string) (map[string][]any, error) {
	t.Helper()
	args := append([]string{"iceberg_local_read.py", filepath.Join(dir, "data", "iceberg", "catalog.db"), "sales.orders", "order_id"}, cols...)
	out, err := exec.Command(pyicebergPython(t), args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return nil, fmt.Errorf("%v: %s", err, ee.Stderr)
		}
		return nil, err
	}
	var tbl icebergLocalTable
	if err := json.Unmarshal(out, &tbl); err != nil {
		return nil, fmt.Errorf("iceberg_local_read.py printed %.200q: %v", out, err)
	}
	if a, b := fmt.Sprint(tbl.PyIceberg), fmt.Sprint(tbl.DuckDB); a != b {
		t.Fatalf("pyiceberg and DuckDB disagree:\npyiceberg %.500s\nduckdb    %.500s", a, b)
	}
	return tbl.PyIceberg, nil
}

// The embedded default: an Iceberg table in a SQLite catalog with its files
// under data_dir, appended by the real binary across a kill -9 under load
// (each acknowledged order once), then a column added to the config with
// schema_evolution: add_columns (the table gains it; earlier rows read
// null). Read back with pyiceberg and with DuckDB.
func TestIcebergEmbeddedSQLiteCatalog(t *testing.T) {
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, icebergLocalConfig)
	load := newOrderLoad("orders")
	rows := func() []int64 {
		tbl, err := readIcebergLocal(t, dir)
		if err != nil {
			return nil // the table may not be there yet
		}
		return int64s(tbl["order_id"])
	}
	all := func(ids []int64) bool { return len(load.missing(ids)) == 0 }

	stopProducer := load.produce(h, 1)
	await.Cond(t, 60*time.Second, "rows appended while a producer puts", func() bool { return len(rows()) >= 500 })
	h.kill()
	stopProducer()
	h = startHydrant(t, dir, listen, icebergLocalConfig)
	await.Cond(t, 60*time.Second, fmt.Sprintf("all %d acknowledged orders appended", load.owed()), func() bool { return all(rows()) })
	load.checkOnce(t, rows())
	before, cut := load.owed(), load.last()

	// A column added to the config: the table gains it at start.
	h.stop()
	evolved := strings.Replace(icebergLocalConfig, "        create_table: true\n",
		"        create_table: true\n        schema_evolution: add_columns\n", 1)
	evolved = strings.Replace(evolved, "          - {name: ts, type: timestamptz}\n",
		"          - {name: ts, type: timestamptz}\n          - {name: amount, type: double, path: /total/amount}\n", 1)
	h = startHydrant(t, dir, listen, evolved)
	for range 4 {
		if err := load.put(h, 25, `,"total":{"amount":ID.5}`); err != nil {
			t.Fatal(err)
		}
	}
	var tbl map[string][]any
	await.Cond(t, 60*time.Second, "orders with the new column appended", func() bool {
		var err error
		tbl, err = readIcebergLocal(t, dir, "amount")
		return err == nil && all(int64s(tbl["order_id"]))
	})
	h.stop()
	ids := int64s(tbl["order_id"])
	load.checkOnce(t, ids)
	for i, id := range ids {
		amount := tbl["amount"][i]
		switch {
		case id <= cut && amount != nil:
			t.Fatalf("order %d, appended before the column was added, has amount %v", id, amount)
		case id > cut && amount != float64(id)+0.5:
			t.Fatalf("order %d has amount %v, want %d.5", id, amount, id)
		}
	}
	t.Logf("%d acknowledged orders, each appended once across kill -9; %d more with the added column, read alike by pyiceberg and DuckDB", before, load.owed()-before)
}

// int64s converts the JSON numbers a reader printed to ids.
func int64s(vs []any) []int64 {
	out := make([]int64, len(vs))
	for i, v := range vs {
		out[i] = int64(v.(float64))
	}
	return out
}
