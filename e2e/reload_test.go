package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/internal/await"
)

// reloadConfig is the config of TestReloadUnderLoad with its parts: the two
// deliveries that run throughout, and what each reload adds.
type reloadConfig struct {
	listen, dir    string
	shadow         bool   // the orders-shadow delivery
	keepInterval   string // orders-keep's buffer interval
	clicksLimits   string // clicks' shard_limits
	invalidSuffix  string // appended: makes the config invalid
	ordersPrefixes string
}

func (c reloadConfig) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, `server:
  listen: %s
storage:
  data_dir: %s/data
streams:
  - name: orders
    shards: 2
    shard_limits: {bytes_per_second: 64MiB, records_per_second: 100000}
  - name: clicks
    shards: 1
    shard_limits: %s
deliveries:
  - name: orders-keep
    source: orders
    buffer: {size: 1MiB, interval: %s}
    destination:
      file: {dir: %s/orders-keep, compression: none}
  - name: clicks-keep
    source: clicks
    buffer: {size: 1MiB, interval: 200ms}
    destination:
      file: {dir: %s/clicks-keep, compression: none}
`, c.listen, c.dir, c.clicksLimits, c.keepInterval, c.dir, c.dir)
	if c.shadow {
		fmt.Fprintf(&b, `  - name: orders-shadow
    source: orders
    start: {at: latest}
    buffer: {size: 1MiB, interval: 200ms}
    destination:
      file: {dir: %s/orders-shadow, compression: none}
`, c.dir)
	}
	b.WriteString(c.invalidSuffix)
	return b.String()
}

// producer puts batches of records with unique ids to one stream until
// stopped, and keeps what was acknowledged and what was refused.
type producer struct {
	stream string
	next   int

	mu        sync.Mutex
	acked     map[string]bool
	throttled int      // records refused by the quota (ProvisionedThroughputExceeded)
	refused   []string // anything else refused, or throttled before quotaOK
}

func (p *producer) run(t *testing.T, url string, stop <-chan struct{}, quotaOK *atomic.Bool, wg *sync.WaitGroup) {
	defer wg.Done()
	client := &http.Client{Timeout: 30 * time.Second}
	pace := time.NewTicker(5 * time.Millisecond) // a put every 5 ms at most
	defer pace.Stop()
	for {
		select {
		case <-stop:
			return
		case <-pace.C:
		}
		ids := make([]string, 20)
		var body strings.Builder
		for i := range ids {
			ids[i] = fmt.Sprintf("%s-%06d", p.stream, p.next)
			p.next++
			fmt.Fprintf(&body, "{\"id\":%q,\"pad\":\"%s\"}\n", ids[i], strings.Repeat("x", 64))
		}
		throttledOK := quotaOK.Load() // read before the put: a put under way when the quota changes may be throttled
		status, res, err := putRecords(client, url, p.stream, []byte(body.String()))
		p.mu.Lock()
		switch {
		case err != nil && status == 0:
			p.refused = append(p.refused, fmt.Sprintf("put to %s: %v", p.stream, err))
		case status == http.StatusOK || status == http.StatusMultiStatus || status == http.StatusTooManyRequests:
			if len(res.Records) != len(ids) {
				p.refused = append(p.refused, fmt.Sprintf("put to %s: %d answered %d records of %d", p.stream, status, len(res.Records), len(ids)))
				break
			}
			for i, r := range res.Records {
				switch {
				case r.ErrorCode == "":
					p.acked[ids[i]] = true
				case r.ErrorCode == "ProvisionedThroughputExceededException" && (throttledOK || quotaOK.Load()):
					p.throttled++
				default:
					p.refused = append(p.refused, fmt.Sprintf("put to %s: record %s refused: %s (quota changed: %v)", p.stream, ids[i], r.ErrorCode, quotaOK.Load()))
				}
			}
		default:
			p.refused = append(p.refused, fmt.Sprintf("put to %s: HTTP %d: %v", p.stream, status, err))
		}
		p.mu.Unlock()
	}
}

// lastAcked returns the number of the newest record acknowledged (-1:
// none) and how many were.
func (p *producer) lastAcked() (last, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	last = -1
	for id := range p.acked {
		_, num, _ := strings.Cut(id, "-")
		if v, err := strconv.Atoi(num); err == nil && v > last {
			last = v
		}
	}
	return last, len(p.acked)
}

// isAcked reports whether the record id was acknowledged.
func (p *producer) isAcked(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked[id]
}

// checkShadow checks that a delivery with start latest, added and then
// removed while p put, delivered exactly what was put in between, once
// each: acknowledged records, none stored before it was added (numbered up
// to before), all from after (put once it ran) to upTo (put before its
// removal) without a hole. (Around its add and its removal the batches
// put then may be delivered in part: a put's records on one shard stored
// before the delivery started, on the other after; read on one shard, not
// yet on the other when it drained.)
func checkShadow(t *testing.T, p *producer, got map[string]int, before, after, upTo int) {
	t.Helper()
	var nums []int
	for id, n := range got {
		_, num, _ := strings.Cut(id, "-")
		v, err := strconv.Atoi(num)
		switch {
		case err != nil || !p.isAcked(id):
			t.Errorf("orders-shadow delivered %s, which was never acknowledged", id)
		case n > 1:
			t.Errorf("orders-shadow delivered %s %d times", id, n)
		case v <= before:
			t.Errorf("orders-shadow delivered %s, stored before it was added (start latest)", id)
		}
		nums = append(nums, v)
	}
	if len(nums) == 0 {
		t.Fatal("orders-shadow delivered nothing")
	}
	lo, hi := slices.Min(nums), slices.Max(nums)
	if lo > after+1 || hi < upTo {
		t.Errorf("orders-shadow delivered orders-%06d..%06d, want from orders-%06d at most to orders-%06d at least", lo, hi, after+1, upTo)
	}
	missing := 0
	for v := after + 1; v <= upTo; v++ {
		if id := fmt.Sprintf("orders-%06d", v); p.isAcked(id) && got[id] == 0 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("orders-shadow missed %d acknowledged records between orders-%06d and orders-%06d", missing, after+1, upTo)
	}
	t.Logf("orders-shadow delivered orders-%06d..%06d (%d records): every acknowledged one put from orders-%06d (after its add) to orders-%06d (before its removal), none before its add",
		lo, hi, len(nums), after+1, upTo)
}

// objectTimes returns, in order, when the objects under dir whose name
// holds shard were written, from since on.
func objectTimes(t *testing.T, dir, shard string, since time.Time) []time.Time {
	t.Helper()
	var out []time.Time
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(d.Name(), shard) || strings.HasPrefix(d.Name(), ".tmp") {
			return nil
		}
		if info, err := d.Info(); err == nil && !info.ModTime().Before(since) {
			out = append(out, info.ModTime())
		}
		return nil
	})
	slices.SortFunc(out, time.Time.Compare)
	return out
}

// deliveredIDs returns how many times each id was delivered under dir.
func deliveredIDs(t *testing.T, dir string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, lines := range destinationtest.DeliveredLines(t, dir) {
		for _, l := range lines {
			var r struct{ ID string }
			if json.Unmarshal([]byte(l), &r) == nil && r.ID != "" {
				out[r.ID]++
			}
		}
	}
	return out
}

// hydrantCLI runs the hydrant binary with args and returns its exit code,
// stdout and stderr.
func hydrantCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(hydrantBinary(t), args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("hydrant %v: %v", args, err)
	}
	return code, stdout.String(), stderr.String()
}

// Five reloads while two producers put continuously to two streams — a
// delivery added (SIGHUP), a buffer changed (hydrant reload), a delivery
// removed (SIGHUP), an invalid config (hydrant reload and POST /v1/reload:
// refused with exactly hydrant validate's report), a quota lowered
// (hydrant reload): no put is refused but by the lowered quota, after it,
// and every acknowledged record is delivered by the two deliveries that
// run throughout.
func TestReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	cfg := reloadConfig{listen: freeAddr(t), dir: dir, keepInterval: "200ms",
		clicksLimits: "{bytes_per_second: 64MiB, records_per_second: 100000}"}
	cfgPath := filepath.Join(dir, "hydrant.yaml")
	write := func() {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write()
	h := startHydrantConfig(t, dir, cfg.listen, cfgPath)
	endpoint := "-endpoint=" + h.url

	var quotaOK atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	producers := []*producer{{stream: "orders", acked: map[string]bool{}}, {stream: "clicks", acked: map[string]bool{}}}
	for _, p := range producers {
		wg.Add(1)
		go p.run(t, h.url, stop, &quotaOK, &wg)
	}
	stopped := false
	stopProducers := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopProducers()

	applied := func() float64 { return metricValue(t, h.url, `hydrant_config_reloads_total{result="applied"}`) }
	sighup := func(what string) {
		t.Helper()
		before := applied()
		h.cmd.Process.Signal(syscall.SIGHUP)
		await.Cond(t, 30*time.Second, "SIGHUP reload applied: "+what, func() bool { return applied() == before+1 })
	}
	reloadCLI := func(what string) {
		t.Helper()
		code, stdout, stderr := hydrantCLI(t, "reload", endpoint)
		if code != 0 || !strings.Contains(stdout, "reload: applied") {
			t.Fatalf("hydrant reload (%s): exit %d\n%s%s", what, code, stdout, stderr)
		}
		t.Logf("hydrant reload (%s):\n%s", what, stdout)
	}
	// progress waits until each producer has had n more records
	// acknowledged: the producers put throughout each step.
	progress := func(what string, n int) {
		t.Helper()
		var from []int
		for _, p := range producers {
			_, acked := p.lastAcked()
			from = append(from, acked)
		}
		await.Cond(t, 30*time.Second, fmt.Sprintf("%d more records acknowledged (%s)", n, what), func() bool {
			for i, p := range producers {
				if _, acked := p.lastAcked(); acked < from[i]+n {
					return false
				}
			}
			return true
		})
	}
	progress("before the reloads", 200)

	// 1. Add a delivery (SIGHUP).
	putBeforeAdd, _ := producers[0].lastAcked() // stored before the delivery started
	cfg.shadow = true
	write()
	sighup("add orders-shadow")
	shadowDir := filepath.Join(dir, "orders-shadow")
	await.Cond(t, 30*time.Second, "orders-shadow to deliver", func() bool { return len(deliveredIDs(t, shadowDir)) > 0 })
	// The next batch may have been sent before; every later one after the
	// delivery started.
	putAfterAdd, _ := producers[0].lastAcked()
	putAfterAdd += 20
	progress("orders-shadow added", 100)

	// 2. Change a buffer (hydrant reload): orders-keep's objects come a
	// second apart from then on.
	cfg.keepInterval = "1s"
	write()
	changed := time.Now()
	reloadCLI("orders-keep buffer interval 1s")
	var flushes []time.Time
	await.Cond(t, 30*time.Second, "orders-keep to flush 4 times after the change", func() bool {
		flushes = objectTimes(t, filepath.Join(dir, "orders-keep"), "shardId-000000000000", changed)
		return len(flushes) >= 4
	})
	for i := 2; i < len(flushes); i++ { // the first is the old pipeline's drain
		if gap := flushes[i].Sub(flushes[i-1]); gap < 700*time.Millisecond {
			t.Errorf("orders-keep flushed %v after the one before with a 1 s buffer interval", gap)
		}
	}

	// 3. Remove a delivery (SIGHUP), once it has delivered what was put
	// so far.
	putBeforeRemove, _ := producers[0].lastAcked()
	await.Cond(t, 30*time.Second, "orders-shadow to catch up", func() bool {
		got := deliveredIDs(t, shadowDir)
		for v := putAfterAdd + 1; v <= putBeforeRemove; v++ {
			if id := fmt.Sprintf("orders-%06d", v); producers[0].isAcked(id) && got[id] == 0 {
				return false
			}
		}
		return true
	})
	cfg.shadow = false
	write()
	sighup("remove orders-shadow")
	checkShadow(t, producers[0], deliveredIDs(t, shadowDir), putBeforeAdd, putAfterAdd, putBeforeRemove)
	progress("orders-shadow removed", 100)

	// 4. An invalid config: refused whole, with hydrant validate's report.
	cfg.invalidSuffix = "  - name: broken\n    source: no-such-stream\n    buffer: {size: 1KiB}\n    destination:\n      file: {dir: /tmp}\n"
	write()
	vcode, _, report := hydrantCLI(t, "validate", "-c", cfgPath)
	if vcode != 2 || report == "" {
		t.Fatalf("hydrant validate of the invalid config: exit %d, %q", vcode, report)
	}
	code, stdout, stderr := hydrantCLI(t, "reload", endpoint)
	if code != 2 || stderr != report {
		t.Fatalf("hydrant reload of an invalid config: exit %d, stdout %q, stderr:\n%s\nwant exit 2 and hydrant validate's report:\n%s", code, stdout, stderr, report)
	}
	resp, err := http.Post(h.url+"/v1/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || string(body) != report {
		t.Fatalf("POST /v1/reload of an invalid config: %d\n%s\nwant 400 and:\n%s", resp.StatusCode, body, report)
	}
	t.Logf("invalid config refused with:\n%s", report)
	cfg.invalidSuffix = ""
	progress("invalid config refused", 100)

	// 5. Lower a quota (hydrant reload): from now on puts to clicks may be
	// throttled.
	quotaOK.Store(true)
	cfg.clicksLimits = "{bytes_per_second: 64KiB, records_per_second: 200}"
	write()
	reloadCLI("clicks shard_limits lowered")
	await.Cond(t, 30*time.Second, "clicks to be throttled", func() bool {
		producers[1].mu.Lock()
		defer producers[1].mu.Unlock()
		return producers[1].throttled > 0
	})
	progress("quota lowered", 100)
	stopProducers()

	if got := metricValue(t, h.url, `hydrant_config_reloads_total{result="invalid"}`); got != 2 {
		t.Errorf("invalid reloads counted: %v, want 2", got)
	}
	for _, p := range producers {
		if len(p.refused) > 0 {
			t.Errorf("%s: %d puts refused not by the quota, e.g. %v", p.stream, len(p.refused), p.refused[:min(5, len(p.refused))])
		}
	}
	if producers[1].throttled == 0 {
		t.Errorf("clicks: no put throttled after its quota was lowered to 200 records/s")
	}
	for _, p := range producers {
		dest := filepath.Join(dir, p.stream+"-keep")
		var got map[string]int
		await.Cond(t, 60*time.Second, p.stream+"-keep to deliver every acknowledged record", func() bool {
			got = deliveredIDs(t, dest)
			for id := range p.acked {
				if got[id] == 0 {
					return false
				}
			}
			return true
		})
		dups := 0
		for id, n := range got {
			if n > 1 {
				dups++
			}
			if !p.acked[id] {
				t.Errorf("%s: delivered %s, which was never acknowledged", dest, id)
				break
			}
		}
		t.Logf("%s: %d records acknowledged, each delivered (%d more than once), %d throttled after the quota change",
			p.stream, len(p.acked), dups, p.throttled)
		if dups > 0 {
			t.Errorf("%s: %d records delivered more than once across the reloads", dest, dups)
		}
	}
	h.stop()
}
