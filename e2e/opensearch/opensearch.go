package opensearch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/testnet"
)

// Server is a running (or stopped, between Stop and Start) search server.
type Server struct {
	URL  string // http://127.0.0.1:PORT
	Port int
	Dir  string // data directory, kept across restarts; server.log holds the JVM's output
	home string // the build: lib/ holds searchserver.jar and its dependencies
	java string

	cmd    *exec.Cmd
	stdin  io.WriteCloser // held open: the server exits when it closes (this process died)
	exited chan struct{}
}

// readyPrefix starts the one line Main prints on stdout once HTTP is bound.
const readyPrefix = "HYDRANT-SEARCH-READY "

// JVM options for a 2-core machine that runs other tests alongside: a small
// heap, the serial collector and C1 only start fastest and take least CPU.
var jvmOptions = []string{
	"-Xms512m", "-Xmx1g", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
	"-XX:+ExitOnOutOfMemoryError", "-XX:-UsePerfData", "-Djava.awt.headless=true",
	"-Dhydrant.search.watchStdin=true",
}

// Home returns the directory `make opensearch` built the server into,
// failing the test when it has not been built (skipping it in -short mode).
func Home(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("HYDRANT_OPENSEARCH")
	if dir == "" {
		_, here, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(here), "..", "..", ".cache", "opensearch")
	}
	if _, err := os.Stat(filepath.Join(dir, "lib", "searchserver.jar")); err != nil {
		if testing.Short() {
			t.Skip("the OpenSearch test server is not built; run `make opensearch` (make test does)")
		}
		t.Fatalf("OpenSearch test server not built in %s: run `make opensearch` or `make test`, or set HYDRANT_OPENSEARCH", dir)
	}
	return dir
}

func javaBinary(t testing.TB) string {
	t.Helper()
	if h := os.Getenv("JAVA_HOME"); h != "" {
		return filepath.Join(h, "bin", "java")
	}
	p, err := exec.LookPath("java")
	if err != nil {
		if testing.Short() {
			t.Skip("no java on PATH and JAVA_HOME unset")
		}
		t.Fatal("the OpenSearch test server needs Java 17+: set JAVA_HOME or put java on PATH")
	}
	return p
}

// Start runs a server with a new data directory on a free port, waiting
// until it is ready; it is killed and its directory removed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	home, java := Home(t), javaBinary(t)
	dir, err := os.MkdirTemp("", "hydrant-opensearch-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{Port: testnet.FreePort(t), Dir: dir, home: home, java: java}
	s.URL = fmt.Sprintf("http://127.0.0.1:%d", s.Port)
	t.Cleanup(s.kill) // runs before the RemoveAll above
	s.Start(t)
	return s
}

// Start (re)starts the server on the same port and data directory, so the
// indices written before Stop are there again, and waits until it is ready:
// the node has printed its ready line and the cluster is at least yellow.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if s.cmd != nil {
		t.Fatal("opensearch: Start while running")
	}
	logPath := filepath.Join(s.Dir, "server.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== start %s on port %d\n", time.Now().Format(time.RFC3339Nano), s.Port)
	args := append(append([]string{}, jvmOptions...),
		"-cp", filepath.Join(s.home, "lib")+string(filepath.Separator)+"*",
		"dev.hydrant.searchserver.Main", s.Dir, fmt.Sprint(s.Port))
	cmd := exec.Command(s.java, args...)
	cmd.Dir = s.Dir
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", s.java, err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), readyPrefix); ok {
				select {
				case ready <- line:
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout) // a line too long for the scanner
	}()
	exited := s.exited
	go func() { cmd.Wait(); logf.Close(); close(exited) }()

	// Waits are bounded generously: several JVMs may start at once on 2 cores.
	fail := func(format string, args ...any) {
		t.Helper()
		s.kill()
		t.Fatalf("opensearch: %s\n%s", fmt.Sprintf(format, args...), tail(logPath))
	}
	deadline := time.Now().Add(3 * time.Minute)
	select {
	case url := <-ready:
		if url != s.URL {
			fail("ready on %s, want %s", url, s.URL)
		}
	case <-exited:
		fail("exited at start (%v):", cmd.ProcessState)
	case <-time.After(time.Until(deadline)):
		fail("not ready after 3m:")
	}
	client := &http.Client{Timeout: time.Minute}
	health := s.URL + "/_cluster/health?wait_for_status=yellow&timeout=30s"
	for {
		resp, err := client.Get(health)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("%s", resp.Status)
		}
		select {
		case <-exited:
			fail("exited at start (%v):", cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			fail("cluster not yellow after 3m (%v):", err)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// Stop shuts the server down with SIGTERM (the node closes its indices),
// killing it when it has not exited within a minute; Start brings it back.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(time.Minute):
		t.Logf("opensearch did not stop within 1m of SIGTERM; killing it")
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.stdin.Close()
	s.cmd = nil
}

// kill ends the JVM at once (test cleanup, failed starts).
func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.stdin.Close()
	s.cmd = nil
}

// tail returns the end of the server's log, for failure messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	const max = 8 << 10
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// Count refreshes the index (or indices: a pattern may be given) and
// returns its document count. An index being created answers 503 until its
// primary shard starts; Count asks again until then (30 s at most).
func (s *Server) Count(t testing.TB, index string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.Do(t, "POST", "/"+index+"/_refresh", nil)
		code, _, body := s.Do(t, "GET", "/"+index+"/_count", nil)
		var r struct{ Count int }
		if code == http.StatusOK && json.Unmarshal(body, &r) == nil {
			return r.Count
		}
		if code != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("count %s: %d %s", index, code, body)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// Do sends a request to the server (headers as name, value pairs) and
// returns the status, headers and body; it fails the test when there is no
// answer.
func (s *Server) Do(t testing.TB, method, path string, body []byte, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	c := &http.Client{Timeout: time.Minute}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}
