package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/internal/testnet"
	"github.com/hydrant-dev/hydrant/pipeline"
)

// reloadEnv is an in-process server started from a config file that the
// test rewrites.
type reloadEnv struct {
	dir, path, base string
}

func (e *reloadEnv) write(t *testing.T, body string) {
	t.Helper()
	head := fmt.Sprintf("server:\n  listen: %s\nstorage:\n  data_dir: %s\n", strings.TrimPrefix(e.base, "http://"), filepath.Join(e.dir, "data"))
	body = strings.ReplaceAll(body, "OUT", e.dir)
	if err := os.WriteFile(e.path, []byte(head+body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func startReloadable(t *testing.T, body string) *reloadEnv {
	t.Helper()
	dir := t.TempDir()
	e := &reloadEnv{dir: dir, path: filepath.Join(dir, "hydrant.yaml"), base: fmt.Sprintf("http://127.0.0.1:%d", testnet.FreePort(t))}
	e.write(t, body)
	regs := newRegistries()
	cfg, err := loadConfig(e.path, regs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- serveWith(ctx, cfg, regs, slog.New(slog.DiscardHandler), serveOptions{configPath: e.path})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not return within 30 s of the shutdown")
		}
	})
	await.Cond(t, 30*time.Second, "hydrant ready", func() bool {
		resp, err := http.Get(e.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return e
}

func (e *reloadEnv) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(e.base+path, "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *reloadEnv) reload(t *testing.T) (int, reloadResult, string) {
	t.Helper()
	status, body := e.post(t, "/v1/reload", "")
	var r reloadResult
	json.Unmarshal([]byte(body), &r)
	return status, r, body
}

func (e *reloadEnv) delivered(t *testing.T, sub string) int {
	t.Helper()
	return destinationtest.CountLines(destinationtest.DeliveredLines(t, filepath.Join(e.dir, sub)))
}

const reloadBase = `streams:
  - name: events
    shards: 2
deliveries:
  - name: keep
    source: events
    buffer: {size: 1MiB, interval: 100ms}
    destination:
      file: {dir: OUT/keep, compression: none}
`

func TestReloadAppliesAndRefuses(t *testing.T) {
	e := startReloadable(t, reloadBase)
	if s, b := e.post(t, "/v1/streams/events/records", "{\"n\":1}\n{\"n\":2}\n"); s != http.StatusOK {
		t.Fatalf("put: %d %s", s, b)
	}
	// Add a delivery (from the trim horizon) and a stream.
	e.write(t, reloadBase+`  - name: added
    source: events
    buffer: {size: 1MiB, interval: 100ms}
    destination:
      file: {dir: OUT/added, compression: none}
`+"  - name: direct\n    buffer: {size: 1MiB, interval: 100ms}\n    destination:\n      file: {dir: OUT/direct, compression: none}\n")
	status, r, body := e.reload(t)
	if status != http.StatusOK || r.Result != reloadApplied {
		t.Fatalf("reload: %d %s", status, body)
	}
	await.Cond(t, 10*time.Second, "the added delivery to deliver what was kept", func() bool { return e.delivered(t, "added") == 2 })
	if s, b := e.post(t, "/v1/streams/direct/records", "{\"n\":3}\n"); s != http.StatusOK {
		t.Fatalf("put to the added DirectPut delivery: %d %s", s, b)
	}
	await.Cond(t, 10*time.Second, "the DirectPut delivery to deliver", func() bool { return e.delivered(t, "direct") == 1 })

	// An invalid config: refused whole with hydrant validate's report.
	e.write(t, reloadBase+"  - name: bad\n    source: nope\n    destination:\n      file: {dir: OUT/bad}\n")
	status, _, body = e.reload(t)
	var stdout, stderr strings.Builder
	if code := run([]string{"validate", "-c", e.path}, &stdout, &stderr); code != 2 {
		t.Fatalf("validate exited %d", code)
	}
	if status != http.StatusBadRequest || body != stderr.String() {
		t.Fatalf("invalid reload: %d\n%s\nwant 400 and hydrant validate's report:\n%s", status, body, stderr.String())
	}
	// The running config stays: the added delivery still delivers.
	e.post(t, "/v1/streams/events/records", "{\"n\":4}\n")
	await.Cond(t, 10*time.Second, "the added delivery to go on", func() bool { return e.delivered(t, "added") == 3 })

	// A change that needs a restart is refused whole.
	e.write(t, strings.Replace(reloadBase, "streams:", "metrics: {public: true}\nstreams:", 1))
	status, _, body = e.reload(t)
	if status != http.StatusConflict || !strings.Contains(body, "metrics.public") {
		t.Fatalf("reload with metrics changed: %d %s, want 409 naming metrics.public", status, body)
	}

	// Remove the delivery and the DirectPut one; lower a quota.
	e.write(t, strings.Replace(reloadBase, "    shards: 2\n", "    shards: 2\n    shard_limits: {bytes_per_second: 1KiB, records_per_second: 1}\n", 1))
	status, r, body = e.reload(t)
	if status != http.StatusOK || r.Result != reloadApplied {
		t.Fatalf("reload: %d %s", status, body)
	}
	if s, _ := e.post(t, "/v1/streams/direct/records", "{\"n\":5}\n"); s != http.StatusNotFound {
		t.Fatalf("put to a removed DirectPut delivery: %d, want 404", s)
	}
	throttled := false
	for i := 0; i < 20 && !throttled; i++ {
		s, _ := e.post(t, "/v1/streams/events/records", "{\"n\":6}\n{\"n\":7}\n{\"n\":8}\n")
		throttled = s == http.StatusTooManyRequests || s == http.StatusMultiStatus // some throttled
		if s != http.StatusOK && !throttled {
			t.Fatalf("put after the quota change: %d", s)
		}
	}
	if !throttled {
		t.Fatal("the lowered quota never throttled")
	}
	m := scrape(t, e.base)
	if m[`hydrant_config_reloads_total{result="applied"}`] != 2 || m[`hydrant_config_reloads_total{result="invalid"}`] != 1 ||
		m[`hydrant_config_reloads_total{result="refused"}`] != 1 {
		t.Fatalf("reload counters: applied %v invalid %v refused %v", m[`hydrant_config_reloads_total{result="applied"}`],
			m[`hydrant_config_reloads_total{result="invalid"}`], m[`hydrant_config_reloads_total{result="refused"}`])
	}
}

func TestDeliveriesResetReplays(t *testing.T) {
	e := startReloadable(t, reloadBase)
	e.post(t, "/v1/streams/events/records", "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n")
	await.Cond(t, 10*time.Second, "first delivery", func() bool { return e.delivered(t, "keep") == 3 })
	if s, b := e.post(t, "/v1/deliveries/nope/reset?to=trim_horizon", ""); s != http.StatusNotFound {
		t.Fatalf("reset of an unknown delivery: %d %s", s, b)
	}
	if s, b := e.post(t, "/v1/deliveries/keep/reset?to=yesterday", ""); s != http.StatusBadRequest {
		t.Fatalf("reset to a bad time: %d %s", s, b)
	}
	var stdout, stderr strings.Builder
	if code := run([]string{"deliveries", "reset", "-endpoint", e.base, "-to", "1h", "keep"}, &stdout, &stderr); code != 0 {
		t.Fatalf("deliveries reset exited %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "keep.replay1") {
		t.Fatalf("deliveries reset said %q", stdout.String())
	}
	await.Cond(t, 10*time.Second, "the replay", func() bool { return e.delivered(t, "keep") == 6 })
	var replayed []string
	filepath.WalkDir(filepath.Join(e.dir, "keep"), func(p string, _ os.DirEntry, _ error) error {
		if strings.HasPrefix(filepath.Base(p), "keep.replay1-") {
			replayed = append(replayed, p)
		}
		return nil
	})
	if len(replayed) == 0 {
		t.Fatal("no object named after the replay")
	}
	stdout.Reset()
	if code := run([]string{"deliveries", "list", "-endpoint", e.base}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "keep.replay1") {
		t.Fatalf("deliveries list exited %d: %s %s", code, stdout.String(), stderr.String())
	}
}

// Reload and reset change the server: an API key needs admin.
func TestReloadNeedsAdmin(t *testing.T) {
	dir := t.TempDir()
	e := &reloadEnv{dir: dir, path: filepath.Join(dir, "hydrant.yaml"), base: fmt.Sprintf("http://127.0.0.1:%d", testnet.FreePort(t))}
	cfgText := fmt.Sprintf(`server:
  listen: %s
  auth:
    api_keys:
      - {key: "read-key-0123456789abcdef", streams: ["*"], actions: [read]}
      - {key: "admin-key-0123456789abcdef", streams: ["*"], actions: [admin]}
storage:
  data_dir: %s
`, strings.TrimPrefix(e.base, "http://"), filepath.Join(dir, "data")) + strings.ReplaceAll(reloadBase, "OUT", dir)
	if err := os.WriteFile(e.path, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	regs := newRegistries()
	cfg, err := loadConfig(e.path, regs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- serveWith(ctx, cfg, regs, slog.New(slog.DiscardHandler), serveOptions{configPath: e.path})
	}()
	defer func() { cancel(); <-served }()
	await.Cond(t, 30*time.Second, "hydrant ready", func() bool {
		resp, err := http.Get(e.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	call := func(method, path, key string) int {
		req, _ := http.NewRequest(method, e.base+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		method, path, key string
		want              int
	}{
		{"POST", "/v1/reload", "", http.StatusUnauthorized},
		{"POST", "/v1/reload", "read-key-0123456789abcdef", http.StatusForbidden},
		{"POST", "/v1/reload", "admin-key-0123456789abcdef", http.StatusOK},
		{"POST", "/v1/deliveries/keep/reset?to=latest", "read-key-0123456789abcdef", http.StatusForbidden},
		{"POST", "/v1/deliveries/keep/reset?to=latest", "admin-key-0123456789abcdef", http.StatusOK},
		{"GET", "/v1/deliveries", "read-key-0123456789abcdef", http.StatusOK},
	} {
		if got := call(c.method, c.path, c.key); got != c.want {
			t.Errorf("%s %s with %q: %d, want %d", c.method, c.path, c.key, got, c.want)
		}
	}
}

// In a cluster a reset is refused, with the reason.
func TestResetRefusedInACluster(t *testing.T) {
	l := &live{cluster: true}
	_, status, err := l.reset(context.Background(), "d", parseMust(t, "15m"), -1)
	if status != http.StatusConflict || err == nil || !strings.Contains(err.Error(), "cluster") {
		t.Fatalf("reset in a cluster: %d %v", status, err)
	}
}

func parseMust(t *testing.T, s string) pipeline.StartPosition {
	t.Helper()
	p, err := parseResetTime(s, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// receiver is an HTTP endpoint destination's receiver: it counts the
// records it takes.
func receiver(t *testing.T) (url string, records *atomic.Int64) {
	t.Helper()
	records = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			RequestID string            `json:"requestId"`
			Records   []json.RawMessage `json:"records"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		records.Add(int64(len(req.Records)))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"requestId":%q,"timestamp":%d}`, req.RequestID, time.Now().UnixMilli())
	}))
	t.Cleanup(srv.Close)
	return srv.URL, records
}

// breakLedger makes the HTTP endpoint destination of delivery fail to
// build (its ledger's directory is a file) until the returned func mends it.
func (e *reloadEnv) breakLedger(t *testing.T, delivery string) (mend func()) {
	t.Helper()
	dir := filepath.Join(e.dir, "data", "httpendpoint", delivery)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
	}
}

// A delivery that cannot be started again — after a change that failed,
// or after a reset — is reported stopped, and the next reload starts it,
// also when the config is back as it was (which changes nothing else).
func TestReloadStartsAStoppedDelivery(t *testing.T) {
	url, received := receiver(t)
	hook := func(interval string) string {
		return "streams:\n  - name: events\n    shards: 1\ndeliveries:\n  - name: hook\n    source: events\n" +
			"    buffer: {size: 1MiB, interval: " + interval + "}\n    destination:\n      http: {url: \"" + url + "\"}\n"
	}
	e := startReloadable(t, hook("100ms"))
	put := func(n int64) {
		t.Helper()
		if s, b := e.post(t, "/v1/streams/events/records", "{\"n\":1}\n"); s != http.StatusOK {
			t.Fatalf("put: %d %s", s, b)
		}
		await.Cond(t, 10*time.Second, fmt.Sprintf("%d records received", n), func() bool { return received.Load() == n })
	}
	put(1)
	for _, c := range []struct {
		name string
		stop func() (int, string) // stops the delivery, failing to start it again
	}{
		{"a change that fails to start, as it was neither", func() (int, string) {
			e.write(t, hook("200ms"))
			status, _, body := e.reload(t)
			e.write(t, hook("100ms")) // back as it was
			return status, body
		}},
		{"a reset", func() (int, string) { return e.post(t, "/v1/deliveries/hook/reset?to=latest", "") }},
	} {
		mend := e.breakLedger(t, "hook")
		status, body := c.stop()
		if status != http.StatusInternalServerError || !strings.Contains(body, "delivery hook is stopped") {
			t.Fatalf("%s: %d %s, want 500 saying the delivery is stopped", c.name, status, body)
		}
		mend()
		status, r, body := e.reload(t)
		if status != http.StatusOK || !slices.Contains(r.Changes, "delivery hook: started again (it was stopped)") {
			t.Fatalf("reload after %s: %d %s, want the delivery started again", c.name, status, body)
		}
		put(received.Load() + 1)
	}
}

// A DirectPut delivery takes puts only while it runs: not when it fails
// to start, and not once it is removed.
func TestReloadDirectPutTakesPutsOnlyWhileItRuns(t *testing.T) {
	url, received := receiver(t)
	e := startReloadable(t, reloadBase)
	withDirect := reloadBase + "  - name: direct\n    buffer: {size: 1MiB, interval: 100ms}\n    destination:\n      http: {url: \"" + url + "\"}\n"
	mend := e.breakLedger(t, "direct")
	e.write(t, withDirect)
	if status, r, body := e.reload(t); status != http.StatusInternalServerError || r.Result != reloadFailed {
		t.Fatalf("reload adding a DirectPut delivery that cannot start: %d %s", status, body)
	}
	if s, b := e.post(t, "/v1/streams/direct/records", "{\"n\":1}\n"); s != http.StatusNotFound {
		t.Fatalf("put to a DirectPut delivery that did not start: %d %s, want 404", s, b)
	}
	mend()
	if status, r, body := e.reload(t); status != http.StatusOK || !slices.Contains(r.Changes, "delivery direct: added (start trim_horizon)") {
		t.Fatalf("reload: %d %s", status, body)
	}
	if s, b := e.post(t, "/v1/streams/direct/records", "{\"n\":2}\n"); s != http.StatusOK {
		t.Fatalf("put to the DirectPut delivery: %d %s", s, b)
	}
	await.Cond(t, 10*time.Second, "the put delivered", func() bool { return received.Load() == 1 })
	e.write(t, reloadBase)
	if status, _, body := e.reload(t); status != http.StatusOK {
		t.Fatalf("reload removing the DirectPut delivery: %d %s", status, body)
	}
	if s, b := e.post(t, "/v1/streams/direct/records", "{\"n\":3}\n"); s != http.StatusNotFound {
		t.Fatalf("put to a removed DirectPut delivery: %d %s, want 404", s, b)
	}
}

// A start changed on a delivery that ran applies to nothing, and the
// reload says so; the delivery is not replaced.
func TestReloadKeepsTheFirstStart(t *testing.T) {
	e := startReloadable(t, reloadBase)
	e.post(t, "/v1/streams/events/records", "{\"n\":1}\n")
	await.Cond(t, 10*time.Second, "first delivery", func() bool { return e.delivered(t, "keep") == 1 })
	e.write(t, strings.Replace(reloadBase, "    source: events\n", "    source: events\n    start: {at: latest}\n", 1))
	status, r, body := e.reload(t)
	if status != http.StatusOK || len(r.Changes) != 1 || !strings.HasPrefix(r.Changes[0], "delivery keep: start not applied") ||
		!strings.Contains(r.Changes[0], "(trim_horizon)") {
		t.Fatalf("reload with start changed: %d %s", status, body)
	}
	var stdout, stderr strings.Builder
	if code := run([]string{"deliveries", "list", "-endpoint", e.base}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "trim_horizon") {
		t.Fatalf("deliveries list exited %d: %s %s, want the pinned start", code, stdout.String(), stderr.String())
	}
}

// With auth off a web page could post to the admin endpoints: a
// cross-origin browser request is refused, the CLI's (no Origin, no
// Sec-Fetch-Site) and a same-origin one (the console's) are not.
func TestAdminRefusesCrossOrigin(t *testing.T) {
	e := startReloadable(t, reloadBase)
	for _, c := range []struct {
		name, path, site, origin string
		refused                  bool // 403
	}{
		{"reload, cross-site", "/v1/reload", "cross-site", "", true},
		{"reload, another origin", "/v1/reload", "", "https://evil.example", true},
		{"reload, same origin", "/v1/reload", "same-origin", "", false},
		{"reload, CLI", "/v1/reload", "", "", false},
		{"reset, cross-site", "/v1/deliveries/keep/reset?to=latest", "cross-site", "", true},
		{"reset, CLI", "/v1/deliveries/keep/reset?to=latest", "", "", false},
		{"redrive, cross-site", "/v1/deliveries/keep/redrive", "cross-site", "", true},
		{"redrive, same origin (the console)", "/v1/deliveries/keep/redrive", "same-origin", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.base+c.path, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			if c.site != "" {
				req.Header.Set("Sec-Fetch-Site", c.site)
			}
			if c.origin != "" {
				req.Header.Set("Origin", c.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if refused := resp.StatusCode == http.StatusForbidden; refused != c.refused || resp.StatusCode >= 500 {
				t.Fatalf("%d %s, want refused %v", resp.StatusCode, body, c.refused)
			}
		})
	}
	var stdout, stderr strings.Builder
	if code := run([]string{"reload", "-endpoint", e.base}, &stdout, &stderr); code != 0 {
		t.Fatalf("hydrant reload exited %d: %s%s", code, stdout.String(), stderr.String())
	}
}
