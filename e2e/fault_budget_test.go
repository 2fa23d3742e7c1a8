package e2e

import (
	"bufio"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/e2e/minio"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/shards/seglog"
)

const faultBudgetConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data", disk_budget: 8MiB}
streams:
  - name: clicks
    shards: 2
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
deliveries:
  - name: clicks-lake
    source: clicks
    buffer: {size: 1MiB, interval: 1s}
    retry: {duration: 300s}
    destination:
      s3:
        endpoint: "${S3_ENDPOINT}"
        bucket: lake
        access_key_id: "${S3_KEY}"
        secret_access_key: "${S3_SECRET}"
        prefix: "clicks/"
`

// The load phases of TestFaultDiskBudgetFullWhileMinIODown.
const (
	budgetMinIOUp int32 = iota
	budgetMinIODown
	budgetMinIOBack
)

// The shard log reaches its disk budget (storage.disk_budget: 8MiB) while
// MinIO is down and producers put as fast as they can: puts are refused
// with 429 (never a 5xx or a dropped connection), the log stays within its
// budget, and nothing acknowledged is dropped to make room. Once MinIO is
// back, deliveries catch up, what they delivered is trimmed, and puts are
// acknowledged again; every acknowledged record is delivered once.
func TestFaultDiskBudgetFullWhileMinIODown(t *testing.T) {
	const budget = 8 << 20
	began := time.Now()
	m := minio.Start(t)
	m.CreateBucket(t, "lake")
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, faultBudgetConfig, "S3_ENDPOINT="+m.Endpoint, "S3_KEY="+m.AccessKey, "S3_SECRET="+m.SecretKey)
	lake := newS3Records(t, m.Client, "lake", "clicks/")
	if b := metricValue(t, h.url, "hydrant_store_disk_budget_bytes"); b != budget {
		t.Fatalf("hydrant_store_disk_budget_bytes = %v, want %d", b, budget)
	}

	load := newFaultLoad(t, "http://"+listen, "clicks", "budget")
	load.start(2)
	await.Cond(t, 30*time.Second, "records in MinIO before the outage", func() bool {
		n, _ := lake.scan()
		return len(n) >= 1000
	})

	m.Stop(t)
	load.phase.Store(budgetMinIODown)
	t.Logf("MinIO stopped with %d records acknowledged", load.ackedCount())
	await.Cond(t, time.Minute, "puts refused at the disk budget", func() bool { return load.statusCounts()[http.StatusTooManyRequests] > 0 })
	full := load.ackedCount()
	// At the budget for a while: puts go on being refused, and neither the
	// log's own count nor what its files occupy on disk grows past the
	// budget (2%: a check racing another may let one put through).
	var maxUsed, maxFiles float64
	holdFor(5*time.Second, func() {
		used := metricValue(t, h.url, "hydrant_store_bytes")
		files := float64(dirBytes(t, filepath.Join(dir, "data", "log")))
		maxUsed, maxFiles = max(maxUsed, used), max(maxFiles, files)
	})
	ok, _ := load.putStats()
	t.Logf("at the budget: %d records acknowledged when the first put was refused, %d now; hydrant_store_bytes at most %.0f, log files at most %.0f bytes on disk (%+.1f%% of the budget); puts by status %v",
		full, load.ackedCount(), maxUsed, maxFiles, 100*(maxFiles-budget)/budget, load.statusCounts())
	const most = budget + budget/50
	if maxUsed > most {
		t.Errorf("hydrant_store_bytes reached %.0f with a budget of %d, want at most %d", maxUsed, budget, most)
	}
	if maxFiles > most {
		t.Errorf("the shard log's files occupied %.0f bytes on disk with a budget of %d, want at most %d", maxFiles, budget, most)
	}
	okDuringOutage := ok[budgetMinIODown]

	m.Start(t)
	load.phase.Store(budgetMinIOBack)
	await.Cond(t, 2*time.Minute, "1,000 records acknowledged again after MinIO is back", func() bool {
		ok, _ := load.putStats()
		return ok[budgetMinIOBack]*load.perPut >= 1000
	})
	load.stopAndWait()
	for status, n := range load.statusCounts() {
		if status != http.StatusOK && status != http.StatusTooManyRequests && status != http.StatusMultiStatus {
			t.Errorf("%d puts answered %d; at the budget a put is throttled (429), partly stored (207) or stored (200)", n, status)
		}
	}
	t.Logf("%d puts acknowledged while MinIO was down (before the budget was reached)", okDuringOutage)

	if _, errObjects := settleS3(t, h, load, m.Client, lake, "disk budget full, minio down: s3", began); errObjects > 0 {
		t.Errorf("the error output (errors/) holds %d objects; nothing failed for longer than the retry duration", errObjects)
	}
}

// metricValue reads an unlabelled metric from hydrant's /metrics.
func metricValue(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", name, v, err)
			}
			return f
		}
	}
	t.Fatalf("GET /metrics (%d): no %s", resp.StatusCode, name)
	return 0
}

// dirBytes returns what dir and everything under it occupy on disk: the
// allocated blocks of its files and directories.
func dirBytes(t *testing.T, dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil {
			n += seglog.DiskBytes(fi)
		}
		return nil
	})
	return n
}
