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
	"github.com/hydrant-dev/hydrant/shards"
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
    partition_key_field: /id
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
	// Every record before was stored when its put was acknowledged, every
	// record after once this put is sent: the time between splits them.
	at := time.Now().UTC()
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
	// markers puts a record to each shard and waits until dir holds them:
	// each shard is read in order, so what dir holds then is all it gets
	// of what was put before.
	markers := func(name, dir string) []string {
		t.Helper()
		m := shards.NewShardMap(2)
		var ids []string
		for shard := range 2 {
			for i := 0; ; i++ {
				if id := fmt.Sprintf("%s-%d", name, i); m.Shard(shards.HashPartitionKey(id)) == shard {
					ids = append(ids, id)
					break
				}
			}
		}
		var body strings.Builder
		for _, id := range ids {
			fmt.Fprintf(&body, "{\"id\":%q}\n", id)
		}
		if status, res, err := h.put("events", []byte(body.String())); err != nil || status != 200 || res.FailedRecordCount != 0 {
			t.Fatalf("put: %d %+v %v", status, res, err)
		}
		await.Cond(t, 30*time.Second, "the markers "+name+" in "+filepath.Base(dir), func() bool {
			got := deliveredIDs(t, dir)
			return got[ids[0]] > 0 && got[ids[1]] > 0
		})
		return ids
	}
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
	mark1 := markers("mark1", filepath.Join(dir, "shadow"))
	after = append(after, mark1...)
	all = append(all, mark1...)
	await.Cond(t, 30*time.Second, "first to deliver the markers", func() bool { return len(idsIn(filepath.Join(dir, "first"))) == len(all) })
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
	mark2 := markers("mark2", filepath.Join(dir, "first")) // delivered once, under the replay's name
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
	if want := sorted(append(slices.Clone(after), mark2...)); !slices.Equal(replayed, want) {
		t.Fatalf("first replayed %d records into first.replay1-* objects, want exactly the %d put after %s", len(replayed), len(want), at)
	}
	if got, want := len(idsIn(filepath.Join(dir, "first"))), len(all)+len(after)+len(mark2); got != want {
		t.Fatalf("first holds %d records, want %d: everything once and the records since the timestamp again", got, want)
	}
	// New records go on under the replay's name.
	more := put("more", 20)
	await.Cond(t, 30*time.Second, "new records after the reset", func() bool {
		return len(idsIn(filepath.Join(dir, "first"))) == len(all)+len(after)+len(mark2)+len(more) &&
			len(idsIn(filepath.Join(dir, "shadow"))) == len(after)+len(mark2)+len(more)
	})
	code, stdout, _ = hydrantCLI(t, "deliveries", "list", "-endpoint="+h.url)
	if code != 0 || !strings.Contains(stdout, "first.replay1") || !strings.Contains(stdout, "shadow") {
		t.Fatalf("hydrant deliveries list: %d\n%s", code, stdout)
	}
	t.Logf("hydrant deliveries list:\n%s", stdout)
	h.stop()
}
