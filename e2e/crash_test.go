package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/internal/await"
)

const crashConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data", fsync: always}
streams:
  - name: orders
    shards: 3
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
    partition_key_field: /customer
deliveries:
  - name: orders-archive
    source: orders
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/out", prefix: "orders/"}
`

// An acknowledged record survives kill -9 and is delivered after the
// restart. Producers keep putting while the process is killed; only what
// was acknowledged is owed. Re-delivery may rewrite whole objects, but no
// record may be lost or appear in two objects.
func TestKill9LosesNoAcknowledgedRecord(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t)
	h := startHydrant(t, dir, listen, crashConfig)

	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		next  atomic.Int64
		wg    sync.WaitGroup
		stop  = make(chan struct{})
	)
	for p := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var body strings.Builder
				ids := make([]string, 50)
				for i := range ids {
					ids[i] = fmt.Sprintf("p%d-%d", p, next.Add(1))
					fmt.Fprintf(&body, "{\"id\":%q,\"customer\":\"c%d\",\"pad\":%q}\n", ids[i], i%11, strings.Repeat("z", 200))
				}
				status, res, err := h.put("orders", []byte(body.String()))
				if err != nil || status != http.StatusOK {
					continue // not acknowledged (the process may be dying): not owed
				}
				mu.Lock()
				for i, r := range res.Records {
					if r.ErrorCode == "" {
						acked[ids[i]] = true
					}
				}
				mu.Unlock()
			}
		})
	}
	await.Cond(t, 30*time.Second, "5,000 acknowledged records", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 5000
	})
	h.kill() // while producers are still putting
	close(stop)
	wg.Wait()
	t.Logf("%d records acknowledged before kill -9", len(acked))

	h = startHydrant(t, dir, listen, crashConfig)
	out := filepath.Join(dir, "out", "orders")
	delivered := func() (map[string]int, int) {
		seen := map[string]int{}
		for _, lines := range destinationtest.DeliveredLines(t, out) {
			for _, l := range lines {
				var r struct{ ID string }
				if err := json.Unmarshal([]byte(l), &r); err != nil {
					t.Fatalf("delivered line %q: %v", l, err)
				}
				seen[r.ID]++
			}
		}
		missing := 0
		for id := range acked {
			if seen[id] == 0 {
				missing++
			}
		}
		return seen, missing
	}
	await.Cond(t, 60*time.Second, "every acknowledged record delivered", func() bool {
		_, missing := delivered()
		return missing == 0
	})
	h.stop()
	seen, _ := delivered()
	for id, n := range seen {
		if n > 1 {
			t.Errorf("record %s is in %d objects; re-delivery must rewrite, not duplicate", id, n)
		}
	}
}
