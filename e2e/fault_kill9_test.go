package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/e2e/minio"
	"github.com/hydrant-dev/hydrant/e2e/postgres"
	"github.com/hydrant-dev/hydrant/internal/await"
)

const faultKill9Config = `
server: {listen: "{{LISTEN}}"}
# A budget the load passes in seconds: trimming for room runs all the time, so kills land in it too.
storage: {data_dir: "{{DIR}}/data", fsync: always, disk_budget: 8MiB}
streams:
  - name: orders
    shards: 3
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
    partition_key_field: /customer
deliveries:
  - name: orders-db
    source: orders
    buffer: {size: 1MiB, interval: 1s}
    retry: {duration: 3600s}
    destination:
      postgres:
        dsn: "${PG_DSN}"
        table: public.fault_orders
        create_table: true
        columns:
          - {name: id, type: text}
          - {name: customer, type: text}
          - {name: n, type: bigint}
  - name: orders-lake
    source: orders
    buffer: {size: 1MiB, interval: 1s}
    retry: {duration: 3600s}
    destination:
      s3:
        endpoint: "${S3_ENDPOINT}"
        bucket: lake
        access_key_id: "${S3_KEY}"
        secret_access_key: "${S3_SECRET}"
        prefix: "orders/"
`

// Five kill -9s at random moments while four producers put — and while
// deliveries flush and checkpoint and the disk budget trims what they
// delivered — each followed by a restart on the same data dir and port. Every acknowledged record
// must end up in Postgres exactly once (its ledger) and in MinIO in exactly
// one object (a re-delivered batch rewrites its object).
func TestFaultKill9FiveTimesUnderLoad(t *testing.T) {
	began := time.Now()
	rng := faultRand(t)
	pg := postgres.Start(t)
	m := minio.Start(t)
	m.CreateBucket(t, "lake")
	dir, listen := t.TempDir(), freeAddr(t)
	env := []string{"PG_DSN=" + pg.DSN, "S3_ENDPOINT=" + m.Endpoint, "S3_KEY=" + m.AccessKey, "S3_SECRET=" + m.SecretKey}
	h := startHydrant(t, dir, listen, faultKill9Config, env...)

	load := newFaultLoad(t, "http://"+listen, "orders", "k9")
	load.start(4)
	acknowledgedSinceStart := func(what string) {
		t.Helper()
		before := load.ackedCount()
		await.Cond(t, 30*time.Second, what, func() bool { return load.ackedCount() >= before+1000 })
	}
	for kill := 1; kill <= 5; kill++ {
		acknowledgedSinceStart(fmt.Sprintf("1,000 records acknowledged before kill %d", kill))
		delay := time.Duration(1000+rng.IntN(3001)) * time.Millisecond
		select {
		case <-time.After(delay): // the random moment of the kill
		case <-h.exited:
			t.Fatalf("hydrant exited by itself before kill %d", kill)
		}
		h.kill()
		load.phase.Add(1)
		t.Logf("kill -9 #%d after %v: %d records acknowledged so far", kill, delay, load.ackedCount())
		h = startHydrant(t, dir, listen, faultKill9Config, env...)
	}
	acknowledgedSinceStart("1,000 records acknowledged after the last restart")
	load.stopAndWait()
	acked := keys(load.ackedSnapshot())

	conn := pgConnect(t, pg.DSN)
	waitFor(t, 2*time.Minute, "every acknowledged record in Postgres", acked, func(ids []string) []string {
		n := pgCount(t, conn, "public.fault_orders", ids)
		var missing []string
		for _, id := range ids {
			if n[id] == 0 {
				missing = append(missing, id)
			}
		}
		return missing
	})
	lake := newS3Records(t, m.Client, "lake", "orders/")
	waitFor(t, 2*time.Minute, "every acknowledged record in MinIO", acked, func(ids []string) []string {
		n, _ := lake.scan()
		var missing []string
		for _, id := range ids {
			if n[id] == 0 {
				missing = append(missing, id)
			}
		}
		return missing
	})
	trims := 0 // over every process's log: each start writes its own
	logs, _ := filepath.Glob(filepath.Join(dir, "hydrant-*.log"))
	for _, path := range logs {
		b, _ := os.ReadFile(path)
		trims += strings.Count(string(b), "disk budget: trimmed delivered records")
	}
	if trims == 0 {
		t.Error("no trimming for the disk budget during the run; the kills were meant to land among trims")
	}
	t.Logf("%d trims for the disk budget over %d runs of the process", trims, len(logs))
	h.stop() // nothing is rewritten while the result is read

	// Postgres: each acknowledged id exactly once, and no id twice at all.
	var rows, distinct int
	if err := conn.QueryRow(context.Background(), "SELECT count(*), count(DISTINCT id) FROM public.fault_orders").Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	unacked := load.unackedIDs()
	pgAcked, pgUnacked := pgCount(t, conn, "public.fault_orders", acked), pgCount(t, conn, "public.fault_orders", unacked)
	pgErrs := readDataDirErrors(t, dir+"/data", "orders-db")
	pgErrIDs := map[string]bool{}
	for _, e := range pgErrs {
		pgErrIDs[e.ID] = true
	}
	pgRow := faultRow{Scenario: "kill -9 x5 under load: postgres", Acknowledged: len(acked), Unacked: len(unacked)}
	for _, id := range acked {
		if pgErrIDs[id] {
			pgRow.ErrorOutput++
		}
		switch n := pgAcked[id]; {
		case n == 0 && !pgErrIDs[id]:
			pgRow.Lost++
		case n == 0:
		case n > 1:
			pgRow.Duplicated++
			pgRow.Delivered++
		default:
			pgRow.Delivered++
		}
	}
	for _, id := range unacked {
		if pgUnacked[id] > 0 {
			pgRow.UnackedSeen++
		}
	}

	// MinIO: each acknowledged id in one object; the error output empty.
	inS3, objects := lake.scan()
	s3Errs := newS3Records(t, m.Client, "lake", "errors/")
	s3Errs.errorDocs = true
	errCount, errObjects := s3Errs.scan()
	s3Row := faultRow{Scenario: "kill -9 x5 under load: s3", Acknowledged: len(acked), Unacked: len(unacked)}
	accountS3(&s3Row, acked, unacked, inS3, errCount)
	pgRow.Took, s3Row.Took = time.Since(began), time.Since(began)
	recordFault(pgRow)
	recordFault(s3Row)
	t.Logf("postgres: %d rows, %d distinct ids; MinIO: %d objects, %d error objects", rows, distinct, objects, errObjects)

	if rows != distinct {
		t.Errorf("Postgres holds %d rows for %d ids: a batch was loaded twice", rows, distinct)
	}
	if pgRow.Lost > 0 || pgRow.Duplicated > 0 {
		t.Errorf("Postgres: %d acknowledged records lost, %d loaded more than once", pgRow.Lost, pgRow.Duplicated)
	}
	if len(pgErrs) > 0 {
		t.Errorf("Postgres error output holds %d records (e.g. %+v); nothing failed", len(pgErrs), pgErrs[0])
	}
	if s3Row.Lost > 0 || s3Row.Duplicated > 0 {
		t.Errorf("MinIO: %d acknowledged records lost, %d in more than one object", s3Row.Lost, s3Row.Duplicated)
	}
	if errObjects > 0 {
		t.Errorf("MinIO error output holds %d objects; nothing failed", errObjects)
	}
	for id, n := range inS3 {
		if n > 1 {
			t.Errorf("record %s is in %d objects; re-delivery must rewrite, not duplicate", id, n)
			break
		}
	}
}
