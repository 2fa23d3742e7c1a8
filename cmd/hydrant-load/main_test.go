package main

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/config"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

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
	native := func(fsync string, recordSize, perRequest, shards int, stream string) hydrantSetup {
		return hydrantSetup{fsync: fsync, recordSize: recordSize, requestSize: (recordSize + 1) * perRequest,
			stream: stream, shards: shards, deliver: true}
	}
	s3 := native("always", 1024, 500, 4, "bench")
	s3.s3 = &s3Target{endpoint: "http://127.0.0.1:9000", bucket: "bench", accessKey: "a", secretKey: "b"}
	tests := map[string]struct {
		setup      hydrantSetup
		wantShards map[string]int // stream name → shards
	}{
		"default":       {setup: native("always", 1024, 500, 4, "bench"), wantShards: map[string]int{"bench": 4}},
		"interval":      {setup: native("interval", 1024, 500, 1, "bench"), wantShards: map[string]int{"bench": 1}},
		"large records": {setup: native("always", 2<<20, 20, 16, "big.one"), wantShards: map[string]int{"big.one": 16}},
		"no delivery": {setup: hydrantSetup{fsync: "always", recordSize: 1024, requestSize: 1 << 20, stream: "bench", shards: 2},
			wantShards: map[string]int{"bench": 2}},
		"direct put": {setup: hydrantSetup{fsync: "always", recordSize: 1024, requestSize: 700 << 10, direct: "bench-direct", directShards: 32},
			wantShards: map[string]int{"bench-direct": 32}},
		"to s3": {setup: s3, wantShards: map[string]int{"bench": 4}},
		"restart": {setup: hydrantSetup{fsync: "interval", recordSize: 1024, requestSize: 1 << 20, stream: "bench", shards: 4,
			retention: restartRetention}, wantShards: map[string]int{"bench": 4}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			setup := tc.setup
			setup.listen, setup.dir = "127.0.0.1:4545", dir
			path := filepath.Join(dir, "hydrant.yaml")
			if err := os.WriteFile(path, []byte(benchConfig(setup)), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			got := make(map[string]int)
			for _, s := range cfg.ResolvedStreams() {
				got[s.Name] = s.Shards
			}
			if !maps.Equal(got, tc.wantShards) {
				t.Fatalf("streams = %v, want %v", got, tc.wantShards)
			}
			if cfg.Storage.Fsync != setup.fsync {
				t.Errorf("fsync = %q, want %q", cfg.Storage.Fsync, setup.fsync)
			}
			if int(cfg.Server.MaxRequestSize) < setup.requestSize || int(cfg.Server.MaxRecordSize) < setup.recordSize {
				t.Errorf("server limits %+v do not fit %d-byte requests of %d-byte records", cfg.Server, setup.requestSize, setup.recordSize)
			}
			wantDeliveries := 0
			if setup.deliver {
				wantDeliveries++
			}
			if setup.direct != "" {
				wantDeliveries++
			}
			if len(cfg.Deliveries) != wantDeliveries {
				t.Fatalf("%d deliveries, want %d", len(cfg.Deliveries), wantDeliveries)
			}
			for _, d := range cfg.Deliveries {
				if (d.Destination.S3 != nil) != (setup.s3 != nil) {
					t.Errorf("delivery %s: s3 destination %v, want %v", d.Name, d.Destination.S3 != nil, setup.s3 != nil)
				}
			}
		})
	}
}

func TestParseFlagsMatrix(t *testing.T) {
	tests := map[string]struct {
		args    []string
		want    []int
		wantErr string // a substring of the error; "" for none
	}{
		"defaults":          {args: []string{"-matrix"}, want: []int{4, 16}},
		"custom":            {args: []string{"-matrix", "-concurrencies", "1, 2,8"}, want: []int{1, 2, 8}},
		"not a number":      {args: []string{"-matrix", "-concurrencies", "4,x"}, wantErr: "-concurrencies"},
		"zero":              {args: []string{"-matrix", "-concurrencies", "0"}, wantErr: "-concurrencies"},
		"too many records":  {args: []string{"-matrix", "-records-per-request", "501"}, wantErr: "PutRecordBatch"},
		"too many bytes":    {args: []string{"-matrix", "-record-size", "10000"}, wantErr: "PutRecordBatch"},
		"with url":          {args: []string{"-matrix", "-url", "http://127.0.0.1:1"}, wantErr: "-url"},
		"disk floor no dir": {args: []string{"-floor", "disk"}, wantErr: "-dir"},
		"unknown floor":     {args: []string{"-floor", "ssd"}, wantErr: "-floor"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parseFlags(tc.args, &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.concurrencies, tc.want) {
				t.Errorf("concurrencies = %v, want %v", o.concurrencies, tc.want)
			}
			if o.e2eConcurrency != slices.Max(tc.want) || o.e2eDuration != o.duration {
				t.Errorf("end to end: %d producers for %s, want %d for %s", o.e2eConcurrency, o.e2eDuration, slices.Max(tc.want), o.duration)
			}
		})
	}
}

func TestParseFlagsPaced(t *testing.T) {
	var stderr bytes.Buffer
	o, err := parseFlags([]string{"-matrix"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.pacedRates, []float64{10, 40}) || o.pacedDuration != 45*time.Second {
		t.Errorf("paced rows %v MiB/s for %s, want [10 40] for 45s", o.pacedRates, o.pacedDuration)
	}
	if o, err = parseFlags([]string{"-matrix", "-paced-rates", "", "-paced-duration", "1m"}, &stderr); err != nil || o.pacedRates != nil {
		t.Errorf("-paced-rates \"\": %v, %v; want no paced rows", o.pacedRates, err)
	}
	if o, err = parseFlags([]string{"-matrix", "-paced-rates", "2.5, 7"}, &stderr); err != nil || !slices.Equal(o.pacedRates, []float64{2.5, 7}) {
		t.Errorf("-paced-rates \"2.5, 7\": %v, %v", o.pacedRates, err)
	}
	for _, bad := range [][]string{{"-paced-rates", "10,x"}, {"-paced-rates", "0"}, {"-paced-rates", "-3"}, {"-paced-duration", "0s"}} {
		if _, err := parseFlags(append([]string{"-matrix"}, bad...), &stderr); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: err = %v, want one naming %s", bad, err, bad[0])
		}
	}
}
