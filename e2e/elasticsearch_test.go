package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/e2e/opensearch"
	"github.com/hydrant-dev/hydrant/internal/await"
)

const searchConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: events
    shards: 2
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
deliveries:
  - name: events-search
    source: events
    buffer: {size: 1MiB, interval: 200ms}
    retry: {duration: 600s}
    destination:
      elasticsearch:
        flavor: opensearch
        endpoints: ["${SEARCH_URL}"]
        index: events
        index_rotation: day
        compression: gzip
        backup_mode: all
    backup:
      file: {dir: "{{DIR}}/backup"}
`

// Events indexed into a real OpenSearch by the real binary: a day-rotated
// index, 5 of 1,000 documents refused by the mapping and written to the
// error output with their reasons, every record in the backup, and a 20 s
// outage of the server that loses and doubles nothing.
func TestSearchDelivery(t *testing.T) {
	search := opensearch.Start(t)
	if code, _, body := search.Do(t, "PUT", "/_index_template/events",
		[]byte(`{"index_patterns":["events-*"],"template":{"mappings":{"properties":{"n":{"type":"long"}}}}}`),
		"Content-Type", "application/json"); code != http.StatusOK {
		t.Fatalf("index template: %d %s", code, body)
	}
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, searchConfig, "SEARCH_URL="+search.URL)

	put := func(from, to int, bad func(int) bool) {
		t.Helper()
		var body strings.Builder
		for n := from; n < to; n++ {
			if bad(n) {
				fmt.Fprintf(&body, "{\"n\":\"bad-%d\"}\n", n)
			} else {
				fmt.Fprintf(&body, "{\"n\":%d,\"msg\":\"event %d\"}\n", n, n)
			}
		}
		status, res, err := h.put("events", []byte(body.String()))
		if err != nil || status != http.StatusOK || res.FailedRecordCount != 0 {
			t.Fatalf("put: %d %+v %v", status, res, err)
		}
	}
	bad := func(n int) bool { return n%200 == 7 } // 7, 207, 407, 607, 807
	before := time.Now().UTC()
	for i := 0; i < 1000; i += 250 {
		put(i, i+250, bad)
	}
	after := time.Now().UTC()
	await.Cond(t, 60*time.Second, "995 documents indexed", func() bool { return search.Count(t, "events-*") >= 995 })

	// One index, named for the day the records arrived (UTC).
	_, _, body := search.Do(t, "GET", "/_cat/indices/events-*?h=index&format=json", nil)
	var indices []struct{ Index string }
	if err := json.Unmarshal(body, &indices); err != nil || len(indices) != 1 {
		t.Fatalf("indices: %s %v", body, err)
	}
	index := indices[0].Index
	if index != "events-"+before.Format("2006-01-02") && index != "events-"+after.Format("2006-01-02") {
		t.Errorf("index %q, want events-%s", index, before.Format("2006-01-02"))
	}

	// The 5 refused documents are in the error output, with index, id and reason.
	var failed []map[string]any
	await.Cond(t, 30*time.Second, "5 documents in the error output", func() bool {
		failed = errorDocuments(t, filepath.Join(dir, "backup", "errors", "elasticsearch-failed"))
		return len(failed) >= 5
	})
	if len(failed) != 5 {
		t.Fatalf("%d documents in the error output, want 5", len(failed))
	}
	for _, doc := range failed {
		raw, _ := base64.StdEncoding.DecodeString(doc["rawData"].(string))
		var rec struct{ N string }
		json.Unmarshal(raw, &rec)
		if !strings.HasPrefix(rec.N, "bad-") || doc["errorCode"] != "mapper_parsing_exception" || doc["esIndexName"] != index ||
			!strings.HasPrefix(doc["esDocumentId"].(string), "events-search-shardId-") ||
			!strings.Contains(doc["errorMessage"].(string), "failed to parse field [n] of type [long]") {
			t.Errorf("error document %v (raw %s)", doc, raw)
		}
	}
	if n := search.Count(t, "events-*"); n != 995 {
		t.Fatalf("%d documents indexed, want 995", n)
	}

	// The server goes away for 20 s while producers put; puts are still
	// acknowledged, and once it is back everything is indexed once.
	search.Stop(t)
	down := time.Now()
	for i := 1000; i < 1500; i += 100 {
		put(i, i+100, func(int) bool { return false })
	}
	await.Cond(t, 60*time.Second, "hydrant retrying against the stopped server for 20 s", func() bool {
		log, _ := os.ReadFile(h.logPath)
		return strings.Contains(string(log), "bulk items failed, retrying") && time.Since(down) >= 20*time.Second
	})
	search.Start(t)
	await.Cond(t, 120*time.Second, "documents put during the outage indexed", func() bool {
		return search.Count(t, "events-*") >= 1495
	})
	h.stop()
	if n := search.Count(t, "events-*"); n != 1495 {
		t.Fatalf("%d documents after the outage, want 1495 (each once)", n)
	}
	if failed := errorDocuments(t, filepath.Join(dir, "backup", "errors", "elasticsearch-failed")); len(failed) != 5 {
		t.Fatalf("%d documents in the error output after the outage, want still 5", len(failed))
	}

	// backup_mode all: every record, indexed or not, is in the backup.
	seen := map[string]bool{}
	for path, lines := range destinationtest.DeliveredLines(t, filepath.Join(dir, "backup")) {
		if strings.Contains(path, string(filepath.Separator)+"errors"+string(filepath.Separator)) {
			continue
		}
		for _, l := range lines {
			var rec struct{ N any }
			if err := json.Unmarshal([]byte(l), &rec); err != nil {
				t.Fatalf("backup line %q: %v", l, err)
			}
			seen[fmt.Sprint(rec.N)] = true
		}
	}
	for n := range 1500 {
		key := fmt.Sprint(n)
		if bad(n) && n < 1000 {
			key = fmt.Sprintf("bad-%d", n)
		}
		if !seen[key] {
			t.Fatalf("record %s is not in the backup", key)
		}
	}
	t.Logf("index %s: 1,495 documents, 5 in the error output, 1,500 in the backup", index)
}

// errorDocuments reads the Firehose error documents under dir.
func errorDocuments(t *testing.T, dir string) []map[string]any {
	var out []map[string]any
	for _, lines := range destinationtest.DeliveredLines(t, dir) {
		for _, l := range lines {
			var doc map[string]any
			if err := json.Unmarshal([]byte(l), &doc); err != nil {
				t.Fatalf("error document %q: %v", l, err)
			}
			out = append(out, doc)
		}
	}
	return out
}
