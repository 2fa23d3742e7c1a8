// Package minio starts a real MinIO server for tests: a throwaway process on
// a random loopback port with its data in a temporary directory, stopped by
// PID when the test ends. Stop and Start take a server down and bring it
// back on the same port with its data, to test outages. The binary is built once by `make minio` and
// cached under .cache/bin (or named by HYDRANT_MINIO_BIN).
package minio

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/testnet"

	"github.com/hydrant-dev/hydrant/internal/testcert"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Server is a running MinIO.
type Server struct {
	Endpoint  string // http://127.0.0.1:PORT, or https:// when started with TLS
	AccessKey string
	SecretKey string
	Client    *minio.Client
	// Transport trusts the server's certificate (TLS only; nil otherwise).
	Transport http.RoundTripper

	dir        string   // data, certificates and log
	args       []string // the command line, binary first
	httpClient *http.Client
	cmd        *exec.Cmd // nil while stopped
	exited     chan struct{}
}

// Binary returns the path of the MinIO binary, failing the test when it has
// not been built (skipping it in -short mode).
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("HYDRANT_MINIO_BIN"); p != "" {
		return p
	}
	_, here, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(here), "..", "..", ".cache", "bin", "minio")
	if _, err := os.Stat(p); err != nil {
		if testing.Short() {
			t.Skip("MinIO is not built; run `make minio` (make test does)")
		}
		t.Fatalf("MinIO binary not found at %s: run `make minio` or `make test`, or set HYDRANT_MINIO_BIN", p)
	}
	return p
}

// Start runs MinIO until the test ends.
func Start(t testing.TB) *Server { return start(t, false) }

// StartTLS runs MinIO over HTTPS with a self-signed certificate, which
// S3 features such as SSE-C require.
func StartTLS(t testing.TB) *Server { return start(t, true) }

func start(t testing.TB, useTLS bool) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	port, console := fmt.Sprint(testnet.FreePort(t)), fmt.Sprint(testnet.FreePort(t))
	s := &Server{Endpoint: "http://127.0.0.1:" + port, AccessKey: "hydrant-test", SecretKey: "hydrant-test-secret", dir: dir}
	args := []string{"server", "--quiet", "--address", "127.0.0.1:" + port, "--console-address", "127.0.0.1:" + console}
	s.httpClient = http.DefaultClient
	if useTLS {
		certs := filepath.Join(dir, "certs")
		pool := testcert.Write(t, certs, "public.crt", "private.key")
		s.Endpoint = "https://127.0.0.1:" + port
		s.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		s.httpClient = &http.Client{Transport: s.Transport}
		args = append(args, "--certs-dir", certs)
	}
	s.args = append([]string{bin}, append(args, filepath.Join(dir, "data"))...)
	t.Cleanup(func() {
		if s.cmd != nil {
			s.cmd.Process.Kill()
			<-s.exited
		}
	})
	s.Start(t)
	var err error
	s.Client, err = minio.New("127.0.0.1:"+port, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region: "us-east-1", Secure: useTLS, Transport: s.Transport})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Start (re)starts the server on its port and data directory, waiting
// until it is ready. The package-level Start makes a new server; this
// brings a stopped one back.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if s.cmd != nil {
		t.Fatal("MinIO is already running")
	}
	cmd := exec.Command(s.args[0], s.args[1:]...)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_UPDATE=off", "MINIO_BROWSER=off", "MINIO_CI_CD=1",
		// A built-in KMS key, so SSE-S3 and SSE-KMS (key "hydrant-test-key") work.
		"MINIO_KMS_SECRET_KEY=hydrant-test-key:"+base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	logPath := filepath.Join(s.dir, "minio.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start MinIO: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := s.httpClient.Get(s.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			s.cmd = nil
			t.Fatalf("MinIO exited at start:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("MinIO not ready after 60s")
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// Stop shuts the server down (SIGTERM, then SIGKILL after 30 s) and waits
// until it has exited; Start brings it back on its port with its data.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.cmd == nil {
		t.Fatal("MinIO is not running")
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

// CreateBucket creates a bucket.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	if err := s.Client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}
