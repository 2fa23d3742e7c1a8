package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"gopkg.in/yaml.v3"

	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/internal/testnet"
)

const reshardCmdConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: clicks
    shards: {{SHARDS}}
`

// serveOn runs hydrant serve on dir's config until ready; stop ends it
// gracefully and returns its log.
func serveOn(t *testing.T, bin, dir, addr string, shards int) (stop func() string) {
	t.Helper()
	cfg := strings.NewReplacer("{{LISTEN}}", addr, "{{DIR}}", dir, "{{SHARDS}}", fmt.Sprint(shards)).Replace(reshardCmdConfig)
	path := filepath.Join(dir, "hydrant.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, "serve", "-c", path)
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	await.Cond(t, 30*time.Second, "hydrant ready", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return func() string {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		return log.String()
	}
}

// hydrant streams reshard drives the Kinesis API: -shards in steps within
// AWS's limits, -split in the middle, -merge in either order; a new
// shards: in the config reshards the stream at the next start.
func TestStreamsReshardCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := hydrantBinary(t)
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))
	stop := serveOn(t, bin, dir, addr, 2)
	reshard := func(args ...string) (string, int) {
		cmd := exec.Command(bin, append([]string{"streams", "reshard", "-endpoint", "http://" + addr}, args...)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		cmd.Run()
		return out.String() + errOut.String(), cmd.ProcessState.ExitCode()
	}
	openIDs := func(out string) []string {
		var ids []string
		for _, line := range strings.Split(out, "\n") {
			if id, _, ok := strings.Cut(line, "\t"); ok {
				ids = append(ids, id)
			}
		}
		return ids
	}
	out, code := reshard("clicks", "-shards", "5") // 2 → 4 → 5
	if code != 0 || !strings.HasPrefix(out, "clicks: 5 open shards") || len(openIDs(out)) != 5 {
		t.Fatalf("-shards 5: exit %d\n%s", code, out)
	}
	first := openIDs(out)[0]
	out, code = reshard("-split", first, "clicks")
	if ids := openIDs(out); code != 0 || len(ids) != 6 || ids[0] == first {
		t.Fatalf("-split %s: exit %d\n%s", first, code, out)
	}
	ids := openIDs(out)
	out, code = reshard("clicks", "-merge", ids[1]+","+ids[0]) // the upper one first
	if code != 0 || len(openIDs(out)) != 5 {
		t.Fatalf("-merge %s,%s: exit %d\n%s", ids[1], ids[0], code, out)
	}
	// hydrant streams shows the lineage: closed shards and their children.
	list, err := exec.Command(bin, "streams", "-endpoint", "http://"+addr, "-output", "json", "-interval", "10ms").Output()
	if err != nil {
		t.Fatal(err)
	}
	var rates []shardRate
	if err := json.Unmarshal(list, &rates); err != nil {
		t.Fatal(err)
	}
	states := map[string]int{}
	for _, r := range rates {
		states[r.State]++
		if r.ShardID == ids[0] && (r.State != "closed" || len(r.Parents) != 1 || r.Parents[0] != first) {
			t.Errorf("split child %s: %+v, want closed (merged since) with parent %s", ids[0], r, first)
		}
	}
	if states["open"] != 5 || states["closed"] != len(rates)-5 {
		t.Errorf("hydrant streams: %v", states)
	}
	m := scrape(t, "http://"+addr)
	if m[`hydrant_stream_shards{state="open",stream="clicks"}`] != 5 || m[`hydrant_stream_shards{state="closed",stream="clicks"}`] != float64(len(rates)-5) ||
		m[`hydrant_stream_updating{stream="clicks"}`] != 0 {
		t.Errorf("metrics: open %v closed %v updating %v", m[`hydrant_stream_shards{state="open",stream="clicks"}`],
			m[`hydrant_stream_shards{state="closed",stream="clicks"}`], m[`hydrant_stream_updating{stream="clicks"}`])
	}
	text, err := exec.Command(bin, "streams", "-endpoint", "http://"+addr, "-interval", "10ms").Output()
	if err != nil || !strings.Contains(string(text), "STATE") || !strings.Contains(string(text), first) {
		t.Errorf("hydrant streams table %q: %v", text, err)
	}
	if out, code := reshard("clicks", "-shards", "3", "-split", "1"); code != 2 {
		t.Errorf("two operations: exit %d, want 2\n%s", code, out)
	}
	if out, code := reshard("nope", "-shards", "3"); code != 1 || !strings.Contains(out, "ResourceNotFoundException") {
		t.Errorf("unknown stream: exit %d, want 1 naming ResourceNotFoundException\n%s", code, out)
	}
	stop()

	// The config asks for 3 shards now (it said 2): the start reshards.
	stop = serveOn(t, bin, dir, addr, 3)
	client := kinesisClient("http://"+addr, "us-east-1", "")
	got, err := client.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: aws.String("clicks"),
		ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}})
	if err != nil || len(got.Shards) != 3 {
		t.Fatalf("after restarting with shards: 3: %v, %d open shards", err, len(got.Shards))
	}
	log := stop()
	if !strings.Contains(log, "shards changed in the config; resharding") {
		t.Errorf("no log line for the reshard at start:\n%s", log)
	}
	// The same config again: the shards stay as they are (3), whatever the
	// API did meanwhile — the config's count applies when it changes.
	stop = serveOn(t, bin, dir, addr, 3)
	if out, code := reshard("clicks", "-shards", "6"); code != 0 || len(openIDs(out)) != 6 {
		t.Fatalf("-shards 6: exit %d\n%s", code, out)
	}
	stop()
	stop = serveOn(t, bin, dir, addr, 3)
	got, err = client.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: aws.String("clicks"),
		ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}})
	if err != nil || len(got.Shards) != 6 {
		t.Fatalf("restart with the config unchanged: %v, %d open shards, want the API's 6", err, len(got.Shards))
	}
	stop()
}

// hydrant analytics discover prints the schema of a stream's records, as
// YAML that a SQL application's config takes.
func TestAnalyticsDiscoverCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := hydrantBinary(t)
	addr, _ := startServe(t, bin, putConfig)
	body := `{"ticker":"AMZN","price":101.5,"qty":3,"at":"2026-12-05T12:00:00Z","tags":["x"]}` + "\n" +
		`{"ticker":"MSFT","price":7,"qty":1,"at":"2026-12-05T12:00:01Z","ok":true}` + "\n"
	resp, err := http.Post("http://"+addr+"/v1/streams/clicks/records", "application/x-ndjson", strings.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("put: %v %v", resp, err)
	}
	resp.Body.Close()
	out, err := exec.Command(bin, "analytics", "discover", "-endpoint", "http://"+addr, "clicks").Output()
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	// The records land on either shard, read in turn: columns come in the
	// order first seen, so compare them as a set.
	if !strings.HasPrefix(string(out), "# clicks: 2 records read\nschema:\n") {
		t.Fatalf("discover printed\n%s", out)
	}
	var cfg struct {
		Schema []struct{ Name, Type string } `yaml:"schema"`
	}
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("not YAML a config takes: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, c := range cfg.Schema {
		got[c.Name] = c.Type
	}
	want := map[string]string{"at": "timestamp_millis", "price": "double", "qty": "int64", "tags": "json", "ticker": "string", "ok": "boolean"}
	if !maps.Equal(got, want) {
		t.Fatalf("discovered %v, want %v\n%s", got, want, out)
	}
	if err := exec.Command(bin, "analytics", "discover", "-endpoint", "http://"+addr, "nope").Run(); err == nil {
		t.Error("an unknown stream: exit 0")
	}
}
