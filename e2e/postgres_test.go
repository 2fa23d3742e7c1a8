package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/e2e/postgres"
	"github.com/hydrant-dev/hydrant/internal/await"
)

const postgresConfig = `
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
    retry: {duration: 3600s}
    destination:
      postgres:
        dsn: "${PG_DSN}"
        table: public.orders
        create_table: true
        columns:
          - {name: order_id, type: bigint}
          - {name: customer, type: text}
          - {name: amount, type: numeric}
    backup:
      file: {dir: "{{DIR}}/backup"}
`

// Orders loaded into a real Postgres through the real binary, across a
// kill -9 (batches committed but not checkpointed are not loaded twice) and
// a database outage (nothing lost, nothing doubled).
func TestPostgresExactlyOnce(t *testing.T) {
	pg := postgres.Start(t)
	dir, listen := t.TempDir(), freeAddr(t)
	env := "PG_DSN=" + pg.DSN
	h := startHydrant(t, dir, listen, postgresConfig, env)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	counts := func() (rows, distinct int) {
		if err := conn.QueryRow(ctx, "SELECT count(*), count(DISTINCT order_id) FROM public.orders").Scan(&rows, &distinct); err != nil {
			t.Fatal(err)
		}
		return rows, distinct
	}

	var (
		mu    sync.Mutex
		acked = map[int]bool{}
		next  atomic.Int64
	)
	put := func(h *hydrant, n int) error {
		var body strings.Builder
		ids := make([]int, n)
		for i := range ids {
			ids[i] = int(next.Add(1))
			fmt.Fprintf(&body, "{\"order_id\":%d,\"customer\":\"c%d\",\"amount\":\"%d.50\"}\n", ids[i], ids[i]%7, ids[i])
		}
		status, res, err := h.put("orders", []byte(body.String()))
		if err != nil || status != http.StatusOK {
			return fmt.Errorf("put: %d %v", status, err)
		}
		mu.Lock()
		defer mu.Unlock()
		for i, r := range res.Records {
			if r.ErrorCode == "" {
				acked[ids[i]] = true
			}
		}
		return nil
	}

	// Producers put while the process is killed; only acknowledged records are owed.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				put(h, 50)
			}
		})
	}
	// The delivery creates its table once started, which may be after the
	// process is ready (a delivery never holds up readiness).
	await.Cond(t, 30*time.Second, "the delivery to create public.orders", func() bool {
		var exists bool
		if err := conn.QueryRow(ctx, "SELECT to_regclass('public.orders') IS NOT NULL").Scan(&exists); err != nil {
			t.Fatal(err)
		}
		return exists
	})
	await.Cond(t, 60*time.Second, "rows loading while producers put", func() bool {
		rows, _ := counts()
		return rows >= 1000
	})
	h.kill()
	close(stop)
	wg.Wait()
	h = startHydrant(t, dir, listen, postgresConfig, env)
	mu.Lock()
	owed := len(acked)
	mu.Unlock()
	await.Cond(t, 60*time.Second, fmt.Sprintf("all %d acknowledged orders loaded", owed), func() bool {
		_, distinct := counts()
		return distinct >= owed
	})
	if rows, distinct := counts(); rows != distinct {
		t.Fatalf("after kill -9: %d rows for %d orders: batches were loaded twice", rows, distinct)
	}

	// The database goes away: puts are still acknowledged, deliveries retry,
	// and once it is back every order is loaded exactly once.
	pg.Stop(t)
	for range 4 {
		if err := put(h, 50); err != nil {
			t.Fatal(err)
		}
	}
	await.Cond(t, 60*time.Second, "hydrant retrying against the stopped database", func() bool {
		log, _ := os.ReadFile(h.logPath)
		return strings.Count(string(log), "delivery failed, retrying") >= 2
	})
	pg.Start(t)
	conn.Close(ctx)
	if conn, err = pgx.Connect(ctx, pg.DSN); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	owed = len(acked)
	mu.Unlock()
	await.Cond(t, 120*time.Second, "orders put during the outage loaded", func() bool {
		_, distinct := counts()
		return distinct >= owed
	})
	h.stop()
	if rows, distinct := counts(); rows != distinct {
		t.Fatalf("after the outage: %d rows for %d orders", rows, distinct)
	}
	var missing int
	mu.Lock()
	ids := make([]int64, 0, len(acked))
	for id := range acked {
		ids = append(ids, int64(id))
	}
	mu.Unlock()
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM unnest($1::bigint[]) AS a(id) WHERE NOT EXISTS (SELECT 1 FROM public.orders o WHERE o.order_id = a.id)", ids).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if missing != 0 {
		t.Fatalf("%d acknowledged orders are not in the table", missing)
	}
	t.Logf("%d acknowledged orders, each loaded once", len(ids))

	// Every batch was also backed up.
	inBackup := map[int64]bool{}
	for _, lines := range destinationtest.DeliveredLines(t, filepath.Join(dir, "backup")) {
		for _, l := range lines {
			var r struct {
				OrderID int64 `json:"order_id"`
			}
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("backup line %q: %v", l, err)
			}
			inBackup[r.OrderID] = true
		}
	}
	for _, id := range ids {
		if !inBackup[id] {
			t.Fatalf("order %d is loaded but not in the backup", id)
		}
	}
}
