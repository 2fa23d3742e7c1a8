package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium (make chromium installs it).
const chromiumPath = "/usr/bin/chromium"

const consoleKey = "console-key-0123456789"

const consoleConfig = `
server:
  listen: "{{LISTEN}}"
  auth:
    api_keys:
      - {key: "` + consoleKey + `", streams: ["*"], actions: [put, read, admin]}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: clicks
    shards: 2
    shard_limits: {records_per_second: 150}
deliveries:
  - name: clicks-to-files
    source: clicks
    transforms:
      - {type: jq, query: '{user, page}'}
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/out"}
`

// The web console in a real browser (Debian's headless Chromium) against
// the real binary under load: producers put faster than the stream's quota
// (some puts are throttled) and some records are not JSON (the delivery's
// jq transform fails them to processing-failed). The test signs in with an
// API key through the login form and checks what a person sees: the stream
// list, a chart with non-zero points, a delivery's lag, a failed record's
// reason, the redrive button's result. Screenshots of the pages are written
// to $HYDRANT_ARTIFACTS (else a temporary directory).
func TestConsole(t *testing.T) {
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, consoleConfig, "HYDRANT_CONSOLE_SAMPLE_INTERVAL=1s")

	// Producers: 60 records every 50 ms (1,200/s) against 2 shards of 150
	// records/s; one record in ten is not JSON.
	loadCtx, stopLoad := context.WithCancel(context.Background())
	var puts, throttled atomic.Int64
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		produce(loadCtx, h.url, &puts, &throttled)
	}()
	t.Cleanup(func() { stopLoad(); <-loadDone })

	b := openBrowser(t, "console")
	run, eval, waitFor, screenshot := b.run, b.eval, b.waitFor, b.screenshot

	// Signing in: a wrong key is refused on the form, the right one is kept.
	run("open the console", chromedp.Navigate(h.url+"/console/#/streams"), chromedp.WaitVisible("#api-key"))
	run("a wrong key", chromedp.SendKeys("#api-key", "not-a-key"), chromedp.Click(`form.login button[type="submit"]`))
	waitFor("the wrong key refused", `document.querySelector("#login-error").textContent.includes("refused (HTTP 401)")`, 10*time.Second)
	screenshot("login")
	run("the right key", chromedp.Evaluate[chromedp.Void](`document.querySelector("#api-key").value = ""`),
		chromedp.SendKeys("#api-key", consoleKey), chromedp.Click(`form.login button[type="submit"]`), chromedp.WaitVisible("#streams-table"))
	if got := eval(`location.href`); strings.Contains(got, consoleKey) {
		t.Fatalf("the key is in the URL: %s", got)
	}

	// Keyboard: on a page just loaded, the first Tab reaches the skip link.
	run("reload", chromedp.Reload(), chromedp.WaitVisible("#streams-table"), chromedp.KeyEvent("\t"))
	if got := eval(`document.activeElement.className + ":" + document.activeElement.getAttribute("href")`); got != "skip:#main" {
		t.Errorf("first Tab focuses %q, want the skip link", got)
	}

	// Streams: the list shows the stream; its records chart gets non-zero
	// points (the sampler takes one a second), and so does its throttled one.
	if got := eval(`document.querySelector("#streams-table").innerText`); !strings.Contains(got, "clicks") || !strings.Contains(got, "2 open") {
		t.Fatalf("stream list: %q", got)
	}
	nonzero := func(title string) string {
		return fmt.Sprintf(`[...document.querySelectorAll("figure.chart")].some(f => f.querySelector("figcaption").textContent === %q && +f.querySelector("svg").dataset.nonzero > 0)`, title)
	}
	waitFor("records/s chart with non-zero points", nonzero("clicks: records per second"), 30*time.Second)
	waitFor("throttled chart with non-zero points", nonzero("clicks: throttled records per second"), 30*time.Second)
	summary := eval(`[...document.querySelectorAll("figure.chart")].find(f => f.querySelector("figcaption").textContent === "clicks: records per second").querySelector(".summary").textContent`)
	if !regexp.MustCompile(`^Latest [\d.,]+ records/s, max [\d.,]+ records/s`).MatchString(summary) {
		t.Errorf("chart summary %q", summary)
	}
	if got := eval(`document.querySelector("#streams-table tbody tr").innerText`); !strings.Contains(got, "records/s") {
		t.Errorf("stream row without a write rate: %q", got)
	}
	t.Logf("streams: records chart says %q", summary)
	screenshot("streams")

	// One stream: its shards, and a chart per shard.
	run("stream page", chromedp.Navigate(h.url+"/console/#/streams/clicks"))
	waitFor("shard table", `document.querySelector("main").innerText.includes("shardId-000000000001")`, 15*time.Second)
	waitFor("a shard's chart with points", `[...document.querySelectorAll("figure.chart svg")].filter(s => +s.dataset.nonzero > 0).length >= 3`, 15*time.Second)
	screenshot("stream")

	// Deliveries: the delivery's lag and freshness are shown.
	run("deliveries page", chromedp.Navigate(h.url+"/console/#/deliveries"), chromedp.WaitVisible("#deliveries-table"))
	row := eval(`[...document.querySelectorAll("#deliveries-table tbody tr")].map(r => [...r.children].map(c => c.innerText).join(" | ")).join("\n")`)
	cells := strings.Split(row, " | ")
	if len(cells) < 7 || cells[0] != "clicks-to-files" || cells[1] != "clicks" {
		t.Fatalf("deliveries table: %q", row)
	}
	if _, err := strconv.Atoi(strings.ReplaceAll(cells[2], ",", "")); err != nil {
		t.Errorf("lag (records) %q is not a count", cells[2])
	}
	if !regexp.MustCompile(`^[\d.,]+ s$|min`).MatchString(cells[3]) {
		t.Errorf("freshness %q", cells[3])
	}
	t.Logf("deliveries: %s", row)
	waitFor("lag chart with points", `[...document.querySelectorAll("figure.chart svg")].some(s => +s.dataset.points > 0)`, 15*time.Second)
	screenshot("deliveries")

	// The delivery's failed records, each with its reason; then a redrive.
	run("errors page", chromedp.Navigate(h.url+"/console/#/errors/clicks-to-files"))
	waitFor("the listing", `document.querySelector("#errors-table, #errors-listing .message")`, 30*time.Second)
	if status := errorsEndpoint(t, h.url); status == http.StatusNotFound {
		screenshot("errors")
		t.Logf("this Hydrant has no GET /v1/deliveries/{name}/errors: the failed-record and redrive checks are skipped (the page says %q)",
			eval(`document.querySelector("#errors-listing").innerText`))
		return
	}
	run("at most 10", chromedp.Evaluate[chromedp.Void](`document.querySelector("#f-limit").value = ""`), chromedp.SendKeys("#f-limit", "10"))
	// Show (again while fewer are listed) until the 10 asked for are.
	waitFor("10 failed records", `(() => {
		const n = document.querySelectorAll("#errors-table tbody td.reason").length;
		if (n !== 10 && document.querySelector("#errors-listing").getAttribute("aria-busy") === "false") document.querySelector("#f-apply").click();
		return n === 10;
	})()`, 30*time.Second)
	reason := eval(`document.querySelector("#errors-table tbody td.reason").textContent`)
	if reason == "" || reason == "–" {
		t.Fatalf("a failed record without a reason: %q", eval(`document.querySelector("#errors-table").innerText`))
	}
	t.Logf("errors: a failed record's reason: %q", reason)
	screenshot("errors")
	run("redrive", chromedp.Click("#redrive"), chromedp.WaitVisible("#redrive-go"), chromedp.Click("#redrive-go"))
	waitFor("the redrive's result", `/^Redrive (done|failed)/.test(document.querySelector("#redrive-result").textContent)`, 60*time.Second)
	result := eval(`document.querySelector("#redrive-result").textContent`)
	if !strings.HasPrefix(result, "Redrive done: ") {
		t.Fatalf("redrive: %q", result)
	}
	t.Logf("redrive: %q", result)
	screenshot("redrive")

	// A reshard to 4 shards: the stream's page shows the lineage, the two
	// first shards closed and each the parent of two open children.
	out, err := exec.Command(hydrantBinary(t), "streams", "reshard", "-endpoint", h.url, "-api-key", consoleKey, "-shards", "4", "clicks").CombinedOutput()
	if err != nil {
		t.Fatalf("hydrant streams reshard: %v\n%s", err, out)
	}
	run("stream page after the reshard", chromedp.Navigate(h.url+"/console/#/streams/clicks"))
	waitFor("the lineage", `document.querySelectorAll("#shards-table tbody tr").length === 6`, 30*time.Second)
	lineage := eval(`[...document.querySelectorAll("#shards-table tbody tr")].map(r => [...r.children].slice(0, 4).map(c => c.innerText).join(" | ")).join("\n")`)
	for _, want := range []string{
		"shardId-000000000000 | closed | – | shardId-000000000002, shardId-000000000003",
		"shardId-000000000002 | open | shardId-000000000000 | –",
		"shardId-000000000005 | open | shardId-000000000001 | –",
	} {
		if !strings.Contains(lineage, want) {
			t.Errorf("lineage lacks %q:\n%s", want, lineage)
		}
	}
	screenshot("stream-resharded")

	// The dark theme, for the record.
	run("dark theme", chromedp.Navigate(h.url+"/console/#/streams"), chromedp.WaitVisible("#streams-table"), chromedp.Click("#theme-toggle"))
	waitFor("dark", `document.documentElement.dataset.theme === "dark"`, 5*time.Second)
	screenshot("streams-dark")
	t.Logf("puts: %d requests, %d records throttled", puts.Load(), throttled.Load())
}

// browser is a headless Chromium tab driven by chromedp for one test;
// screenshots go to $HYDRANT_ARTIFACTS/NAME (else a temporary directory).
type browser struct {
	t         *testing.T
	ctx       context.Context
	artifacts string
}

// openBrowser starts Debian's Chromium (skipped under -short outside CI
// when it is missing; a failure otherwise) and closes it when t ends.
func openBrowser(t *testing.T, name string) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if testing.Short() && os.Getenv("CI") == "" {
			t.Skipf("no %s (run make chromium)", chromiumPath)
		}
		t.Fatalf("no %s: run make chromium", chromiumPath)
	}
	artifacts := os.Getenv("HYDRANT_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	artifacts = filepath.Join(artifacts, name)
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser, which lives as long as that
	// action's context: ctx itself, without a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return &browser{t: t, ctx: ctx, artifacts: artifacts}
}

// run runs steps within a minute.
func (b *browser) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression whose value is a string.
func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// waitFor polls a JavaScript expression until it is truthy.
func (b *browser) waitFor(what, expr string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+expr+")", chromedp.WithPollingInterval(200*time.Millisecond),
		chromedp.WithPollingTimeout(timeout))); err != nil {
		b.t.Fatalf("%s: %v (page: %.2000s)", what, err, b.eval(`document.querySelector("main").innerText`))
	}
}

// screenshot writes the whole page to NAME.png in the artifacts.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG (below: JPEG)
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(b.artifacts, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

// errorsEndpoint answers the status of GET /v1/deliveries/clicks-to-files/errors.
func errorsEndpoint(t *testing.T, url string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/v1/deliveries/clicks-to-files/errors?limit=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", consoleKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// produce puts 60 NDJSON records every 50 ms to the clicks stream, one in
// ten not JSON, until ctx ends; it counts requests and throttled records.
func produce(ctx context.Context, url string, puts, throttled *atomic.Int64) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var b strings.Builder
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		b.Reset()
		for i := range 60 {
			if i%10 == 9 {
				fmt.Fprintf(&b, "not json %d-%d\n", n, i)
				continue
			}
			fmt.Fprintf(&b, `{"user":"u%d","page":"/p/%d","n":%d}`+"\n", i%7, i, n)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/streams/clicks/records", strings.NewReader(b.String()))
		if err != nil {
			return
		}
		req.Header.Set("X-Api-Key", consoleKey)
		req.Header.Set("Content-Type", "text/plain") // lines as they are: the non-JSON ones too
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		var out putResult
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		puts.Add(1)
		for _, r := range out.Records {
			if r.ErrorCode != "" {
				throttled.Add(1)
			}
		}
	}
}
