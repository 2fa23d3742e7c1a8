package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
)

// syslogNGConfig is the README's syslog-ng recipe ("Log shippers"), with
// the test's paths and address: tail a log file, POST its lines as text in
// batches to the native API with an API key from the environment. Keep the
// two identical.
const syslogNGConfig = `@version: current

source s_app {
  file("{{LOG}}" follow-freq(1) flags(no-parse));
};

destination d_hydrant {
  http(url("http://{{ADDR}}/v1/streams/events/records?atomic=true")
       method("POST")
       headers("Authorization: Bearer ` + "`HYDRANT_SHIPPER_KEY`" + `", "Content-Type: text/plain")
       body("${MESSAGE}")
       body-suffix("\n")
       batch-lines(100) batch-timeout(1000)
       time-reopen(1));
};

log { source(s_app); destination(d_hydrant); flags(flow-control); };
`

// The README's recipe is syslogNGConfig with a user's path and address.
func TestSyslogNGRecipeInREADME(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer("{{LOG}}", "/var/log/app/events.log", "{{ADDR}}", "127.0.0.1:4545").Replace(syslogNGConfig)
	_, block, ok := strings.Cut(string(readme), "\n```\n@version: current\n")
	block, _, ok2 := strings.Cut(block, "```\n")
	if !ok || !ok2 {
		t.Fatal("README.md has no syslog-ng recipe (a code block starting with @version: current)")
	}
	if got := "@version: current\n" + block; got != want {
		t.Fatalf("README.md's syslog-ng recipe is not the configuration e2e/syslog_test.go runs; README:\n%s\ntest (with README's path and address):\n%s", got, want)
	}
}

const syslogHydrantConfig = `
server:
  listen: {{LISTEN}}
  auth:
    api_keys: [{key: "${HYDRANT_SHIPPER_KEY}", streams: [events], actions: [put]}]
storage: {data_dir: "{{DIR}}/data"}
metrics: {public: true}
deliveries:
  - name: events
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/out", prefix: "events/"}
`

const syslogNGInstall = "apt-get install -y syslog-ng-core syslog-ng-mod-http"

// syslogNG returns the syslog-ng binary, if it has the http() destination.
func syslogNG(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("syslog-ng")
	if err != nil {
		bin = "/usr/sbin/syslog-ng" // not on a non-root user's PATH
	}
	out, err := exec.Command(bin, "--version").Output()
	problem := ""
	switch {
	case err != nil:
		problem = "syslog-ng is not installed"
	case !regexp.MustCompile(`(?m)^Available-Modules:.*\bhttp\b`).Match(out):
		problem = "syslog-ng has no http() destination (package syslog-ng-mod-http)"
	}
	if problem != "" {
		msg := problem + ": run `make syslog-ng` (make test does) or " + syslogNGInstall
		if testing.Short() {
			t.Skip(msg)
		}
		t.Fatal(msg)
	}
	return bin
}

// syslogThrottledConfig gives the stream syslog-ng posts to a quota of
// 50 records/s, a tenth of the rate it posts at: with atomic puts, each
// batch is stored whole or refused whole with 429, and syslog-ng sends a
// refused batch again (time-reopen); with 207 answers it would drop the
// throttled half of each batch.
const syslogThrottledConfig = `
server:
  listen: {{LISTEN}}
  auth:
    api_keys: [{key: "${HYDRANT_SHIPPER_KEY}", streams: [events], actions: [put]}]
storage: {data_dir: "{{DIR}}/data"}
metrics: {public: true}
deliveries:
  - name: events
    shard_limits: {records_per_second: 50}
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/out", prefix: "events/"}
`

// 1,000 lines appended to a file that a real syslog-ng tails and POSTs to
// the real binary's native API, each line as a text record: every line is
// delivered, byte for byte, once; also when the stream's quota is a tenth
// of the rate syslog-ng posts at (atomic puts: a batch is refused whole
// and sent again, never cut).
func TestSyslogNGShipsFileLines(t *testing.T) {
	bin := syslogNG(t)
	t.Run("within quota", func(t *testing.T) { testSyslogNGShipsFileLines(t, bin, syslogHydrantConfig, false) })
	t.Run("above quota", func(t *testing.T) { testSyslogNGShipsFileLines(t, bin, syslogThrottledConfig, true) })
}

func testSyslogNGShipsFileLines(t *testing.T, bin, hydrantConfig string, throttled bool) {
	dir := t.TempDir()
	listen := freeAddr(t)
	const key = "syslog-ng-shipper-key-0123456789"
	h := startHydrant(t, dir, listen, hydrantConfig, "HYDRANT_SHIPPER_KEY="+key)

	logPath := filepath.Join(dir, "app.log")
	if err := os.WriteFile(logPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "syslog-ng.conf")
	cfg := strings.NewReplacer("{{LOG}}", logPath, "{{ADDR}}", listen).Replace(syslogNGConfig)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	sng := startSyslogNG(t, bin, dir, cfgPath, "HYDRANT_SHIPPER_KEY="+key)

	// Lines of every kind an application writes: plain, JSON, quotes and
	// backslashes, tabs, non-ASCII, long ones. Each is unique.
	want := make([]string, 1000)
	for i := range want {
		switch i % 5 {
		case 0:
			want[i] = fmt.Sprintf("%04d plain text line", i)
		case 1:
			want[i] = fmt.Sprintf(`{"n":%d,"msg":"json with \"quotes\" and \\ backslash"}`, i)
		case 2:
			want[i] = fmt.Sprintf("%04d\ttab\tseparated\tfields  and  spaces", i)
		case 3:
			want[i] = fmt.Sprintf("%04d non-ASCII: żółć ✓ 日本語 🚀", i)
		case 4:
			want[i] = fmt.Sprintf("%04d long %s", i, strings.Repeat("x", 4000))
		}
	}
	// Appended in 10 writes, as an application logs.
	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for chunk := range slices.Chunk(want, 100) {
		if _, err := f.WriteString(strings.Join(chunk, "\n") + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "out")
	var got []string
	await.Cond(t, 120*time.Second, "1,000 lines delivered", func() bool {
		sng.checkRunning()
		got = deliveredRecords(t, out)
		return len(got) >= len(want)
	})
	refused := throttledRecords(t, "http://"+listen)
	t.Logf("1,000 lines delivered %v after they were written; %d records refused by the quota and sent again",
		time.Since(start).Round(100*time.Millisecond), refused)
	if throttled && refused == 0 {
		t.Fatal("no record was refused by the 50 records/s quota: the test did not put above it")
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		missing, extra := linesNotIn(want, got), linesNotIn(got, want)
		t.Fatalf("delivered lines differ from the lines written: %d missing (first: %.80q), %d unexpected (first: %.80q)",
			len(missing), firstLine(missing), len(extra), firstLine(extra))
	}
	sng.stop()
	h.stop()
}

// throttledRecords sums hydrant_store_throttled_records_total{reason="quota"}
// over the shards, from the public /metrics.
func throttledRecords(t *testing.T, url string) (n int) {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "hydrant_store_throttled_records_total{") || !strings.Contains(line, `reason="quota"`) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		n += int(v)
	}
	return n
}

// deliveredRecords returns the lines of every delivered file under root,
// exactly as written (a record ends with the newline the file destination
// adds).
func deliveredRecords(t *testing.T, root string) []string {
	t.Helper()
	var lines []string
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".tmp") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil // renamed while walking
		}
		if len(b) > 0 && !bytes.HasSuffix(b, []byte("\n")) {
			t.Fatalf("%s does not end with a newline", path)
		}
		lines = append(lines, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
		return nil
	})
	return lines
}

// linesNotIn returns the elements of sorted a not in sorted b (as multisets).
func linesNotIn(a, b []string) []string {
	var out []string
	for i, j := 0, 0; i < len(a); {
		switch {
		case j >= len(b) || a[i] < b[j]:
			out = append(out, a[i])
			i++
		case a[i] > b[j]:
			j++
		default:
			i, j = i+1, j+1
		}
	}
	return out
}

func firstLine(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// syslogNGProcess is a syslog-ng running in the foreground with all its
// state (pid file, persist file, control socket) under the test's directory.
type syslogNGProcess struct {
	t       *testing.T
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
}

func startSyslogNG(t *testing.T, bin, dir, cfgPath string, env ...string) *syslogNGProcess {
	t.Helper()
	ctl := filepath.Join(dir, "syslog-ng.ctl")
	logPath := filepath.Join(dir, "syslog-ng.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// -e: its own messages to stderr, for the log shown when the test fails.
	cmd := exec.Command(bin, "-F", "-e", "--no-caps",
		"--cfgfile", cfgPath,
		"--pidfile", filepath.Join(dir, "syslog-ng.pid"),
		"--persist-file", filepath.Join(dir, "syslog-ng.persist"),
		"--control", ctl)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &syslogNGProcess{t: t, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			log, _ := os.ReadFile(logPath)
			t.Logf("syslog-ng log:\n%s", log)
		}
	})
	// The control socket appears once the configuration is running.
	await.Cond(t, 15*time.Second, "syslog-ng running (its control socket)", func() bool {
		p.checkRunning()
		_, err := os.Stat(ctl)
		return err == nil
	})
	return p
}

// checkRunning fails the test if syslog-ng has exited.
func (p *syslogNGProcess) checkRunning() {
	p.t.Helper()
	select {
	case <-p.exited:
		log, _ := os.ReadFile(p.logPath)
		p.t.Fatalf("syslog-ng exited (%v):\n%s", p.cmd.ProcessState, log)
	default:
	}
}

// stop sends SIGTERM and waits for syslog-ng to exit.
func (p *syslogNGProcess) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.t.Fatal("syslog-ng did not stop within 15s of SIGTERM")
	}
}
