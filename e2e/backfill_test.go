package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/internal/await"
)

// A shadow delivery added by a reload with start: {at: timestamp} delivers
// exactly the records that arrived from that time on; hydrant deliveries
// reset then makes the first delivery deliver those records again, under
// objects named first.replay1-…, beside what it had delivered.
func TestBackfillAndReset(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t)
	base := fmt.Sprintf(`server:
  listen: %s
storage:
  data_dir: %s/data
streams:
  - name: events
    shards: 2
deliveries:
  - name: first
    source: events
    buffer: {size: 1MiB, interval: 200ms}
    destination:
      file: {dir: %s/first, compression: none}
`, listen, dir, dir)
	cfgPath := filepath.Join(dir, "hydrant.yaml")
	if err := os.WriteFile(cfgPath, []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	h := startHydrantConfig(t, dir, listen, cfgPath)
	put := func(prefix string, n int) []string {
		t.Helper()
		var ids []string
		for batch := 0; batch < n; batch += 50 {
			var body strings.Builder
			for i := batch; i < min(batch+50, n); i++ {
				id := fmt.Sprintf("%s-%04d", prefix, i)
				ids = append(ids, id)
				fmt.Fprintf(&body, "{\"id\":%q}\n", id)
			}
			status, res, err := h.put("events", []byte(body.String()))
			if err != nil || status != 200 || res.FailedRecordCount != 0 {
				t.Fatalf("put: %d %+v %v", status, res, err)
			}
		}
		return ids
	}
	before := put("before", 300)
	time.Sleep(300 * time.Millisecond)
	at := time.Now().UTC()
	time.Sleep(300 * time.Millisecond)
	after := put("after", 300)
	all := append(slices.Clone(before), after...)
	idsIn := func(dir string) []string {
		var out []string
		for id, n := range deliveredIDs(t, dir) {
			for range n {
				out = append(out, id)
			}
		}
		slices.Sort(out)
		return out
	}
	sorted := func(ids []string) []string { ids = slices.Clone(ids); slices.Sort(ids); return ids }
	await.Cond(t, 30*time.Second, "first to deliver everything", func() bool { return len(idsIn(filepath.Join(dir, "first"))) >= len(all) })
	if got := idsIn(filepath.Join(dir, "first")); !slices.Equal(got, sorted(all)) {
		t.Fatalf("first delivered %d records, want the %d put, once each", len(got), len(all))
	}

	// A shadow delivery from the timestamp, added by hydrant reload.
	shadow := base + fmt.Sprintf(`  - name: shadow
    source: events
    start: {at: timestamp, timestamp: %s}
    buffer: {size: 1MiB, interval: 200ms}
    destination:
      file: {dir: %s/shadow, compression: none}
`, at.Format(time.RFC3339Nano), dir)
	if err := os.WriteFile(cfgPath, []byte(shadow), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr := hydrantCLI(t, "reload", "-endpoint="+h.url); code != 0 {
		t.Fatalf("hydrant reload: %d %s%s", code, stdout, stderr)
	}
	await.Cond(t, 30*time.Second, "shadow to deliver the records since the timestamp", func() bool {
		return len(idsIn(filepath.Join(dir, "shadow"))) >= len(after)
	})
	time.Sleep(time.Second) // nothing more comes
	if got := idsIn(filepath.Join(dir, "shadow")); !slices.Equal(got, sorted(after)) {
		t.Fatalf("shadow delivered %d records (%v…), want exactly the %d put after %s", len(got), got[:min(3, len(got))], len(after), at)
	}

	// Reset first to the timestamp: it delivers the records since again.
	code, stdout, stderr := hydrantCLI(t, "deliveries", "reset", "-endpoint="+h.url, "-to", at.Format(time.RFC3339Nano), "first")
	if code != 0 || !strings.Contains(stdout, "first.replay1") {
		t.Fatalf("hydrant deliveries reset: %d %s%s", code, stdout, stderr)
	}
	t.Log(strings.TrimSpace(stdout))
	await.Cond(t, 30*time.Second, "first to deliver again since the timestamp", func() bool {
		return len(idsIn(filepath.Join(dir, "first"))) >= len(all)+len(after)
	})
	time.Sleep(time.Second)
	var replayed []string
	for path, lines := range destinationtest.DeliveredLines(t, filepath.Join(dir, "first")) {
		if strings.HasPrefix(filepath.Base(path), "first.replay1-") {
			for _, l := range lines {
				_, id, _ := strings.Cut(l, `"id":"`)
				id, _, _ = strings.Cut(id, `"`)
				replayed = append(replayed, id)
			}
		}
	}
	slices.Sort(replayed)
	if !slices.Equal(replayed, sorted(after)) {
		t.Fatalf("first replayed %d records into first.replay1-* objects, want exactly the %d put after %s", len(replayed), len(after), at)
	}
	if got := len(idsIn(filepath.Join(dir, "first"))); got != len(all)+len(after) {
		t.Fatalf("first holds %d records, want %d: everything once and the records since the timestamp again", got, len(all)+len(after))
	}
	// New records go on under the replay's name.
	more := put("more", 20)
	await.Cond(t, 30*time.Second, "new records after the reset", func() bool {
		return len(idsIn(filepath.Join(dir, "first"))) == len(all)+len(after)+len(more) &&
			len(idsIn(filepath.Join(dir, "shadow"))) == len(after)+len(more)
	})
	code, stdout, _ = hydrantCLI(t, "deliveries", "list", "-endpoint="+h.url)
	if code != 0 || !strings.Contains(stdout, "first.replay1") || !strings.Contains(stdout, "shadow") {
		t.Fatalf("hydrant deliveries list: %d\n%s", code, stdout)
	}
	t.Logf("hydrant deliveries list:\n%s", stdout)
	h.stop()
}
