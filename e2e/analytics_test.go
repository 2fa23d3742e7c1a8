package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
)

const analyticsConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: trades
    shards: 2
    partition_key_field: /ticker
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
  - name: ticker-stats
analytics:
  - name: per-ticker
    source: trades
    sql: |
      SELECT ticker, count(*) AS trades, sum(price) AS total, avg(price) AS avg_price,
             epoch_ms(window_start) AS window_start
      FROM source GROUP BY ticker, window_start
    window: {tumbling: 2s}
    schema: [{name: ticker, type: string}, {name: price, type: int64}]
    output: {stream: ticker-stats, partition_key: ticker}
deliveries:
  - name: stats-files
    source: ticker-stats
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/out"}
`

// statRow is one result of the per-ticker application.
type statRow struct {
	Ticker      string  `json:"ticker"`
	Trades      int     `json:"trades"`
	Total       int64   `json:"total"`
	AvgPrice    float64 `json:"avg_price"`
	WindowStart int64   `json:"window_start"`
}

// A tumbling-window count, sum and average per ticker (Kinesis Data
// Analytics' canonical example) on the real binary, its results put into a
// stream and delivered to files; a kill -9 between windows and a restart
// on the same data: per ticker the windows' counts and sums add up to
// exactly the trades put, and no window's result appears twice.
func TestAnalyticsTumblingPerTicker(t *testing.T) {
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, analyticsConfig)
	tickers := []string{"AMZN", "MSFT", "GOOG", "AAPL", "NVDA"}
	count, total := map[string]int{}, map[string]int64{}
	put := func(rounds int) {
		for r := range rounds {
			var body strings.Builder
			for i := range 100 {
				tk := tickers[(r+i)%len(tickers)]
				price := int64(100 + (r*7+i)%50)
				fmt.Fprintf(&body, `{"ticker":%q,"price":%d}`+"\n", tk, price)
				count[tk]++
				total[tk] += price
			}
			code, res, err := h.put("trades", []byte(body.String()))
			if err != nil || code != 200 || res.FailedRecordCount != 0 {
				t.Fatalf("put: %d %+v %v", code, res, err)
			}
		}
	}
	// nextWindow waits until the application has emitted a window after
	// the one it had emitted through, so that the trades put next land in
	// a later window.
	nextWindow := func() {
		t.Helper()
		before := emittedThrough(t, h)
		await.Cond(t, 30*time.Second, "a window emitted", func() bool {
			now := emittedThrough(t, h)
			return now != nil && (before == nil || now.After(*before))
		})
	}
	put(10)
	nextWindow()
	put(15)
	h.kill() // the window of the last trades is open
	h = startHydrant(t, dir, listen, analyticsConfig)
	put(10)
	nextWindow()
	put(15)

	var rows []statRow
	await.Cond(t, 60*time.Second, "every trade counted in the results", func() bool {
		rows = readStatRows(t, filepath.Join(dir, "out"))
		got := map[string]int{}
		for _, r := range rows {
			got[r.Ticker] += r.Trades
		}
		return maps.Equal(got, count)
	})
	sums, seen := map[string]int64{}, map[string]bool{}
	for _, r := range rows {
		key := fmt.Sprintf("%s@%d", r.Ticker, r.WindowStart)
		if seen[key] {
			t.Errorf("the result of window %s appears twice", key)
		}
		seen[key] = true
		sums[r.Ticker] += r.Total
		if want := float64(r.Total) / float64(r.Trades); r.AvgPrice != want {
			t.Errorf("%s: avg_price %v, want %v", key, r.AvgPrice, want)
		}
	}
	if !maps.Equal(sums, total) {
		t.Errorf("sums per ticker %v, want %v", sums, total)
	}
	t.Logf("%d results over %d windows for %d trades", len(rows), len(seen)/len(tickers), 5000)

	// /v1/status says where the application stands.
	if st := analyticsStatus(t, h); len(st) != 1 || st[0].Name != "per-ticker" || st[0].EmittedThrough == nil || st[0].LastError != "" {
		t.Errorf("/v1/status analytics: %+v", st)
	}
}

// appStatus is an application as /v1/status shows it.
type appStatus struct {
	Name           string     `json:"name"`
	EmittedThrough *time.Time `json:"emitted_through"`
	LastError      string     `json:"last_error"`
}

func analyticsStatus(t *testing.T, h *hydrant) []appStatus {
	t.Helper()
	resp, err := http.Get(h.url + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var status struct {
		Analytics []appStatus `json:"analytics"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		t.Fatal(err)
	}
	return status.Analytics
}

// emittedThrough is the end of the newest window the one application
// emitted; nil before the first.
func emittedThrough(t *testing.T, h *hydrant) *time.Time {
	t.Helper()
	if st := analyticsStatus(t, h); len(st) == 1 {
		return st[0].EmittedThrough
	}
	return nil
}

func readStatRows(t *testing.T, root string) []statRow {
	t.Helper()
	var rows []statRow
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".jsonl") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			var r statRow
			if json.Unmarshal([]byte(line), &r) == nil {
				rows = append(rows, r)
			}
		}
		return nil
	})
	return rows
}
