package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/config"
)

func TestBuildBodies(t *testing.T) {
	tests := map[string]struct{ recordSize, perBody, variants int }{
		"minimum":       {recordSize: minRecordSize, perBody: 3, variants: 2},
		"default":       {recordSize: 1024, perBody: 500, variants: bodyVariants},
		"odd size":      {recordSize: 333, perBody: 7, variants: 1},
		"large records": {recordSize: 100 << 10, perBody: 2, variants: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			bodies, err := buildBodies(tc.recordSize, tc.perBody, tc.variants)
			if err != nil {
				t.Fatal(err)
			}
			if len(bodies) != tc.variants {
				t.Fatalf("got %d bodies, want %d", len(bodies), tc.variants)
			}
			seen := make(map[int]bool)
			for i, body := range bodies {
				if len(body) != tc.perBody*(tc.recordSize+1) {
					t.Errorf("body %d: %d bytes, want %d", i, len(body), tc.perBody*(tc.recordSize+1))
				}
				lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
				if len(lines) != tc.perBody {
					t.Fatalf("body %d: %d lines, want %d", i, len(lines), tc.perBody)
				}
				for j, line := range lines {
					checkRecord(t, line, tc.recordSize, seen)
					if t.Failed() {
						t.Fatalf("body %d line %d: %.80q", i, j, line)
					}
				}
			}
		})
	}
}

// checkRecord checks that line is a JSON object of exactly size bytes with
// a sequence number not in seen.
func checkRecord(t *testing.T, line string, size int, seen map[int]bool) {
	t.Helper()
	if len(line) != size {
		t.Errorf("%d bytes, want %d", len(line), size)
	}
	var rec struct {
		Seq    *int   `json:"seq"`
		UserID string `json:"user_id"`
		Pad    string `json:"pad"`
	}
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Errorf("not valid JSON: %v", err)
		return
	}
	if rec.Seq == nil || rec.UserID == "" {
		t.Errorf("missing seq or user_id")
		return
	}
	if seen[*rec.Seq] {
		t.Errorf("seq %d repeated", *rec.Seq)
	}
	seen[*rec.Seq] = true
}

func TestBuildBodiesTooSmall(t *testing.T) {
	if _, err := buildBodies(20, 1, 1); err == nil {
		t.Fatal("a 20-byte record cannot hold the envelope; want an error")
	}
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100) // 1ms..100ms
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := map[string]struct {
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		"empty":        {sorted: nil, p: 50, want: 0},
		"single":       {sorted: []time.Duration{7}, p: 99, want: 7},
		"p50 of 100":   {sorted: hundred, p: 50, want: 50 * time.Millisecond},
		"p95 of 100":   {sorted: hundred, p: 95, want: 95 * time.Millisecond},
		"p99 of 100":   {sorted: hundred, p: 99, want: 99 * time.Millisecond},
		"max of 100":   {sorted: hundred, p: 100, want: 100 * time.Millisecond},
		"p50 of four":  {sorted: []time.Duration{1, 2, 3, 4}, p: 50, want: 2},
		"p99 of four":  {sorted: []time.Duration{1, 2, 3, 4}, p: 99, want: 4},
		"tiny p":       {sorted: []time.Duration{1, 2, 3, 4}, p: 0.1, want: 1},
		"p95 of three": {sorted: []time.Duration{10, 20, 30}, p: 95, want: 30},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func TestStoredRecords(t *testing.T) {
	tests := map[string]struct {
		status     int
		body       string
		wantStored int
		wantErr    bool
	}{
		"all stored":    {status: http.StatusOK, body: `{"failed_record_count":0,"records":[]}`, wantStored: 10},
		"partial":       {status: http.StatusMultiStatus, body: `{"failed_record_count":3,"records":[]}`, wantStored: 7},
		"throttled":     {status: http.StatusTooManyRequests, body: `{"failed_record_count":10,"records":[]}`, wantErr: true},
		"too large":     {status: http.StatusRequestEntityTooLarge, body: `{"error":{}}`, wantErr: true},
		"no count":      {status: http.StatusOK, body: `{}`, wantErr: true},
		"count too big": {status: http.StatusOK, body: `{"failed_record_count":11}`, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			stored, err := storedRecords(tc.status, []byte(tc.body), 10)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if stored != tc.wantStored {
				t.Errorf("stored = %d, want %d", stored, tc.wantStored)
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	stat := []byte("4242 (hy drant) S 1 4242 4242 0 -1 4194560 1 0 0 0 150 75 0 0 20 0 9 0 100 0 0\n")
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2250 * time.Millisecond; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestResultCheck(t *testing.T) {
	tests := map[string]struct {
		requests, errors int64
		wantErr          bool
	}{
		"clean":           {requests: 1000, errors: 0},
		"at the limit":    {requests: 1000, errors: 10},
		"over the limit":  {requests: 1000, errors: 11, wantErr: true},
		"nothing at all":  {requests: 0, errors: 0, wantErr: true},
		"everything fail": {requests: 5, errors: 5, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := &Result{Requests: tc.requests, RequestErrors: tc.errors}
			if err := r.check(maxFailedRequestRatio); (err != nil) != tc.wantErr {
				t.Errorf("check() = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

func TestParseFlagsRejectsBadValues(t *testing.T) {
	var stderr bytes.Buffer
	_, err := parseFlags([]string{"-record-size", "10", "-fsync", "never", "-concurrency", "0"}, &stderr)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, flag := range []string{"-record-size", "-fsync", "-concurrency"} {
		if !strings.Contains(err.Error(), flag) {
			t.Errorf("error %q does not name %s", err, flag)
		}
	}
}

func TestBenchConfigLoads(t *testing.T) {
	tests := map[string]options{
		"default":       {recordSize: 1024, recordsPerRequest: 500, fsync: "always", shards: 4, stream: "bench"},
		"interval":      {recordSize: 1024, recordsPerRequest: 500, fsync: "interval", shards: 1, stream: "bench"},
		"large records": {recordSize: 2 << 20, recordsPerRequest: 20, fsync: "always", shards: 16, stream: "big.one"},
	}
	for name, opts := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "hydrant.yaml")
			requestSize := (opts.recordSize + 1) * opts.recordsPerRequest
			if err := os.WriteFile(path, []byte(benchConfig("127.0.0.1:4545", dir, opts, requestSize)), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			streams := cfg.ResolvedStreams()
			if len(streams) != 1 || streams[0].Name != opts.stream || streams[0].Shards != opts.shards {
				t.Fatalf("streams = %+v, want one %q of %d shards", streams, opts.stream, opts.shards)
			}
			if cfg.Storage.Fsync != opts.fsync {
				t.Errorf("fsync = %q, want %q", cfg.Storage.Fsync, opts.fsync)
			}
			if int(cfg.Server.MaxRequestSize) < requestSize || int(cfg.Server.MaxRecordSize) < opts.recordSize {
				t.Errorf("server limits %+v do not fit %d-byte requests of %d-byte records", cfg.Server, requestSize, opts.recordSize)
			}
		})
	}
}
