package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/internal/await"
)

const faultDiskFullConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: clicks
    shards: 2
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
deliveries:
  - name: clicks-archive
    source: clicks
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/out", prefix: "clicks/"}
`

// The disk under storage.data_dir (a 64 MiB tmpfs) is filled by another
// file while producers put: puts fail at once with 503 and Retry-After
// (not after a 30–40 s hang), /readyz answers 503; once the file is
// removed, the same process takes puts again and /readyz answers 200, and
// every acknowledged record is delivered. (Before: puts hung 30–40 s, then
// got 503 until a restart, and /readyz stayed 200.)
func TestFaultDiskFullRecovers(t *testing.T) {
	began := time.Now()
	dir, listen := t.TempDir(), freeAddr(t)
	data := mountTmpfs(t, filepath.Join(dir, "data"), 64<<20)
	h := startHydrant(t, dir, listen, faultDiskFullConfig)

	load := newFaultLoad(t, h.url, "clicks", "diskfull")
	load.perPut = 20
	load.start(2)
	await.Cond(t, 30*time.Second, "1,000 records acknowledged", func() bool { return load.ackedCount() >= 1000 })

	filler := fillFilesystem(t, data)
	load.phase.Store(1)
	await.Cond(t, 15*time.Second, "/readyz to answer 503 on a full disk", func() bool { return readyStatus(t, h.url) == http.StatusServiceUnavailable })
	for i := range 20 {
		start := time.Now()
		resp, err := http.Post(h.url+"/v1/streams/clicks/records", "application/x-ndjson", strings.NewReader(faultRecord(fmt.Sprintf("full-%d", i), int64(i))))
		if err != nil {
			t.Fatalf("put on a full disk: %v", err)
		}
		resp.Body.Close()
		took := time.Since(start)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || took > 2*time.Second {
			t.Fatalf("put on a full disk: %d (Retry-After %q) after %v, want 503 with Retry-After at once",
				resp.StatusCode, resp.Header.Get("Retry-After"), took)
		}
	}
	ackedFull := load.ackedCount()

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	load.phase.Store(2)
	await.Cond(t, 30*time.Second, "/readyz to answer 200 once the disk has room", func() bool { return readyStatus(t, h.url) == http.StatusOK })
	await.Cond(t, 30*time.Second, "500 records acknowledged after the disk was freed", func() bool {
		ok, _ := load.putStats()
		return ok[2]*load.perPut >= 500
	})
	select {
	case <-h.exited:
		t.Fatal("hydrant exited; it must recover without a restart")
	default:
	}
	load.stopAndWait()
	statuses := load.statusCounts()
	for status, n := range statuses {
		if status != http.StatusOK && status != http.StatusServiceUnavailable && status != http.StatusMultiStatus {
			t.Errorf("%d puts answered %d; on a full disk a put is stored (200), refused (503) or, as the disk fills, partly stored (207)", n, status)
		}
	}
	load.mu.Lock()
	slowest := load.slowest
	load.mu.Unlock()
	if slowest > 5*time.Second {
		t.Errorf("the slowest acknowledged put took %v", slowest)
	}

	acked := keys(load.ackedSnapshot())
	seen := map[string]int{}
	delivered := func(ids []string) []string {
		clear(seen)
		for _, lines := range destinationtest.DeliveredLines(t, filepath.Join(dir, "out", "clicks")) {
			for _, l := range lines {
				var r struct{ ID string }
				if err := json.Unmarshal([]byte(l), &r); err != nil {
					t.Fatalf("delivered line %q: %v", l, err)
				}
				seen[r.ID]++
			}
		}
		var missing []string
		for _, id := range ids {
			if seen[id] == 0 {
				missing = append(missing, id)
			}
		}
		return missing
	}
	waitFor(t, time.Minute, "every acknowledged record delivered", acked, delivered)
	h.stop()
	delivered(nil)
	row := faultRow{Scenario: "disk full, freed: file", Acknowledged: len(acked), Took: time.Since(began)}
	for _, id := range acked {
		switch n := seen[id]; {
		case n == 0:
			row.Lost++
		case n > 1:
			row.Duplicated++
			row.Delivered++
		default:
			row.Delivered++
		}
	}
	for _, id := range load.unackedIDs() {
		row.Unacked++
		if seen[id] > 0 {
			row.UnackedSeen++
		}
	}
	recordFault(row)
	if row.Lost > 0 || row.Duplicated > 0 {
		t.Errorf("%d acknowledged records lost, %d in more than one object", row.Lost, row.Duplicated)
	}
	t.Logf("%d records acknowledged (%d when the disk filled), all delivered; %d puts refused (503) while full; %d reopens of JetStream",
		len(acked), ackedFull, statuses[http.StatusServiceUnavailable], h.logCount("JetStream reopened"))
}

// mountTmpfs mounts a tmpfs of size bytes at dir, unmounted when the test
// ends (after hydrant is killed); it skips the test when not root, since
// only root may mount.
func mountTmpfs(t *testing.T, dir string, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (mount -t tmpfs); CI runs as root")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs on %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillFilesystem writes a file in dir until its filesystem is full, and
// returns the file's path.
func fillFilesystem(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			return path
		}
	}
}

// readyStatus returns the status of GET /readyz.
func readyStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
