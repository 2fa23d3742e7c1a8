package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
)

const consoleTestKey = "console-test-key-0123456789"

const consoleTestConfig = `
server:
  listen: "{{LISTEN}}"
  auth:
    api_keys:
      - {key: "` + consoleTestKey + `", streams: ["*"], actions: [put, read]}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - {name: clicks, shards: 2}
deliveries:
  - name: clicks-files
    source: clicks
    buffer: {size: 1MiB, interval: 200ms}
    destination:
      file: {dir: "{{DIR}}/out"}
`

// The console's wiring in the real binary: the page shell loads without a
// key, with its security headers; the history needs the key /v1/status
// needs, and samples the stream, its shards and the delivery.
func TestConsoleWiring(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Setenv(consoleSampleEnv, "200ms")
	bin := hydrantBinary(t)
	addr, _ := startServe(t, bin, consoleTestConfig)
	get := func(path, key string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if key != "" {
			req.Header.Set("X-Api-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		return resp, body.Bytes()
	}
	tests := map[string]struct {
		path, key string
		status    int
	}{
		"the shell without a key":   {"/console/", "", 200},
		"a script without a key":    {"/console/chart.js", "", 200},
		"/console to /console/":     {"/console", "", 200}, // redirected
		"the history without a key": {"/v1/console/history", "", 401},
		"the history with a wrong":  {"/v1/console/history", "not-the-key", 401},
		"the history with the key":  {"/v1/console/history", consoleTestKey, 200},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			resp, body := get(tc.path, tc.key)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.status)
			}
			if strings.HasPrefix(tc.path, "/console") && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy %q", resp.Header.Get("Content-Security-Policy"))
			}
		})
	}

	// Rates start at the first sample: put after it.
	await.Cond(t, 30*time.Second, "the first sample", func() bool {
		_, b := get("/v1/console/history", consoleTestKey)
		var h struct{ Times []int64 }
		return json.Unmarshal(b, &h) == nil && len(h.Times) > 0
	})
	var body strings.Builder
	for n := range 300 {
		body.WriteString(`{"n":` + string(rune('0'+n%10)) + "}\n")
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/streams/clicks/records", strings.NewReader(body.String()))
	req.Header.Set("X-Api-Key", consoleTestKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var put bytes.Buffer
	put.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(put.String(), `{"failed_record_count":0,`) {
		t.Fatalf("put: %d %.300s", resp.StatusCode, put.String())
	}
	type rates struct {
		Name    string     `json:"name"`
		ShardID string     `json:"shard_id"`
		Records []*float64 `json:"records_per_second"`
		Shards  []rates    `json:"shards"`
	}
	var hist struct {
		Interval   float64 `json:"interval_seconds"`
		Streams    []rates `json:"streams"`
		Deliveries []struct {
			Name string `json:"name"`
		} `json:"deliveries"`
	}
	sum := func(ps []*float64, interval float64) (s float64) {
		for _, p := range ps {
			if p != nil {
				s += *p * interval
			}
		}
		return s
	}
	// The stream's rates over its points add up to the 300 records put.
	var last []byte
	defer func() {
		if t.Failed() {
			t.Logf("history: %s", regexp.MustCompile(`,"times":\[[^]]*\]`).ReplaceAll(last, nil))
		}
	}()
	await.Cond(t, 30*time.Second, "the history counts the 300 records", func() bool {
		_, b := get("/v1/console/history", consoleTestKey)
		last = b
		if err := json.Unmarshal(b, &hist); err != nil {
			t.Fatalf("history %s: %v", b, err)
		}
		return len(hist.Streams) == 1 && sum(hist.Streams[0].Records, hist.Interval) > 299
	})
	if hist.Interval != 0.2 || hist.Streams[0].Name != "clicks" || len(hist.Streams[0].Shards) != 2 ||
		len(hist.Deliveries) != 1 || hist.Deliveries[0].Name != "clicks-files" {
		t.Errorf("history: %+v", hist)
	}
	// Rates come from timed samples, so they add up only to within the ticks' jitter.
	if got := sum(hist.Streams[0].Shards[0].Records, hist.Interval) + sum(hist.Streams[0].Shards[1].Records, hist.Interval); got < 270 || got > 330 {
		t.Errorf("the shards' records add up to %.1f, want about 300", got)
	}
}

// A sample interval that is not a duration, or out of bounds, stops serve
// at start with what would be valid.
func TestConsoleSampleIntervalEnv(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := hydrantBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "hydrant.yaml")
	cfg := strings.NewReplacer("{{LISTEN}}", "127.0.0.1:0", "{{DIR}}", dir).Replace(putConfig)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"fast", "10ms", "2h"} {
		cmd := exec.Command(bin, "serve", "-c", path)
		cmd.Env = append(os.Environ(), consoleSampleEnv+"="+v)
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(out), "must be a duration from 100ms to 1h") {
			t.Errorf("%s=%s: exit %d, %s", consoleSampleEnv, v, cmd.ProcessState.ExitCode(), out)
		}
	}
}
