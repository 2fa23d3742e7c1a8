package icebergrest

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/internal/testnet"
)

// Options points the catalog at its warehouse.
type Options struct {
	// Warehouse is where new tables go: s3://bucket/prefix. The bucket
	// must exist.
	Warehouse string
	// S3Endpoint, AccessKey and SecretKey reach the warehouse's S3 server,
	// which is addressed path-style (as MinIO is).
	S3Endpoint string
	AccessKey  string
	SecretKey  string
	// Region is the S3 region; us-east-1 when empty.
	Region string
	// IncludeCredentials makes LoadTable and CreateTable responses carry
	// the access key and secret in their config (the server's
	// include-credentials property), as a catalog that vends credentials does.
	IncludeCredentials bool
}

// Server is a running (or stopped, between Stop and Start) REST catalog.
type Server struct {
	URI  string // http://127.0.0.1:PORT, the catalog's base URI (its API is under /v1)
	Port int
	Dir  string // holds catalog.db (the SQLite catalog) and server.log

	java, lib string
	env       []string
	cmd       *exec.Cmd // nil while stopped
	exited    chan struct{}
}

// JVM options for a 2-core machine that runs other servers alongside:
// a small heap, the serial collector and C1 only start fastest.
var jvmOptions = []string{
	"-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
	"-XX:+ExitOnOutOfMemoryError", "-XX:-UsePerfData",
	"-Dorg.slf4j.simpleLogger.showDateTime=true", "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
}

// mainClass is the server in iceberg-open-api's test-fixtures jar.
const mainClass = "org.apache.iceberg.rest.RESTCatalogServer"

// builtStamp is the file `make icebergrest` writes once every jar is in lib/.
const builtStamp = ".built"

// Build returns the JVM and the directory of the server's jars, failing
// the test when either is missing (skipping it in -short mode outside CI).
func Build(t testing.TB) (java, lib string) {
	t.Helper()
	dir := os.Getenv("HYDRANT_ICEBERG_REST")
	if dir == "" {
		_, here, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(here), "..", "..", ".cache", "icebergrest")
	}
	lib = filepath.Join(dir, "lib")
	problem := ""
	java, err := exec.LookPath("java")
	if h := os.Getenv("JAVA_HOME"); h != "" {
		java, err = filepath.Join(h, "bin", "java"), nil
	}
	if err != nil {
		problem = "no java on PATH and JAVA_HOME unset: the Iceberg REST catalog needs Java 17+"
	} else if _, err := os.Stat(filepath.Join(lib, builtStamp)); err != nil {
		problem = fmt.Sprintf("the Iceberg REST catalog is not built in %s: run `make icebergrest` (make test does), or set HYDRANT_ICEBERG_REST", dir)
	}
	if problem != "" {
		if testing.Short() && os.Getenv("CI") == "" {
			t.Skip(problem)
		}
		t.Fatal(problem)
	}
	return java, lib
}

// Start runs a catalog with an empty SQLite file until the test ends,
// waiting until it answers.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	java, lib := Build(t)
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	s := &Server{Port: testnet.FreePort(t), Dir: t.TempDir(), java: java, lib: lib}
	s.URI = fmt.Sprintf("http://127.0.0.1:%d", s.Port)
	s.env = []string{
		fmt.Sprintf("CATALOG_REST_PORT=%d", s.Port),
		"CATALOG_URI=jdbc:sqlite:" + filepath.Join(s.Dir, "catalog.db"),
		// One connection: SQLite has one writer, and a second pooled
		// connection would meet SQLITE_BUSY under concurrent commits.
		"CATALOG_CLIENTS=1",
		"CATALOG_WAREHOUSE=" + o.Warehouse,
		"CATALOG_IO__IMPL=org.apache.iceberg.aws.s3.S3FileIO",
		"CATALOG_S3_ENDPOINT=" + o.S3Endpoint,
		"CATALOG_S3_PATH__STYLE__ACCESS=true",
		"CATALOG_S3_ACCESS__KEY__ID=" + o.AccessKey,
		"CATALOG_S3_SECRET__ACCESS__KEY=" + o.SecretKey,
		"CATALOG_CLIENT_REGION=" + o.Region,
		fmt.Sprintf("CATALOG_INCLUDE__CREDENTIALS=%t", o.IncludeCredentials),
		// For the SDK's own lookups (region, credentials) should a property be missed.
		"AWS_ACCESS_KEY_ID=" + o.AccessKey, "AWS_SECRET_ACCESS_KEY=" + o.SecretKey, "AWS_REGION=" + o.Region,
	}
	t.Cleanup(s.kill)
	s.Start(t)
	return s
}

// Start (re)starts the server on its port and SQLite file, so the
// namespaces and tables made before Stop are there again, and waits until
// GET /v1/config answers 200.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if s.cmd != nil {
		t.Fatal("icebergrest: Start while running")
	}
	logPath := filepath.Join(s.Dir, "server.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== start %s on port %d\n", time.Now().Format(time.RFC3339Nano), s.Port)
	args := append(append([]string{}, jvmOptions...), "-cp", s.lib+string(filepath.Separator)+"*", mainClass)
	cmd := exec.Command(s.java, args...)
	cmd.Dir = s.Dir
	cmd.Env = append(catalogFreeEnv(), s.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("icebergrest: start %s: %v", s.java, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	s.cmd, s.exited = cmd, exited

	client := &http.Client{Timeout: 10 * time.Second}
	gone := false
	// Generous: several JVMs may start at once on 2 cores (alone it takes under a second).
	ready := await.Within(2*time.Minute, func() bool {
		select {
		case <-exited:
			gone = true
			return true
		default:
		}
		resp, err := client.Get(s.URI + "/v1/config")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	switch {
	case gone:
		s.cmd = nil
		t.Fatalf("icebergrest: the server exited at start (%v):\n%s", cmd.ProcessState, tail(logPath))
	case !ready:
		s.kill()
		t.Fatalf("icebergrest: GET /v1/config did not answer 200 within 2m:\n%s", tail(logPath))
	}
}

// Stop shuts the server down (SIGTERM, then SIGKILL after 30 s) and waits
// until it has exited; Start brings it back.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.cmd == nil {
		t.Fatal("icebergrest: Stop while stopped")
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd, s.exited = nil, nil
}

// Log returns the end of the server's log (every start's output), for
// failure messages.
func (s *Server) Log() string { return tail(filepath.Join(s.Dir, "server.log")) }

// kill ends the JVM at once (test cleanup, failed starts).
func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd, s.exited = nil, nil
}

// catalogFreeEnv is this process's environment without CATALOG_*
// variables, which the server would take as catalog properties.
func catalogFreeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CATALOG_") {
			env = append(env, kv)
		}
	}
	return env
}

// tail returns the last 8 KiB of a log file, from a line start.
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
