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
)

const faultStreamBudgetConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data", disk_budget: 8MiB}
streams:
  - name: audit                 # nobody delivers it; its own part is set
    retention: 168h
    disk_budget: 2MiB
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
  - name: logs                  # nobody delivers it; its part is its fair share (8 MiB / 3 streams)
    retention: 168h
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
  - name: clicks
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
deliveries:
  - name: clicks-archive
    source: clicks
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/out", prefix: "clicks/"}
`

// Streams nobody delivers, with a week's retention, fill only their own
// part of storage.disk_budget (8 MiB): audit its disk_budget (2 MiB), logs
// its fair share (a third, once the log holds half the budget); then their
// puts are throttled (429 with Retry-After,
// ProvisionedThroughputExceededException) while clicks, a delivered
// stream, goes on taking puts, and every one it acknowledged is delivered.
// (Before: logs filled the whole budget and every stream got 429.)
func TestFaultStreamDiskBudget(t *testing.T) {
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, faultStreamBudgetConfig)
	pad := strings.Repeat("z", 4<<10)
	body := func(stream string, put int) []byte {
		var b strings.Builder
		for i := range 100 {
			p := pad
			if stream == "clicks" {
				p = p[:100]
			}
			fmt.Fprintf(&b, "{\"id\":\"%s-%d-%d\",\"pad\":%q}\n", stream, put, i, p)
		}
		return []byte(b.String())
	}

	parts := []struct {
		stream string
		part   int // bytes of its own budget
	}{
		{"audit", 2 << 20},
		{"logs", (8 << 20) / 3},
	}
	storedBy := map[string]int{} // bytes of records taken, by stream
	for _, fill := range parts {
		stored := 0
		for put := 0; ; put++ {
			if stored > 2*fill.part {
				t.Fatalf("%s took %d bytes of records, its part is %d", fill.stream, stored, fill.part)
			}
			resp, err := http.Post(h.url+"/v1/streams/"+fill.stream+"/records", "application/x-ndjson", strings.NewReader(string(body(fill.stream, put))))
			if err != nil {
				t.Fatal(err)
			}
			var res putResult
			json.NewDecoder(resp.Body).Decode(&res)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				stored += 100 * len(pad)
				continue
			}
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
				len(res.Records) == 0 || res.Records[0].ErrorCode != "ProvisionedThroughputExceededException" {
				t.Fatalf("%s at its part: %d (Retry-After %q) %+v, want 429 with Retry-After and ProvisionedThroughputExceededException",
					fill.stream, resp.StatusCode, resp.Header.Get("Retry-After"), res)
			}
			break
		}
		// Its part bounds what its records occupy on disk, so their bytes
		// stay below it. (Before, the budget was checked before a put and
		// the put counted once stored: audit took 2,457,600 bytes of
		// records, 17% over its 2 MiB.)
		if stored < fill.part/2 || stored > fill.part {
			t.Fatalf("%s throttled after %d bytes of records, its part is %d", fill.stream, stored, fill.part)
		}
		t.Logf("%s throttled after %d bytes of records (its part: %d)", fill.stream, stored, fill.part)
		storedBy[fill.stream] = stored
	}

	acked := map[string]bool{}
	for put := range 20 {
		status, res, err := h.put("clicks", body("clicks", put))
		if err != nil || status != http.StatusOK {
			t.Fatalf("put %d to clicks while audit and logs are at their parts: %d %v %+v", put, status, err, res)
		}
		for i := range 100 {
			acked[fmt.Sprintf("clicks-%d-%d", put, i)] = true
		}
	}
	waitFor(t, time.Minute, "every acknowledged clicks record delivered", keys(acked), func(ids []string) []string {
		seen := map[string]bool{}
		for _, lines := range destinationtest.DeliveredLines(t, filepath.Join(dir, "out", "clicks")) {
			for _, l := range lines {
				var r struct{ ID string }
				if err := json.Unmarshal([]byte(l), &r); err != nil {
					t.Fatalf("delivered line %q: %v", l, err)
				}
				seen[r.ID] = true
			}
		}
		var missing []string
		for _, id := range ids {
			if !seen[id] {
				missing = append(missing, id)
			}
		}
		return missing
	})
	// Still at their parts: refused. A stream stops about a put short of
	// its part, so once the disk is read again one more put may fit.
	for _, fill := range parts {
		for put := 0; ; put++ {
			status, _, _ := h.put(fill.stream, body(fill.stream, -1-put))
			if status == http.StatusTooManyRequests {
				break
			}
			if storedBy[fill.stream] += 100 * len(pad); put > 1 || status != http.StatusOK || storedBy[fill.stream] > fill.part {
				t.Fatalf("%s, at its part with %d bytes of records, answered %d, want 429", fill.stream, storedBy[fill.stream], status)
			}
		}
	}
}
