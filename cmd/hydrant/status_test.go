package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/pipeline"
)

var update = flag.Bool("update", false, "rewrite the golden files of the CLI's output")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// A status report as a running Hydrant gives it: one delivery keeping up,
// one behind with errors.
func sampleReports() (before, after statusReport) {
	at := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
	flushed, failedAt := at.Add(-3*time.Second), at.Add(-42*time.Second)
	stream := func(t time.Time, a, b int64) statusReport {
		return statusReport{Time: t, Store: storeStatus{Bytes: 3 << 20, DiskBudget: 8 << 30},
			Streams: []streamStatus{{Name: "clicks", RetentionSeconds: 86400, Status: "ACTIVE", Capacity: "provisioned", OpenShards: 2,
				Shards: []streamShard{ // shard 0 was split into 1 and 2
					{ShardID: "shardId-000000000000", State: "closed", RecordsTotal: 800, Messages: 8, Bytes: 800 << 10},
					{ShardID: "shardId-000000000001", State: "open", Parents: []string{"shardId-000000000000"}, RecordsTotal: a, Messages: 12, Bytes: 1 << 20},
					{ShardID: "shardId-000000000002", State: "open", Parents: []string{"shardId-000000000000"}, RecordsTotal: b, Messages: 30, Bytes: 2 << 20},
				}}}, Deliveries: []deliveryStatus{}}
	}
	before = stream(at.Add(-2*time.Second), 1000, 5000)
	after = stream(at, 1100, 5600)
	emitted := at.Add(-62 * time.Second)
	after.Analytics = []analyticsStatus{{Name: "per-page", Source: "clicks", Output: "page-views", EmittedThrough: &emitted,
		LagSeconds: 62, OpenWindows: 1, BufferedRows: 431, Running: true}}
	after.Deliveries = []deliveryStatus{
		{Name: "clicks-archive", Source: "clicks", LagRecords: 0, LagSeconds: 0,
			Shards: []deliveryShard{{ShardID: "shardId-000000000000", Checkpoint: "1048675", LagRecords: 0}},
			Stats:  pipeline.Stats{DeliveredRecords: 6700, LastFlush: &flushed, DestinationConnected: true}},
		{Name: "clicks-db", Source: "clicks", LagRecords: 2500, LagSeconds: 95.4,
			Shards: []deliveryShard{{ShardID: "shardId-000000000000", Checkpoint: "1048600", LagRecords: 2500, LagSeconds: 95.4}},
			Stats: pipeline.Stats{DeliveredRecords: 4200, ErrorOutputRecords: 17, LastFlush: &failedAt,
				LastError: `postgres: table public.clicks does not exist: create it or set create_table: true`, LastErrorAt: &failedAt,
				DestinationConnected: true}},
		// Its Postgres was down when Hydrant started: nothing read yet.
		{Name: "clicks-warehouse", Source: "clicks", LagRecords: 6700, LagSeconds: 600,
			Shards: []deliveryShard{{ShardID: "shardId-000000000000", Checkpoint: "0", LagRecords: 6700, LagSeconds: 600}},
			Stats: pipeline.Stats{LastError: "not connected: postgres: dial tcp 10.0.0.5:5432: connect: connection refused",
				LastErrorAt: &flushed}},
	}
	return before, after
}

func TestStatusOutputGolden(t *testing.T) {
	before, after := sampleReports()
	var text bytes.Buffer
	writeStatusTable(&text, after)
	golden(t, "status.golden", text.Bytes())
	js, err := json.MarshalIndent(after, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "status.json.golden", append(js, '\n'))
	var streams bytes.Buffer
	writeStreamsTable(&streams, shardRates(before, after))
	golden(t, "streams.golden", streams.Bytes())
	js, _ = json.MarshalIndent(shardRates(before, after), "", "  ")
	golden(t, "streams.json.golden", append(js, '\n'))
}

// TestClusterStatusGolden is the status of a node in a cluster: the nodes,
// their leases, and who delivers each shard (one nobody holds yet).
func TestClusterStatusGolden(t *testing.T) {
	_, rep := sampleReports()
	rep.Store.DiskBudget = 0
	beat := func(ago time.Duration) *time.Time { at := rep.Time.Add(-ago); return &at }
	rep.Cluster = &clusterStatus{Node: "n1", Instance: "n1-0a1b2c3d", LeaseTTLSeconds: 10, Nodes: []clusterNode{
		{Name: "n1", Instance: "n1-0a1b2c3d", Listen: "10.0.0.1:4545", Started: rep.Time.Add(-time.Hour), Leases: 1, LastHeartbeat: beat(time.Second)},
		{Name: "n2", Instance: "n2-9f8e7d6c", Listen: "10.0.0.2:4545", Started: rep.Time.Add(-90 * time.Second), Leases: 1,
			LastHeartbeat: beat(2 * time.Second)},
		{Name: "n3", Instance: "n3-5a4b3c2d", Listen: "10.0.0.3:4545", Started: rep.Time.Add(-time.Hour), LastHeartbeat: beat(7 * time.Second),
			Stale: true},
	}}
	// clicks-archive delivered on two nodes and on one that has gone quiet;
	// the first table shows the sums.
	a := rep.Deliveries[0].Stats
	rep.Deliveries[0].Nodes = []deliveryNode{
		{Node: "n1", Instance: "n1-0a1b2c3d", ReportedAt: rep.Time, Stats: pipeline.Stats{DeliveredRecords: 4000, LastFlush: a.LastFlush,
			DestinationConnected: true}},
		{Node: "n2", Instance: "n2-9f8e7d6c", ReportedAt: *beat(2 * time.Second), Stats: pipeline.Stats{DeliveredRecords: 2500,
			DestinationConnected: true}},
		{Node: "n3", Instance: "n3-5a4b3c2d", ReportedAt: *beat(7 * time.Second), Stale: true, Stats: pipeline.Stats{DeliveredRecords: 200}},
	}
	owner := func(s string) *string { return &s }
	rep.Deliveries[0].Shards = append(rep.Deliveries[0].Shards,
		deliveryShard{ShardID: "shardId-000000000001", Checkpoint: "2097252", Owner: owner("n2")})
	rep.Deliveries[0].Shards[0].Owner = owner("n1")
	rep.Deliveries[1].Shards[0].Owner = owner("")
	rep.Analytics[0].Running, rep.Analytics[0].Owner = false, "n2" // runs on the other node
	var text bytes.Buffer
	writeStatusTable(&text, rep)
	golden(t, "status-cluster.golden", text.Bytes())
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "status-cluster.json.golden", append(js, '\n'))
}

// hydrant status and streams against a running Hydrant: the lag goes to 0
// once everything put is delivered, and the delivered count says so.
func TestStatusCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := hydrantBinary(t)
	addr, _ := startServe(t, bin, putConfig)
	var body strings.Builder
	for n := range 300 {
		body.WriteString(`{"n":` + string(rune('0'+n%10)) + "}\n")
	}
	resp, err := http.Post("http://"+addr+"/v1/streams/clicks/records", "application/x-ndjson", strings.NewReader(body.String()))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("put: %v %v", resp, err)
	}
	resp.Body.Close()
	status := func() statusReport {
		out, err := exec.Command(bin, "status", "-endpoint", "http://"+addr, "-output", "json").Output()
		if err != nil {
			t.Fatalf("status: %v", err)
		}
		var rep statusReport
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("status %q: %v", out, err)
		}
		return rep
	}
	await.Cond(t, 30*time.Second, "the delivery caught up", func() bool {
		d := status().Deliveries[0]
		return d.LagRecords == 0 && d.DeliveredRecords == 300
	})
	rep := status()
	if d := rep.Deliveries[0]; d.Name != "clicks-files" || d.LastFlush == nil || d.LagSeconds != 0 || len(d.Shards) != 2 {
		t.Errorf("delivery %+v", d)
	}
	out, err := exec.Command(bin, "streams", "-endpoint", "http://"+addr, "-output", "json", "-interval", "100ms").Output()
	if err != nil {
		t.Fatalf("streams: %v", err)
	}
	var rates []shardRate
	if err := json.Unmarshal(out, &rates); err != nil || len(rates) != 2 || rates[0].RecordsTotal+rates[1].RecordsTotal != 300 {
		t.Fatalf("streams %s: %v", out, err)
	}
	text, err := exec.Command(bin, "status", "-endpoint", "http://"+addr).Output()
	if err != nil || !strings.Contains(string(text), "clicks-files  clicks  0") {
		t.Errorf("status table %q: %v", text, err)
	}
	// Another endpoint answering: exit 1 with the reason.
	cmd := exec.Command(bin, "status", "-endpoint", "http://127.0.0.1:1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); cmd.ProcessState.ExitCode() != 1 || !strings.Contains(stderr.String(), "connection refused") {
		t.Errorf("unreachable: %v %q", err, stderr.String())
	}
}

// hydrant health exits 0 against a ready Hydrant and 1 when nothing answers.
func TestHealthCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := hydrantBinary(t)
	addr, _ := startServe(t, bin, putConfig)
	for _, args := range [][]string{{"health", "-endpoint", "http://" + addr}, {"health", "-live", "-endpoint", "http://" + addr}} {
		if out, err := exec.Command(bin, args...).Output(); err != nil || string(out) != "ok\n" {
			t.Errorf("%v: %q, %v", args, out, err)
		}
	}
	err := exec.Command(bin, "health", "-endpoint", "http://127.0.0.1:1", "-timeout", "1s").Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("nothing listening: %v, want exit 1", err)
	}
}

// hydrant validate's report of a config with mistakes, and of a good one,
// as a user sees it.
func TestValidateOutputGolden(t *testing.T) {
	for _, tt := range []struct{ config, golden string }{
		{"testdata/three-mistakes.yaml", "validate-three-mistakes.golden"},
		{"testdata/partition-needs-error-type.yaml", "validate-partition.golden"},
		{"../../examples/quickstart.yaml", "validate-quickstart.golden"},
	} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"validate", "-c", tt.config}, &stdout, &stderr)
		golden(t, tt.golden, fmt.Appendf(nil, "exit %d\n--- stdout\n%s--- stderr\n%s", code, stdout.Bytes(), stderr.Bytes()))
	}
}
