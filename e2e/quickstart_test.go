package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
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
	h.stop()
}
