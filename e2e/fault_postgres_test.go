package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/e2e/postgres"
	"github.com/hydrant-dev/hydrant/internal/await"
)

const faultDroppedTableConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: orders
    shards: 2
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
deliveries:
  - name: orders-db
    source: orders
    buffer: {size: 1MiB, interval: 200ms}
    retry: {duration: 2s}
    destination:
      postgres:
        dsn: "${PG_DSN}"
        table: public.fault_dropped
        create_table: false
        columns:
          - {name: id, type: text}
          - {name: customer, type: text}
          - {name: n, type: bigint}
`

// The load phases of TestFaultPostgresTableDropped.
const (
	tableThere   int32 = iota
	tableDropped       // DROP TABLE has committed
	tableSettle        // still dropped; what was acknowledged before this is accounted for before the table comes back
	tableBack          // CREATE TABLE has committed
)

const faultDroppedTableDDL = "CREATE TABLE public.fault_dropped (id text, customer text, n bigint)"

// A Postgres destination whose table is dropped while producers put, for
// longer than retry.duration (2 s): a missing table is retried for that
// long, then the batches go to the delivery's error output
// (<data_dir>/errors/orders-db/delivery-failed/…) and the pipeline goes
// on, taking records into the table again once it is re-created. Every acknowledged record is in the table or in the error
// output — never neither, never both.
func TestFaultPostgresTableDropped(t *testing.T) {
	const retryDuration = 2 * time.Second
	began := time.Now()
	pg := postgres.Start(t)
	pg.Exec(t, faultDroppedTableDDL)
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, faultDroppedTableConfig, "PG_DSN="+pg.DSN)
	dataDir := filepath.Join(dir, "data")
	conn := pgConnect(t, pg.DSN)

	load := newFaultLoad(t, "http://"+listen, "orders", "drop")
	load.pace = 50 * time.Millisecond
	load.start(2)
	// inTable returns how many of the acknowledged records put in a phase
	// are in the table.
	inTable := func(phase int32) int {
		var ids []string
		for id, p := range load.ackedSnapshot() {
			if p.start == phase {
				ids = append(ids, id)
			}
		}
		found := 0
		for _, n := range loadedCount(t, conn, ids) {
			if n > 0 {
				found++
			}
		}
		return found
	}
	await.Cond(t, 30*time.Second, "1,000 records loaded into the table", func() bool { return inTable(tableThere) >= 1000 })

	// The drop takes the rows loaded so far with it: keep them aside in the
	// same transaction, so that each record is accounted for.
	pg.Exec(t, `BEGIN;
		LOCK TABLE public.fault_dropped IN ACCESS EXCLUSIVE MODE;
		CREATE TABLE public.fault_dropped_saved AS SELECT * FROM public.fault_dropped;
		DROP TABLE public.fault_dropped;
		COMMIT`)
	load.phase.Store(tableDropped)
	dropped := time.Now()
	t.Logf("table dropped with %d records acknowledged", load.ackedCount())
	// Records put after the drop reach the error output, and keep doing so
	// for longer than the retry duration: the delivery does not stall.
	errorsSince := func(phase int32) int {
		acked := load.ackedSnapshot()
		n := 0
		for _, e := range readDataDirErrors(t, dataDir, "orders-db") {
			if p, ok := acked[e.ID]; ok && p.start == phase {
				n++
			}
		}
		return n
	}
	await.Cond(t, 30*time.Second, "records put after the drop in the error output", func() bool { return errorsSince(tableDropped) > 0 })
	first := time.Since(dropped)
	var atRetry int
	await.Cond(t, 30*time.Second, "more records put after the drop in the error output, past the retry duration", func() bool {
		if time.Since(dropped) < 2*retryDuration {
			atRetry = errorsSince(tableDropped)
			return false
		}
		return errorsSince(tableDropped) > atRetry
	})
	t.Logf("first records put after the drop reached the error output %v after it", first.Round(time.Millisecond))

	// Before the table comes back, everything acknowledged so far is
	// accounted for (so the records put while it was missing cannot reach
	// the re-created table).
	load.phase.Store(tableSettle)
	settled := keys(load.ackedSnapshot())
	waitFor(t, time.Minute, "records acknowledged before the re-creation in the table or the error output", settled, func(ids []string) []string {
		return notAccounted(t, conn, dataDir, ids)
	})

	pg.Exec(t, faultDroppedTableDDL)
	load.phase.Store(tableBack)
	await.Cond(t, 30*time.Second, "1,000 records put after the re-creation loaded", func() bool { return inTable(tableBack) >= 1000 })
	load.stopAndWait()
	if _, bad := load.putStats(); len(bad) > 0 {
		t.Errorf("failed puts by phase: %v; the destination failing must not fail puts", bad)
	}
	all := load.ackedSnapshot()
	acked := keys(all)
	waitFor(t, time.Minute, "every acknowledged record in the table or the error output", acked, func(ids []string) []string {
		return notAccounted(t, conn, dataDir, ids)
	})
	counted := metricValue(t, h.url, `hydrant_delivery_error_output_records_total{delivery="orders-db",type="delivery-failed"}`)
	h.stop()

	// Account for every record.
	loaded := loadedCount(t, conn, acked)
	errs := readDataDirErrors(t, dataDir, "orders-db")
	if int(counted) != len(errs) {
		t.Errorf("hydrant_delivery_error_output_records_total counted %v records, the error output holds %d", counted, len(errs))
	}
	inErrors := map[string]int{}
	types, codes, attempts := map[string]int{}, map[string]int{}, map[int]int{}
	for _, e := range errs {
		inErrors[e.ID]++
		types[e.Type]++
		codes[e.ErrorCode]++
		attempts[e.AttemptsMade]++
		if !strings.Contains(e.ErrorMessage, "fault_dropped") || !strings.Contains(e.ErrorMessage, "does not exist") {
			t.Errorf("error output of record %s: message %q does not say the table is missing", e.ID, e.ErrorMessage)
		}
	}
	t.Logf("error output: %d documents; by type %v, by errorCode %v, by attemptsMade %v", len(errs), types, codes, attempts)
	if len(types) != 1 || types[destinations.ErrorTypeDeliveryFailed] == 0 {
		t.Errorf("error output types %v, want only %s (a missing table fails whole batches, not rows)", types, destinations.ErrorTypeDeliveryFailed)
	}
	if len(codes) != 1 || codes["DeliveryFailed"] == 0 {
		t.Errorf("error codes %v, want only DeliveryFailed", codes)
	}

	row := faultRow{Scenario: "postgres table dropped, re-created", Acknowledged: len(acked), Took: time.Since(began)}
	byPhase := map[string]int{}
	for _, id := range acked {
		p, n, e := all[id], loaded[id], inErrors[id]
		if n > 0 {
			row.Delivered++
		}
		if e > 0 {
			row.ErrorOutput++
		}
		switch {
		case n == 0 && e == 0:
			row.Lost++
		case n > 1 || e > 1 || (n > 0 && e > 0):
			row.Duplicated++
			if row.Duplicated <= 5 {
				t.Errorf("record %s (put in phase %d..%d) is %d times in the table and %d in the error output", id, p.start, p.end, n, e)
			}
		}
		where := "table"
		if e > 0 {
			where = "error output"
		}
		byPhase[fmt.Sprintf("put in phase %d..%d: %s", p.start, p.end, where)]++
		switch {
		case p.start == tableDropped && p.end == tableDropped && e == 0:
			t.Errorf("record %s was put while the table was missing but is not in the error output", id)
		case p.start == tableBack && n == 0:
			t.Errorf("record %s was put after the table was re-created but is not in it", id)
		}
	}
	unacked := load.unackedIDs()
	row.Unacked = len(unacked)
	for id, n := range loadedCount(t, conn, unacked) {
		if n > 0 || inErrors[id] > 0 {
			row.UnackedSeen++
		}
	}
	recordFault(row)
	t.Logf("where the acknowledged records went: %v", byPhase)
	if row.Lost > 0 || row.Duplicated > 0 {
		t.Errorf("%d acknowledged records lost, %d found more than once", row.Lost, row.Duplicated)
	}
	if byPhase["put in phase 1..1: error output"] == 0 || byPhase["put in phase 3..3: table"] == 0 {
		t.Errorf("the drop and the re-creation did not both show: %v", byPhase)
	}
}

// A migration drops the table and creates it again while producers put,
// within retry.duration (60 s): the batches that met the missing table are
// retried, not sent to the error output, and every acknowledged record is
// loaded once.
func TestFaultPostgresTableRecreatedWithinRetry(t *testing.T) {
	began := time.Now()
	pg := postgres.Start(t)
	pg.Exec(t, faultDroppedTableDDL)
	dir, listen := t.TempDir(), freeAddr(t)
	cfg := strings.Replace(faultDroppedTableConfig, "retry: {duration: 2s}", "retry: {duration: 60s}", 1)
	h := startHydrant(t, dir, listen, cfg, "PG_DSN="+pg.DSN)
	dataDir := filepath.Join(dir, "data")
	conn := pgConnect(t, pg.DSN)
	load := newFaultLoad(t, "http://"+listen, "orders", "migrate")
	load.pace = 50 * time.Millisecond
	load.start(2)
	loaded := func() int {
		n := 0
		for _, c := range loadedCount(t, conn, keys(load.ackedSnapshot())) {
			if c > 0 {
				n++
			}
		}
		return n
	}
	await.Cond(t, 30*time.Second, "500 records loaded into the table", func() bool { return loaded() >= 500 })
	pg.Exec(t, `BEGIN;
		LOCK TABLE public.fault_dropped IN ACCESS EXCLUSIVE MODE;
		CREATE TABLE public.fault_dropped_saved AS SELECT * FROM public.fault_dropped;
		DROP TABLE public.fault_dropped;
		COMMIT`)
	retries := func() int {
		log, _ := os.ReadFile(h.logPath)
		n := 0
		for _, line := range strings.Split(string(log), "\n") {
			if strings.Contains(line, "delivery failed, retrying") && strings.Contains(line, "does not exist") {
				n++
			}
		}
		return n
	}
	await.Cond(t, 30*time.Second, "the delivery retrying the missing table", func() bool { return retries() >= 3 })
	pg.Exec(t, faultDroppedTableDDL)
	t.Logf("table re-created after %d retries", retries())
	load.stopAndWait()
	acked := keys(load.ackedSnapshot())
	await.Cond(t, 90*time.Second, fmt.Sprintf("all %d acknowledged records loaded", len(acked)), func() bool { return loaded() >= len(acked) })
	h.stop()
	if errs := readDataDirErrors(t, dataDir, "orders-db"); len(errs) > 0 {
		t.Fatalf("%d records in the error output; a table missing for less than retry.duration sends none there", len(errs))
	}
	row := faultRow{Scenario: "postgres table re-created within retry.duration", Acknowledged: len(acked), Took: time.Since(began)}
	for _, n := range loadedCount(t, conn, acked) {
		switch {
		case n == 1:
			row.Delivered++
		case n > 1:
			row.Delivered++
			row.Duplicated++
		}
	}
	row.Lost = len(acked) - row.Delivered
	recordFault(row)
	if row.Lost > 0 || row.Duplicated > 0 {
		t.Fatalf("%d acknowledged records lost, %d loaded more than once", row.Lost, row.Duplicated)
	}
}

// notAccounted returns the ids that are neither loaded nor in the error
// output.
func notAccounted(t *testing.T, conn *pgx.Conn, dataDir string, ids []string) []string {
	t.Helper()
	inErrors := map[string]bool{}
	for _, e := range readDataDirErrors(t, dataDir, "orders-db") {
		inErrors[e.ID] = true
	}
	loaded := loadedCount(t, conn, ids)
	var missing []string
	for _, id := range ids {
		if loaded[id] == 0 && !inErrors[id] {
			missing = append(missing, id)
		}
	}
	return missing
}

// loadedCount returns how many rows each id has in the table and in the
// rows kept aside when it was dropped (0 for ids in neither).
func loadedCount(t *testing.T, conn *pgx.Conn, ids []string) map[string]int {
	t.Helper()
	var parts []string
	for _, table := range []string{"public.fault_dropped", "public.fault_dropped_saved"} {
		var exists bool
		if err := conn.QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists {
			parts = append(parts, "SELECT id FROM "+table)
		}
	}
	if len(parts) == 0 {
		return map[string]int{}
	}
	return pgCount(t, conn, "("+strings.Join(parts, " UNION ALL ")+")", ids)
}
