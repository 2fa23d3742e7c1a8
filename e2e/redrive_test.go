package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hydrant-dev/hydrant/e2e/postgres"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/redrive"
)

// redriveConfig loads orders into a table whose customer column takes at
// most 8 characters; {{TRANSFORMS}} is the delivery's transforms.
const redriveConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: orders
    shards: 8
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
deliveries:
  - name: orders-db
    source: orders
    buffer: {size: 1MiB, interval: 200ms}
    retry: {duration: 3600s}
{{TRANSFORMS}}
    destination:
      postgres:
        dsn: "${PG_DSN}"
        table: public.orders
        columns:
          - {name: order_id, type: bigint}
          - {name: customer, type: text}
          - {name: amount, type: numeric}
`

// Orders whose customer is too long for its column are refused by Postgres
// and go to the error output. The delivery's transform is fixed (a jq that
// cuts the name), and the failed orders are redriven with the real binary's
// `hydrant redrive`: killed with -9 in the middle of the redrive (held,
// through a Postgres advisory lock, after its first error object and
// inside its second), restarted,
// redriven again; every order is in the table exactly once, every error
// object is marked done, and a further redrive finds nothing to do.
func TestRedriveExactlyOnce(t *testing.T) {
	pg := postgres.Start(t)
	pg.Exec(t, "CREATE TABLE public.orders (order_id bigint NOT NULL, customer varchar(8) NOT NULL, amount numeric)")
	dir, listen := t.TempDir(), freeAddr(t)
	env := "PG_DSN=" + pg.DSN
	config := func(transforms string) string { return strings.Replace(redriveConfig, "{{TRANSFORMS}}", transforms, 1) }
	h := startHydrant(t, dir, listen, config(""), env)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func(query string) int {
		var n int
		if err := conn.QueryRow(ctx, query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Rounds of orders, each flushed before the next, so that the bad rows
	// are in many error objects (one per shard and round).
	const rounds, perRound = 25, 40
	good, bad := 0, 0
	for round := range rounds {
		var body strings.Builder
		for i := range perRound {
			id := round*perRound + i + 1
			customer := fmt.Sprintf("c%d", id%7)
			if i%4 == 0 {
				customer, bad = fmt.Sprintf("customer-%d-with-a-long-name", id), bad+1
			} else {
				good++
			}
			fmt.Fprintf(&body, "{\"order_id\":%d,\"customer\":%q,\"amount\":\"%d.50\",\"pk\":\"%d\"}\n", id, customer, id, rand.Int())
		}
		if status, res, err := h.put("orders", []byte(body.String())); err != nil || status != http.StatusOK || res.FailedRecordCount > 0 {
			t.Fatalf("put: %d %+v %v", status, res, err)
		}
		await.Cond(t, 60*time.Second, fmt.Sprintf("round %d's good orders loaded", round), func() bool {
			return count("SELECT count(*) FROM public.orders") == good
		})
	}
	var listed struct {
		Errors []struct {
			Type           string `json:"type"`
			ErrorCode      string `json:"error_code"`
			ShardID        string `json:"shard_id"`
			SequenceNumber string `json:"sequence_number"`
			DataPreview    string `json:"data_preview"`
			RedriveState   string `json:"redrive_state"`
		} `json:"errors"`
		Truncated bool `json:"truncated"`
	}
	await.Cond(t, 60*time.Second, fmt.Sprintf("%d refused orders in the error output", bad), func() bool {
		getJSON(t, h.url+"/v1/deliveries/orders-db/errors?type=postgres-failed&limit=10000", &listed)
		return len(listed.Errors) == bad
	})
	for _, e := range listed.Errors {
		if e.Type != "postgres-failed" || e.ErrorCode != "Postgres.RowRejected" || !strings.HasPrefix(e.ShardID, "shardId-") ||
			e.SequenceNumber == "" || !strings.Contains(e.DataPreview, "with-a-long-name") || e.RedriveState != "" {
			t.Fatalf("listed failed record: %+v", e)
		}
	}
	markersBefore := len(markers(t, dir, ""))
	errorObjects := countErrorObjects(t, dir)
	t.Logf("%d good orders loaded, %d refused in %d error objects", good, bad, errorObjects)

	// The transform is fixed; the redrive is killed with -9 in the middle:
	// the test holds the Postgres advisory lock that the batch of the
	// second error object (in key order, as the redrive takes them) takes
	// for its redrive shard, so the first object is done and the second
	// planned and waiting when the process is killed.
	h.stop()
	fixed := config("    transforms:\n      - {type: jq, query: '.customer |= .[0:8]'}")
	h = startHydrant(t, dir, listen, fixed, env)
	keys := errorObjectKeys(t, dir)
	lock, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, "SELECT pg_advisory_lock(hashtextextended($1, 0))", "orders-db/"+redrive.RedriveShard(keys[1])); err != nil {
		t.Fatal(err)
	}
	cli := exec.Command(hydrantBinary(t), "redrive", "orders-db", "-endpoint", h.url)
	cli.Stdout, cli.Stderr = os.Stderr, os.Stderr
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	await.Cond(t, 60*time.Second, "the redrive to finish the first error object and wait in the second", func() bool {
		return len(markers(t, dir, "done")) == 1 && len(markers(t, dir, "planned")) == 1
	})
	h.kill()
	cli.Wait()
	lock.Close(ctx)
	doneBefore, plannedBefore := len(markers(t, dir, "done")), len(markers(t, dir, "planned"))
	if doneBefore != 1 || plannedBefore != 1 || errorObjects < 3 {
		t.Fatalf("killed with %d of %d error objects done and %d planned; want the kill between the first (done) and the second (planned)",
			doneBefore, errorObjects, plannedBefore)
	}
	t.Logf("killed after %d of %d error objects were done (%d planned, %d rows loaded)", doneBefore, errorObjects,
		plannedBefore, count("SELECT count(*) FROM public.orders"))

	h = startHydrant(t, dir, listen, fixed, env)
	start := time.Now()
	out, err := exec.Command(hydrantBinary(t), "redrive", "orders-db", "-endpoint", h.url, "-output", "json").Output()
	if err != nil {
		t.Fatalf("redrive after the restart: %v\n%s", err, out)
	}
	var res struct{ Objects, Records, Delivered, Failed, Skipped int }
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	t.Logf("redrive after the restart (%s): %+v", time.Since(start).Round(time.Millisecond), res)
	if res.Failed != 0 || res.Skipped != doneBefore || res.Objects != errorObjects-doneBefore {
		t.Fatalf("redrive after the restart: %+v; want %d objects, %d skipped, none failed", res, errorObjects-doneBefore, doneBefore)
	}
	if rows, distinct := count("SELECT count(*) FROM public.orders"), count("SELECT count(DISTINCT order_id) FROM public.orders"); rows != good+bad || distinct != good+bad {
		t.Fatalf("%d rows of %d orders in the table, want %d orders once each", rows, distinct, good+bad)
	}
	if n := count("SELECT count(*) FROM public.orders WHERE customer LIKE 'custome%'"); n != bad {
		t.Fatalf("%d redriven orders with a cut name, want %d", n, bad)
	}
	if done := len(markers(t, dir, "done")); done != errorObjects || markersBefore != 0 {
		t.Fatalf("%d of %d error objects marked done (%d markers before the redrive)", done, errorObjects, markersBefore)
	}

	// Once more: nothing left to redrive.
	out, err = exec.Command(hydrantBinary(t), "redrive", "orders-db", "-endpoint", h.url, "-output", "json").Output()
	if err != nil {
		t.Fatalf("third redrive: %v\n%s", err, out)
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Objects != 0 || res.Records != 0 || res.Skipped != errorObjects {
		t.Fatalf("third redrive: %s (%v); want nothing redriven, %d skipped", out, err, errorObjects)
	}
	if rows := count("SELECT count(*) FROM public.orders"); rows != good+bad {
		t.Fatalf("after the third redrive: %d rows, want %d", rows, good+bad)
	}
}

// markers returns the redrive markers under the delivery's error output
// in the data dir, of state (any when "").
func markers(t *testing.T, dir, state string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(filepath.Join(dir, "data", "errors", "orders-db"), func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".redrive.json") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil // being replaced
		}
		var m struct{ State string }
		if json.Unmarshal(b, &m) == nil && (state == "" || m.State == state) {
			found = append(found, path)
		}
		return nil
	})
	return found
}

// errorObjectKeys returns the keys of the delivery's error objects in the
// data dir, as the redrive lists them (relative to errors/orders-db), sorted.
func errorObjectKeys(t *testing.T, dir string) []string {
	t.Helper()
	root := filepath.Join(dir, "data", "errors", "orders-db")
	var keys []string
	filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(path, "-postgres-failed.jsonl") {
			rel, _ := filepath.Rel(root, path)
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(keys)
	return keys
}

// countErrorObjects counts the delivery's error objects in the data dir.
func countErrorObjects(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(filepath.Join(dir, "data", "errors", "orders-db"), func(path string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(path, "-postgres-failed.jsonl") {
			n++
		}
		return nil
	})
	return n
}

// getJSON GETs url and decodes its JSON answer into out.
func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}
