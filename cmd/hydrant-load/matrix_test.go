package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// fakeRunner answers the matrix with made-up figures: each target stores a
// fixed MiB/s, and the cells it was asked for are recorded.
type fakeRunner struct {
	mibPerSecond map[string]float64 // by target
	failing      string             // a target whose cells cannot be measured
	noS3         string
	cells        []cellSpec
	e2e          []e2eSpec
	restartReady float64 // seconds; negative: the restart run fails
	restarts     []float64
}

func (f *fakeRunner) cell(_ context.Context, spec cellSpec) (*Result, string, error) {
	f.cells = append(f.cells, spec)
	if spec.target == f.failing {
		return nil, "", errors.New("it would not start\nsecond line")
	}
	mib := f.mibPerSecond[spec.target]
	if spec.rate > 0 {
		mib = spec.rate * 1024 / (1 << 20)
	}
	window := time.Second
	if spec.duration > 0 {
		window = spec.duration
	}
	res := &Result{
		Duration:         window.String(),
		Requests:         100,
		RecordsPerSecond: mib * 1024,
		MiBPerSecond:     mib,
		LatencyMillis:    LatencySummary{P50: 5, P95: 20, P99: 40, Max: 60},
		GeneratorCPU:     3,
	}
	if spec.target != targetHTTPFloor {
		res.Process = &ProcessSummary{CPUSeconds: 9, PeakRSSMiB: 250}
	}
	if spec.target == targetNativeConsumer {
		res.Consumer = &ConsumerSummary{RecordsPerSecond: 1000, ShareOfPut: 1, KeptUp: true}
		return res, res.Consumer.note(), nil
	}
	return res, "", nil
}

func (f *fakeRunner) endToEnd(_ context.Context, spec e2eSpec) (*EndToEndRow, error) {
	f.e2e = append(f.e2e, spec)
	return &EndToEndRow{
		Destination: spec.destination, Concurrency: spec.concurrency, Duration: "1s",
		Ingest:                    &Result{Requests: 10, RecordsPerSecond: 1000, Process: &ProcessSummary{PeakRSSMiB: 320}},
		DeliveredRecordsPerSecond: 900, DeliveredShare: 0.9, BacklogRecords: 42,
	}, nil
}

func (f *fakeRunner) s3Unavailable() string { return f.noS3 }

func (f *fakeRunner) restart(_ context.Context, gib float64) (*RestartResult, error) {
	f.restarts = append(f.restarts, gib)
	res := &RestartResult{GiB: gib, Concurrency: 16, LogBytes: int64(gib * (1 << 30)), FillSeconds: 8,
		DiskBytes: int64(gib * 1.02 * (1 << 30))}
	if f.restartReady < 0 {
		return res, errors.New("restarted hydrant exited\nits log")
	}
	res.ReadySeconds, res.FirstPutSeconds = f.restartReady, f.restartReady+0.01
	res.AckedRecords, res.ReadRecords, res.ReadSeconds = 1<<20+1, 1<<20+1, 6
	res.Note = res.readBackNote()
	return res, nil
}

func testMatrixOptions() options {
	return options{recordSize: 1024, recordsPerRequest: 500, concurrencies: []int{4, 16}, duration: time.Second,
		fsync: "always", shards: 4, deliver: true, firehoseShards: 32, e2eDuration: time.Second, e2eConcurrency: 16,
		pacedRates: []float64{10, 40}, pacedDuration: 3 * time.Second, restartGiB: 1}
}

func TestMatrixHasEveryRow(t *testing.T) {
	r := &fakeRunner{
		mibPerSecond: map[string]float64{targetHTTPFloor: 400, targetDiskFloor: 200, targetNative: 120, targetFirehose: 80, targetKinesis: 70},
		noS3:         "no MinIO binary at .cache/bin/minio",
		restartReady: 0.4,
	}
	m := runMatrix(t.Context(), testMatrixOptions(), r, io.Discard)

	var want []string
	for _, target := range matrixTargets {
		for _, c := range []int{4, 16} {
			want = append(want, fmt.Sprintf("%s/%d", target, c))
		}
	}
	want = append(want, targetNativeHalf+"/16", targetNativeConsumer+"/16",
		"hydrant native, paced 10 MiB/s/16", "hydrant native, paced 40 MiB/s/16")
	var got []string
	for _, row := range m.Rows {
		got = append(got, fmt.Sprintf("%s/%d", row.Target, row.Concurrency))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("rows %v, want %v", got, want)
	}
	half := m.Rows[len(m.Rows)-4]
	if wantRate := 120.0 * 1024 / 2; half.OfferedRecordsPerSecond != wantRate {
		t.Errorf("the ½ max row was offered %.0f records/s, want %.0f", half.OfferedRecordsPerSecond, wantRate)
	}
	for _, spec := range r.cells[len(r.cells)-2:] {
		if spec.duration != 3*time.Second || (spec.rate != 10*1024 && spec.rate != 40*1024) {
			t.Errorf("paced row %s: %.0f records/s for %s, want 10 or 40 MiB/s of 1 KiB records for -paced-duration 3s",
				spec.target, spec.rate, spec.duration)
		}
	}
	for _, row := range m.Rows {
		wantRatio := map[string]float64{targetNative: 0.6, targetFirehose: 0.4, targetKinesis: 0.35}[row.Target]
		if diff := row.DiskFloorRatio - wantRatio; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("%s/%d: × disk floor %.3f, want %.3f", row.Target, row.Concurrency, row.DiskFloorRatio, wantRatio)
		}
	}
	if len(m.EndToEnd) != 2 || m.EndToEnd[0].Destination != destFile || m.EndToEnd[1].Destination != destS3 {
		t.Fatalf("end to end %+v, want file then s3", m.EndToEnd)
	}
	if len(r.e2e) != 1 || !strings.Contains(m.EndToEnd[1].Note, "skipped: no MinIO") {
		t.Errorf("with no MinIO the s3 run should be skipped with a note: ran %v, note %q", r.e2e, m.EndToEnd[1].Note)
	}
	if m.failed() {
		t.Error("failed() with every row measured")
	}

	for _, markdown := range []bool{false, true} {
		var out bytes.Buffer
		if err := writeMatrix(&out, m, false, markdown); err != nil {
			t.Fatal(err)
		}
		text := out.String()
		for _, row := range m.Rows {
			if !containsRow(text, row.Target, fmt.Sprint(row.Concurrency)) {
				t.Errorf("markdown=%v: no line for %s at %d producers in\n%s", markdown, row.Target, row.Concurrency, text)
			}
		}
		for _, s := range []string{"× disk floor", "0.60", "0.40", "s3 (MinIO)", "skipped: no MinIO", "90%", "end to end to",
			"MISSED", "durable ingest ≥ 100 MiB/s (PutRecordBatch, 4 producers): 80.0 MiB/s", "peak RSS ≤ 300 MiB",
			"consumer read 1000 records/s (100% of put)", "kept up", "offered 10240 records/s",
			"restart with 1 GiB", "1.00 GiB", "8.0 s (128 MiB/s)", "1.02 GiB", "0.40", "0.41", "all 1048577 acknowledged records read back"} {
			if !strings.Contains(text, s) {
				t.Errorf("markdown=%v: %q missing from\n%s", markdown, s, text)
			}
		}
	}
	var out bytes.Buffer
	if err := writeMatrix(&out, m, true, false); err != nil {
		t.Fatal(err)
	}
	var back Matrix
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || len(back.Rows) != len(m.Rows) {
		t.Errorf("JSON: %v, %d rows, want %d", err, len(back.Rows), len(m.Rows))
	}
}

// containsRow reports whether a line of text starts with target (after an
// optional "| ") and then, after spaces or a cell border, has producers.
func containsRow(text, target, producers string) bool {
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(strings.TrimPrefix(line, "| "), target)
		if !ok {
			continue
		}
		if strings.HasPrefix(strings.TrimLeft(rest, " |"), producers+" ") {
			return true
		}
	}
	return false
}

func TestMatrixTargets(t *testing.T) {
	r := &fakeRunner{mibPerSecond: map[string]float64{targetHTTPFloor: 400, targetDiskFloor: 150, targetNative: 120, targetFirehose: 60, targetKinesis: 45},
		restartReady: 7}
	m := runMatrix(t.Context(), testMatrixOptions(), r, io.Discard)
	got := make(map[string]bool)
	for _, c := range m.Targets {
		got[c.Target] = c.Met
	}
	want := map[string]bool{
		"durable ingest ≥ 100 MiB/s (native, 4 producers)":                                                       true,
		"durable ingest ≥ 100 MiB/s (PutRecordBatch, 16 producers)":                                              false,
		"≥ 0.5× the disk floor (native, 16 producers)":                                                           true,
		"≥ 0.4× the disk floor (PutRecordBatch, 4 producers)":                                                    true,
		"≥ 0.4× the disk floor (Kinesis PutRecords, 16 producers)":                                               false,
		"durable ingest ≥ 100 MiB/s (Kinesis PutRecords, 4 producers)":                                           false,
		"p99 ≤ 50 ms at half the max throughput (native, 16 producers, 60.0 MiB/s offered)":                      true,
		"end to end to file ≥ 90% of ingest (16 producers, 1s window, shorter than the target's 60s)":            true,
		"end to end to s3 (MinIO) ≥ 90% of ingest (16 producers, 1s window, shorter than the target's 60s)":      true,
		"peak RSS ≤ 300 MiB (the largest of the hydrant runs)":                                                   false,
		"peak RSS ≤ 300 MiB at full speed with a file delivery and a GetRecords consumer (native, 16 producers)": true,
		"peak RSS ≤ 150 MiB at a paced 10 MiB/s with a file delivery (native, 3s)":                               false,
		"peak RSS ≤ 250 MiB at a paced 40 MiB/s with a file delivery (native, 3s)":                               true,
		"restart after SIGKILL ready ≤ 5 s (measured with 1 GiB of log; the target is for 10 GiB)":               false,
	}
	for target, met := range want {
		if g, ok := got[target]; !ok || g != met {
			t.Errorf("%s: met=%v (present %v), want met=%v; all: %v", target, g, ok, met, got)
		}
	}
}

func TestMatrixReportsRowsItCouldNotMeasure(t *testing.T) {
	r := &fakeRunner{mibPerSecond: map[string]float64{targetHTTPFloor: 400, targetNative: 120, targetFirehose: 60, targetKinesis: 50},
		failing: targetDiskFloor}
	m := runMatrix(t.Context(), testMatrixOptions(), r, io.Discard)
	if !m.failed() {
		t.Error("failed() = false with the disk floor rows unmeasured")
	}
	var out bytes.Buffer
	if err := writeMatrix(&out, m, false, false); err != nil {
		t.Fatal(err)
	}
	if !containsRow(out.String(), targetDiskFloor, "4") || !strings.Contains(out.String(), "error: it would not start") ||
		strings.Contains(out.String(), "second line") {
		t.Errorf("the failed rows should be in the table with the first line of their error:\n%s", out.String())
	}
	for _, row := range m.Rows {
		if row.DiskFloorRatio != 0 {
			t.Errorf("%s/%d: × disk floor %.2f without a disk floor", row.Target, row.Concurrency, row.DiskFloorRatio)
		}
	}
}

func TestParseCounts(t *testing.T) {
	metrics := `# HELP hydrant_ingest_incoming_records_total Records stored by puts.
# TYPE hydrant_ingest_incoming_records_total counter
hydrant_ingest_incoming_records_total{api="native",stream="bench"} 1500
hydrant_ingest_incoming_records_total{api="kinesis",stream="bench"} 500
hydrant_ingest_incoming_records_total{api="native",stream="other"} 7
hydrant_delivery_records_total{delivery="bench-archive"} 1.2e+03
hydrant_delivery_records_total{delivery="other-archive"} 3
`
	c, err := parseCounts(strings.NewReader(metrics), "bench")
	if err != nil {
		t.Fatal(err)
	}
	if c.ingested != 2000 || c.delivered != 1200 {
		t.Errorf("counts %+v, want 2000 ingested and 1200 delivered", c)
	}
	if _, err := parseCounts(strings.NewReader("hydrant_ingest_incoming_records_total{stream=\"bench\"} 1\n"), "bench"); err == nil {
		t.Error("no delivery series: want an error")
	}
}

func TestBuildFirehoseBodies(t *testing.T) {
	bodies, err := buildFirehoseBodies("bench-direct", 1024, 500, 2)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[int]bool)
	for i, body := range bodies {
		var req putRecordBatch
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		if req.DeliveryStreamName != "bench-direct" || len(req.Records) != 500 {
			t.Fatalf("body %d: %q with %d records", i, req.DeliveryStreamName, len(req.Records))
		}
		for _, r := range req.Records {
			checkRecord(t, string(r.Data), 1024, seen)
		}
	}
}

// putRecordBatch is the request, as Firehose decodes it (Data base64).
type putRecordBatch struct {
	DeliveryStreamName string
	Records            []struct{ Data []byte }
}

func TestStoredFirehoseRecords(t *testing.T) {
	tests := map[string]struct {
		status     int
		body       string
		wantStored int
		wantErr    bool
	}{
		"all stored":  {status: 200, body: `{"FailedPutCount":0,"Encrypted":false,"RequestResponses":[]}`, wantStored: 10},
		"some failed": {status: 200, body: `{"FailedPutCount":4,"RequestResponses":[]}`, wantStored: 6},
		"refused":     {status: 400, body: `{"__type":"InvalidArgumentException"}`, wantErr: true},
		"no count":    {status: 200, body: `{}`, wantErr: true},
		"too many":    {status: 200, body: `{"FailedPutCount":11}`, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			stored, err := storedFirehoseRecords(tc.status, []byte(tc.body), 10)
			if (err != nil) != tc.wantErr || stored != tc.wantStored {
				t.Errorf("= %d, %v; want %d, error %v", stored, err, tc.wantStored, tc.wantErr)
			}
		})
	}
}

func TestBuildKinesisBodies(t *testing.T) {
	bodies, err := buildKinesisBodies("bench", 1024, 500, 2)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[int]bool)
	keys := make(map[string]bool)
	for i, body := range bodies {
		var req struct {
			StreamName string
			Records    []struct {
				Data         []byte
				PartitionKey string
			}
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		if req.StreamName != "bench" || len(req.Records) != 500 {
			t.Fatalf("body %d: %q with %d records", i, req.StreamName, len(req.Records))
		}
		for _, r := range req.Records {
			checkRecord(t, string(r.Data), 1024, seen)
			if r.PartitionKey == "" || keys[r.PartitionKey] {
				t.Fatalf("body %d: partition key %q empty or repeated", i, r.PartitionKey)
			}
			keys[r.PartitionKey] = true
		}
	}
}

func TestStoredKinesisRecords(t *testing.T) {
	tests := map[string]struct {
		status     int
		body       string
		wantStored int
		wantErr    bool
	}{
		"all stored":  {status: 200, body: `{"FailedRecordCount":0,"Records":[],"EncryptionType":"NONE"}`, wantStored: 10},
		"some failed": {status: 200, body: `{"FailedRecordCount":3,"Records":[]}`, wantStored: 7},
		"busy":        {status: 503, body: `{"__type":"ServiceUnavailableException"}`, wantErr: true},
		"no count":    {status: 200, body: `{"FailedPutCount":0}`, wantErr: true},
		"too many":    {status: 200, body: `{"FailedRecordCount":11}`, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			stored, err := storedKinesisRecords(tc.status, []byte(tc.body), 10)
			if (err != nil) != tc.wantErr || stored != tc.wantStored {
				t.Errorf("= %d, %v; want %d, error %v", stored, err, tc.wantStored, tc.wantErr)
			}
		})
	}
}

func TestMatrixRestartRun(t *testing.T) {
	mib := map[string]float64{targetHTTPFloor: 400, targetDiskFloor: 150, targetNative: 120, targetFirehose: 60, targetKinesis: 45}
	tests := map[string]struct {
		gib        float64
		ready      float64
		wantRuns   int
		wantMet    bool
		wantFailed bool
	}{
		"skipped":    {gib: 0, wantRuns: 0},
		"fast":       {gib: 2, ready: 1.2, wantRuns: 1, wantMet: true},
		"it crashed": {gib: 1, ready: -1, wantRuns: 1, wantFailed: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			opts := testMatrixOptions()
			opts.restartGiB = tc.gib
			r := &fakeRunner{mibPerSecond: mib, restartReady: tc.ready}
			m := runMatrix(t.Context(), opts, r, io.Discard)
			if len(r.restarts) != tc.wantRuns || (tc.wantRuns > 0 && r.restarts[0] != tc.gib) {
				t.Fatalf("restart runs %v, want %d of %g GiB", r.restarts, tc.wantRuns, tc.gib)
			}
			if m.failed() != tc.wantFailed {
				t.Errorf("failed() = %v, want %v", m.failed(), tc.wantFailed)
			}
			var check *TargetCheck
			for i, c := range m.Targets {
				if strings.HasPrefix(c.Target, "restart after SIGKILL") {
					check = &m.Targets[i]
				}
			}
			if tc.wantRuns == 0 {
				if check != nil || m.Restart != nil {
					t.Errorf("-restart-gib 0: %+v, %+v; want no restart run or target", m.Restart, check)
				}
				return
			}
			if check == nil || check.Met != tc.wantMet {
				t.Fatalf("restart target %+v, want met=%v", check, tc.wantMet)
			}
			var out bytes.Buffer
			if err := writeMatrix(&out, m, false, true); err != nil {
				t.Fatal(err)
			}
			if !containsRow(out.String(), fmt.Sprintf("restart with %g GiB", tc.gib), "16") ||
				(tc.wantFailed && !strings.Contains(out.String(), "error: restarted hydrant exited")) {
				t.Errorf("no restart row, or its error missing, in\n%s", out.String())
			}
		})
	}
}

func TestRatioFigure(t *testing.T) {
	tests := map[string]struct {
		ratio, want float64
		figure      string
	}{
		"short, rounds up": {ratio: 0.39989, want: 0.4, figure: "0.3999×"},
		"exactly":          {ratio: 0.4, want: 0.4, figure: "0.40×"},
		"above":            {ratio: 0.4049, want: 0.4, figure: "0.40×"},
		"well short":       {ratio: 0.27, want: 0.4, figure: "0.27×"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := ratioFigure(tc.ratio, tc.want); got != tc.figure {
				t.Errorf("ratioFigure(%v, %v) = %q, want %q", tc.ratio, tc.want, got, tc.figure)
			}
		})
	}
}
