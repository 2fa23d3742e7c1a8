package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/internal/testnet"
)

// startServe runs `hydrant serve` on config (with {{LISTEN}} and {{DIR}}
// filled in) until the test ends and returns its address.
func startServe(t *testing.T, bin, config string) (addr, dir string) {
	t.Helper()
	dir = t.TempDir()
	addr = fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))
	cfg := strings.NewReplacer("{{LISTEN}}", addr, "{{DIR}}", dir).Replace(config)
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
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("hydrant log:\n%s", log.String())
		}
	})
	await.Cond(t, 30*time.Second, "hydrant ready", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return addr, dir
}

const putConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: clicks
    shards: 2
    shard_limits: {bytes_per_second: 1MiB, records_per_second: 500}
deliveries:
  - name: clicks-files
    source: clicks
    buffer: {size: 1MiB, interval: 200ms}
    destination:
      file: {dir: "{{DIR}}/out"}
`

// hydrant put sends a file's lines in batches, sends throttled records
// again until they are stored, reports a refused line by its line number
// without losing the lines around it, and exits 1 when a record failed.
func TestPutCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := hydrantBinary(t)
	addr, dir := startServe(t, bin, putConfig)
	var in strings.Builder
	for n := 1; n <= 3000; n++ {
		if n == 7 {
			in.WriteString("{\"n\": broken\n")
			continue
		}
		fmt.Fprintf(&in, "{\"n\":%d}\n", n)
	}
	file := filepath.Join(t.TempDir(), "in.ndjson")
	os.WriteFile(file, []byte(in.String()), 0o600)

	// 3,000 records at 500/s per shard on 2 shards: most of them are throttled at first.
	cmd := exec.Command(bin, "put", "-endpoint", "http://"+addr, "-output", "json", "clicks", file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit %d (%v), want 1 for one refused line; stderr: %s", code, err, stderr.String())
	}
	var sum putSummary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("summary %q: %v", stdout.String(), err)
	}
	if sum.Stream != "clicks" || sum.Records != 2999 || sum.Failed != 1 || len(sum.Errors) != 1 ||
		sum.Errors[0].Line != 7 || sum.Errors[0].Code != "InvalidArgumentException" {
		t.Fatalf("summary %+v", sum)
	}
	await.Cond(t, 30*time.Second, "2,999 records delivered", func() bool {
		return destinationtest.CountLines(destinationtest.DeliveredLines(t, filepath.Join(dir, "out"))) == 2999
	})

	// Lines from stdin, all stored: exit 0 and a one-line summary.
	cmd = exec.Command(bin, "put", "-endpoint", "http://"+addr, "clicks", "-")
	cmd.Stdin = strings.NewReader("plain line one\n\nplain line two\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("put from stdin: %v", err)
	}
	if !strings.HasPrefix(string(out), "put 2 records (28 B) to clicks in ") || !strings.HasSuffix(string(out), "; 0 failed\n") {
		t.Errorf("summary %q", out)
	}

	// A stream that does not exist: exit 1 and the server's reason.
	cmd = exec.Command(bin, "put", "-endpoint", "http://"+addr, "nosuch", file)
	stderr.Reset()
	cmd.Stderr = &stderr
	if err := cmd.Run(); cmd.ProcessState.ExitCode() != 1 || !strings.Contains(stderr.String(), `stream "nosuch" not found`) {
		t.Errorf("unknown stream: %v, stderr %q", err, stderr.String())
	}
	// Usage errors exit 2.
	if err := exec.Command(bin, "put").Run(); err == nil || err.(*exec.ExitError).ExitCode() != 2 {
		t.Errorf("put without a stream: %v, want exit 2", err)
	}
}

// hydrant replay prints a stream's records through the Kinesis read path:
// all of them, from a sequence number of a shard, or from a time.
func TestReplayCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := hydrantBinary(t)
	addr, _ := startServe(t, bin, putConfig)
	var body strings.Builder
	for n := range 300 {
		fmt.Fprintf(&body, "{\"n\":%d}\n", n)
	}
	resp, err := http.Post("http://"+addr+"/v1/streams/clicks/records", "application/x-ndjson", strings.NewReader(body.String()))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("put: %v %v", resp, err)
	}
	resp.Body.Close()
	replay := func(args ...string) []replayRecord {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"replay", "clicks", "-endpoint", "http://" + addr, "-output", "json"}, args...)...).Output()
		if err != nil {
			t.Fatalf("replay %v: %v", args, err)
		}
		var recs []replayRecord
		dec := json.NewDecoder(bytes.NewReader(out))
		for dec.More() {
			var r replayRecord
			if err := dec.Decode(&r); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
		return recs
	}
	all := replay()
	if len(all) != 300 {
		t.Fatalf("%d records from trim_horizon, want 300", len(all))
	}
	seen := map[string]bool{}
	for _, r := range all {
		seen[*r.Data] = true
	}
	if len(seen) != 300 || !seen[`{"n":299}`] {
		t.Fatalf("%d distinct records", len(seen))
	}
	// From the 11th record of a shard, on that shard only.
	var shard []replayRecord
	for _, r := range all {
		if r.ShardID == all[0].ShardID {
			shard = append(shard, r)
		}
	}
	from := replay("-shard", all[0].ShardID, "-from", shard[10].SequenceNumber)
	if len(from) != len(shard)-10 || from[0].SequenceNumber != shard[10].SequenceNumber {
		t.Errorf("from sequence %s: %d records starting at %s, want %d", shard[10].SequenceNumber, len(from), from[0].SequenceNumber, len(shard)-10)
	}
	if got := replay("-from", time.Now().Add(time.Hour).Format(time.RFC3339)); len(got) != 0 {
		t.Errorf("%d records from an hour ahead", len(got))
	}
	if got := replay("-from", "1h", "-limit", "5"); len(got) != 5 {
		t.Errorf("%d records with -limit 5", len(got))
	}
}
