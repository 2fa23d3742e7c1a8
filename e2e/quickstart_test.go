package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/internal/await"
)

// The README's quickstart: hydrant on examples/quickstart.yaml, 1,000 NDJSON
// lines put with one request, 1,000 lines in files within the interval.
func TestQuickstart(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t)
	cfg, _ := filepath.Abs("../examples/quickstart.yaml")
	h := startHydrantConfig(t, dir, listen, cfg, "HYDRANT_LISTEN="+listen, "HYDRANT_DATA_DIR="+dir)
	var body strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&body, "{\"event\":\"click\",\"n\":%d}\n", i)
	}
	start := time.Now()
	status, res, err := h.put("quickstart", []byte(body.String()))
	if err != nil || status != http.StatusOK || res.FailedRecordCount != 0 || len(res.Records) != 1000 {
		t.Fatalf("put: %d %v, %d failed of %d", status, err, res.FailedRecordCount, len(res.Records))
	}
	out := filepath.Join(dir, "out", "events")
	// The quickstart's interval is 5s.
	await.Cond(t, 10*time.Second, "1,000 delivered lines", func() bool { return destinationtest.CountLines(destinationtest.DeliveredLines(t, out)) == 1000 })
	t.Logf("1,000 records delivered to files %v after the put", time.Since(start).Round(100*time.Millisecond))

	// hydrant streams lists the stream the quickstart puts to: the
	// DirectPut delivery's own, marked as such, with its 1,000 records.
	table, err := exec.Command(hydrantBinary(t), "streams", "-endpoint", "http://"+listen, "-interval", "10ms").Output()
	if err != nil {
		t.Fatalf("hydrant streams: %v", err)
	}
	var records int
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != "quickstart" || f[1] != "(DirectPut)" {
			continue
		}
		n, err := strconv.Atoi(f[5])
		if err != nil {
			t.Fatalf("hydrant streams: %q: %v", line, err)
		}
		records += n
	}
	if records != 1000 {
		t.Fatalf("hydrant streams shows %d records in the DirectPut stream quickstart, want 1,000:\n%s", records, table)
	}
	h.stop()
}
