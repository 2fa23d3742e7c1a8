package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/e2e/postgres"
	"github.com/hydrant-dev/hydrant/internal/await"
)

// faultDestStartConfig has a Postgres delivery with a short retry
// duration and, on another stream, a file delivery.
const faultDestStartConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: orders
    shards: 2
  - name: clicks
    shards: 1
deliveries:
  - name: orders-db
    source: orders
    buffer: {size: 1MiB, interval: 200ms}
    retry: {duration: 2s}
    destination:
      postgres:
        dsn: "${PG_DSN}"
        table: public.fault_start
        columns: {{COLUMNS}}
  - name: clicks-files
    source: clicks
    buffer: {size: 1MiB, interval: 200ms}
    destination:
      file: {dir: "{{DIR}}/clicks"}
`

const faultDestStartDDL = "CREATE TABLE public.fault_start (id text, n bigint)"

// A Postgres delivery whose database cannot be used when `hydrant serve`
// starts — nothing listens on its port, or its table is missing — does not
// stop the server: it is ready, takes puts for every stream, and the other
// delivery delivers. The Postgres delivery reports itself not connected
// (status, metrics) and keeps trying; its records wait in the shard log,
// none goes to the error output though the wait outlasts the retry
// duration, and once the database can be used every acknowledged record
// is loaded exactly once, without restarting Hydrant.
func TestFaultDestinationUnreachableAtStart(t *testing.T) {
	const retryDuration = 2 * time.Second
	tests := []struct {
		name    string
		columns string
		down    func(t *testing.T, pg *postgres.Server) // the fault, before Hydrant starts
		mend    func(t *testing.T, pg *postgres.Server)
		wantErr string // in the status's last error while it lasts
	}{
		{
			name:    "postgres down",
			columns: "[{name: id, type: text}, {name: n, type: bigint}]",
			down: func(t *testing.T, pg *postgres.Server) {
				pg.Exec(t, faultDestStartDDL)
				pg.Stop(t)
			},
			mend:    func(t *testing.T, pg *postgres.Server) { pg.Start(t) },
			wantErr: "connect",
		},
		{
			name:    "table missing, columns listed",
			columns: "[{name: id, type: text}, {name: n, type: bigint}]",
			down:    func(*testing.T, *postgres.Server) {},
			mend:    func(t *testing.T, pg *postgres.Server) { pg.Exec(t, faultDestStartDDL) },
			wantErr: "public.fault_start does not exist",
		},
		{
			name:    "table missing, columns auto",
			columns: "auto",
			down:    func(*testing.T, *postgres.Server) {},
			mend:    func(t *testing.T, pg *postgres.Server) { pg.Exec(t, faultDestStartDDL) },
			wantErr: "public.fault_start does not exist",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			began := time.Now()
			pg := postgres.Start(t)
			tt.down(t, pg)
			dir, listen := t.TempDir(), freeAddr(t)
			cfg := strings.ReplaceAll(faultDestStartConfig, "{{COLUMNS}}", tt.columns)
			h := startHydrant(t, dir, listen, cfg, "PG_DSN="+pg.DSN) // fails unless serve gets ready

			// The other stream's delivery delivers.
			clicks := putIDs(t, h, "clicks", "click", 50)
			await.Cond(t, 30*time.Second, "the file delivery to deliver every click", func() bool {
				return destinationtest.CountLines(destinationtest.DeliveredLines(t, filepath.Join(dir, "clicks"))) == len(clicks)
			})

			// Puts to the Postgres delivery's stream are acknowledged.
			acked := putIDs(t, h, "orders", "order", 1000)
			st := awaitDeliveryStatus(t, h, "orders-db", "orders-db to report why it is not connected", func(d deliveryState) bool {
				return strings.Contains(d.LastError, tt.wantErr)
			})
			if st.Connected || !strings.HasPrefix(st.LastError, "not connected: ") || st.DeliveredRecords != 0 {
				t.Errorf("orders-db while the fault lasts: %+v", st)
			}
			if v := metricValue(t, h.url, `hydrant_delivery_destination_connected{delivery="orders-db"}`); v != 0 {
				t.Errorf("hydrant_delivery_destination_connected{orders-db} = %v while the fault lasts, want 0", v)
			}
			if v := metricValue(t, h.url, `hydrant_delivery_destination_connected{delivery="clicks-files"}`); v != 1 {
				t.Errorf("hydrant_delivery_destination_connected{clicks-files} = %v, want 1", v)
			}
			// Longer than the retry duration: still nothing in the error output.
			dataDir := filepath.Join(dir, "data")
			holdFor(2*retryDuration, func() {
				if errs := readDataDirErrors(t, dataDir, "orders-db"); len(errs) > 0 {
					t.Fatalf("%d records in the error output while the destination was not reachable at start", len(errs))
				}
			})

			tt.mend(t, pg)
			mended := time.Now()
			conn := pgConnect(t, pg.DSN)
			waitFor(t, 2*time.Minute, "every acknowledged order in the table", acked, func(ids []string) []string {
				var missing []string
				for id, n := range pgCount(t, conn, "public.fault_start", ids) {
					if n == 0 {
						missing = append(missing, id)
					}
				}
				return missing
			})
			loadedIn := time.Since(mended)
			var rows, distinct int
			if err := conn.QueryRow(t.Context(), "SELECT count(*), count(DISTINCT id) FROM public.fault_start").Scan(&rows, &distinct); err != nil {
				t.Fatal(err)
			}
			if rows != len(acked) || distinct != len(acked) {
				t.Errorf("table holds %d rows (%d distinct), want each of the %d acknowledged orders once", rows, distinct, len(acked))
			}
			st = awaitDeliveryStatus(t, h, "orders-db", "orders-db connected", func(d deliveryState) bool { return d.Connected })
			if v := metricValue(t, h.url, `hydrant_delivery_destination_connected{delivery="orders-db"}`); v != 1 {
				t.Errorf("hydrant_delivery_destination_connected{orders-db} = %v once mended, want 1", v)
			}
			h.stop()
			if errs := readDataDirErrors(t, dataDir, "orders-db"); len(errs) > 0 {
				t.Errorf("%d records in the error output, want none", len(errs))
			}
			t.Logf("%s: %d orders loaded %v after the fault was mended", tt.name, len(acked), loadedIn.Round(time.Millisecond))
			recordFault(faultRow{Scenario: "postgres at start: " + tt.name, Acknowledged: len(acked), Delivered: distinct,
				Lost: len(acked) - distinct, Duplicated: rows - distinct, Took: time.Since(began)})
		})
	}
}

// putIDs puts n records {"id": "<prefix>-<i>", "n": i} to stream, 100 a
// request, and returns the ids acknowledged; every one must be.
func putIDs(t *testing.T, h *hydrant, stream, prefix string, n int) []string {
	t.Helper()
	var ids []string
	for start := 0; start < n; start += 100 {
		var body strings.Builder
		batch := make([]string, 0, 100)
		for i := start; i < min(start+100, n); i++ {
			id := fmt.Sprintf("%s-%d", prefix, i)
			fmt.Fprintf(&body, "{\"id\":%q,\"n\":%d}\n", id, i)
			batch = append(batch, id)
		}
		status, res, err := h.put(stream, []byte(body.String()))
		if err != nil || status != http.StatusOK || res.FailedRecordCount != 0 {
			t.Fatalf("put to %s: %d %+v %v", stream, status, res, err)
		}
		ids = append(ids, batch...)
	}
	return ids
}

// deliveryState is a delivery as GET /v1/status reports it.
type deliveryState struct {
	Name             string `json:"name"`
	Connected        bool   `json:"destination_connected"`
	LastError        string `json:"last_error"`
	DeliveredRecords int64  `json:"delivered_records"`
}

// awaitDeliveryStatus polls GET /v1/status until the delivery's state
// satisfies ok, and returns it.
func awaitDeliveryStatus(t *testing.T, h *hydrant, name, what string, ok func(deliveryState) bool) deliveryState {
	t.Helper()
	var found deliveryState
	await.Cond(t, 30*time.Second, what, func() bool {
		resp, err := http.Get(h.url + "/v1/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var rep struct {
			Deliveries []deliveryState `json:"deliveries"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&rep) != nil {
			return false
		}
		for _, d := range rep.Deliveries {
			if d.Name == name {
				found = d
				return ok(d)
			}
		}
		return false
	})
	return found
}
