package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/testbin"

	"github.com/hydrant-dev/hydrant/internal/testnet"

	"github.com/hydrant-dev/hydrant/internal/await"
)

// hydrantBinary builds cmd/hydrant once per test run.
func hydrantBinary(t *testing.T) string { return testbin.Hydrant(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	printFaultSummary()
	testbin.Cleanup()
	os.Exit(code)
}

// hydrant is a running hydrant process.
type hydrant struct {
	t       *testing.T
	cmd     *exec.Cmd
	url     string
	logPath string
	exited  chan struct{}
}

func freeAddr(t *testing.T) string {
	return fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))
}

// startHydrant writes cfg (with {{LISTEN}} and {{DIR}} replaced) and runs
// `hydrant serve` on it until ready.
func startHydrant(t *testing.T, dir, listen, cfg string, env ...string) *hydrant {
	t.Helper()
	cfgPath := filepath.Join(dir, "hydrant.yaml")
	cfg = strings.NewReplacer("{{LISTEN}}", listen, "{{DIR}}", dir).Replace(cfg)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return startHydrantConfig(t, dir, listen, cfgPath, env...)
}

func startHydrantConfig(t *testing.T, dir, listen, cfgPath string, env ...string) *hydrant {
	t.Helper()
	h := launchHydrant(t, dir, cfgPath, env...)
	h.url = "http://" + listen
	h.waitReady(http.DefaultClient)
	return h
}

// launchHydrant starts `hydrant serve` on cfgPath; the process is killed
// when the test ends, and its log shown if the test failed.
func launchHydrant(t *testing.T, dir, cfgPath string, env ...string) *hydrant {
	t.Helper()
	logPath := filepath.Join(dir, fmt.Sprintf("hydrant-%d.log", time.Now().UnixNano()))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(hydrantBinary(t), "serve", "-c", cfgPath, "-log-level", "debug")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &hydrant{t: t, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(h.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-h.exited
		if t.Failed() {
			log, _ := os.ReadFile(logPath)
			t.Logf("hydrant log:\n%s", log)
		}
	})
	return h
}

// waitReady polls /readyz until it answers 200.
func (h *hydrant) waitReady(client *http.Client) {
	h.t.Helper()
	await.Cond(h.t, 30*time.Second, "hydrant ready", func() bool {
		select {
		case <-h.exited:
			log, _ := os.ReadFile(h.logPath)
			h.t.Fatalf("hydrant exited at start:\n%s", log)
		default:
		}
		resp, err := client.Get(h.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// kill sends SIGKILL and waits for the process to be gone.
func (h *hydrant) kill() {
	h.cmd.Process.Signal(syscall.SIGKILL)
	<-h.exited
}

// stop sends SIGTERM and waits for a clean exit.
func (h *hydrant) stop() {
	h.t.Helper()
	h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
	case <-time.After(60 * time.Second):
		h.t.Fatal("hydrant did not stop within 60s of SIGTERM")
	}
	if code := h.cmd.ProcessState.ExitCode(); code != 0 {
		h.t.Fatalf("hydrant exited with %d after SIGTERM", code)
	}
}

type putResult struct {
	FailedRecordCount int `json:"failed_record_count"`
	Records           []struct {
		ShardID        string `json:"shard_id"`
		SequenceNumber string `json:"sequence_number"`
		ErrorCode      string `json:"error_code"`
	} `json:"records"`
}

// put sends an NDJSON body and returns the status and per-record results.
func (h *hydrant) put(stream string, body []byte) (int, putResult, error) {
	return putRecords(http.DefaultClient, h.url, stream, body)
}

// putRecords sends an NDJSON body to the hydrant at url (http://host:port)
// with client: the same address reaches a restarted process.
func putRecords(client *http.Client, url, stream string, body []byte) (int, putResult, error) {
	resp, err := client.Post(url+"/v1/streams/"+stream+"/records", "application/x-ndjson", bytes.NewReader(body))
	if err != nil {
		return 0, putResult{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, putResult{}, err
	}
	var out putResult
	if err := json.Unmarshal(raw, &out); err != nil {
		return resp.StatusCode, out, fmt.Errorf("response %q: %w", raw, err)
	}
	return resp.StatusCode, out, nil
}
