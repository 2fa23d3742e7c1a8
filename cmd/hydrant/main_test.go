package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/testbin"

	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/internal/testnet"
)

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		args     []string
		wantCode int
		wantOut  string // substring of stdout
		wantErr  []string
	}{
		"quickstart is valid": {
			args: []string{"validate", "-c", "../../examples/quickstart.yaml"}, wantCode: 0,
			wantOut: "OK (1 streams, 1 deliveries)",
		},
		"three mistakes, all reported with lines and paths": {
			args: []string{"validate", "-c", "testdata/three-mistakes.yaml"}, wantCode: 2,
			wantErr: []string{
				"three-mistakes.yaml:4: storage.fsync: must be one of always, interval",
				"three-mistakes.yaml:7: deliveries[0].buffer.size: must be between 1MiB and 128MiB",
				`three-mistakes.yaml:9: deliveries[0].transforms[0]: unknown transform type "append_newlines"`,
			},
		},
		"prefix expressions are checked": {
			args: []string{"validate", "-c", "testdata/bad-prefix.yaml"}, wantCode: 2,
			wantErr: []string{
				`bad-prefix.yaml:6: deliveries[0].destination.file.prefix: unterminated expression`,
				`bad-prefix.yaml:7: deliveries[0].destination.file.error_prefix: expression !{partitionKeyFromQuery:customer}: not allowed in error_prefix`,
			},
		},
		"partitioned prefix needs a typed error prefix": {
			args: []string{"validate", "-c", "testdata/partition-needs-error-type.yaml"}, wantCode: 2,
			wantErr: []string{`partition-needs-error-type.yaml:7: deliveries[0].destination.file.error_prefix: must contain !{firehose:error-output-type} when prefix uses partition keys`},
		},
		// The one Postgres error no retry mends: reported now, without the
		// DSN (it holds the password).
		"a DSN that does not parse": {
			args: []string{"validate", "-c", "testdata/bad-dsn.yaml"}, wantCode: 2,
			wantErr: []string{`bad-dsn.yaml:5: deliveries[0].destination.postgres.dsn: does not parse`},
		},
		"missing file":    {args: []string{"validate", "-c", "testdata/nope.yaml"}, wantCode: 2, wantErr: []string{"nope.yaml"}},
		"unknown command": {args: []string{"frobnicate"}, wantCode: 2, wantErr: []string{`unknown command "frobnicate"`}},
		"help":            {args: []string{"--help"}, wantCode: 0, wantOut: "Usage: hydrant"},
		"help documents the second signal": {args: []string{"--help"}, wantCode: 0,
			wantOut: "A second signal during that exits at once with\n128 + its number: 143 for SIGTERM, 130 for SIGINT."},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tt.wantOut)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr.String())
				}
			}
		})
	}
}

// The server listen builds cuts off a client that trickles its headers
// (ReadHeaderTimeout bounds the whole header, not the gap between bytes) and
// answers 431 to headers over MaxHeaderBytes.
func TestListenRefusesSlowAndHugeHeaders(t *testing.T) {
	srv, ln, err := listen(config.ServerConfig{Listen: "127.0.0.1:0"},
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }),
		nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if srv.ReadHeaderTimeout != 10*time.Second || srv.ReadTimeout != 2*time.Minute || srv.IdleTimeout != 2*time.Minute ||
		srv.MaxHeaderBytes != 64<<10 {
		t.Fatalf("limits: ReadHeaderTimeout %v, ReadTimeout %v, IdleTimeout %v, MaxHeaderBytes %d",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
	const headerTimeout = 300 * time.Millisecond // the production 10 s, shortened for the test
	srv.ReadHeaderTimeout = headerTimeout
	go serveListener(srv, ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	t.Run("headers sent byte by byte are cut off", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		gone := make(chan []byte)
		go func() { b, _ := io.ReadAll(conn); gone <- b }()
		// Headers that never end, one byte every 20 ms: the server is never
		// idle for long, so only a deadline on the whole header stops it.
		head := "POST /v1/streams/x/records HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 1000)
		start := time.Now()
		tick := time.NewTicker(20 * time.Millisecond) // the slow client's pace
		defer tick.Stop()
		sent := 0
		for {
			select {
			case reply := <-gone:
				// Cut off in the request line, Go's server answers its own
				// plain-text 400 before it hangs up; in a header line it
				// hangs up without a word. Either way the connection is gone.
				// The server's clock starts at accept, a moment before start.
				elapsed := time.Since(start)
				if elapsed < headerTimeout-100*time.Millisecond || elapsed > headerTimeout+time.Second {
					t.Fatalf("disconnected after %v; want %v (-0.1 s, +1 s of slack)", elapsed, headerTimeout)
				}
				if len(reply) != 0 && !strings.HasPrefix(string(reply), "HTTP/1.1 400 Bad Request\r\n") || sent < 5 {
					t.Fatalf("sent %d bytes, got %q back", sent, reply)
				}
				return
			case <-tick.C:
				if sent == len(head) {
					t.Fatal("the server took the whole header: it does not bound slow headers")
				}
				if _, err := conn.Write([]byte{head[sent]}); err == nil {
					sent++
				}
			}
		}
	})

	tests := map[string]struct {
		size   int
		status int
	}{
		"a 60 KiB header is served":         {60 << 10, http.StatusNoContent},
		"a 100 KiB header is refused (431)": {100 << 10, http.StatusRequestHeaderFieldsTooLarge},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second)) // a hang fails the test instead of stalling it
			go fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", tt.size))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

// hydrantBinary builds cmd/hydrant once per test run.
func hydrantBinary(t *testing.T) string { return testbin.Hydrant(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// The first SIGTERM or SIGINT shuts down gracefully and exits 0; a second
// one during the shutdown exits at once with 128 + its number. To keep the
// shutdown busy, a producer is mid-upload: the server waits up to 15 s for
// its request to finish.
func TestSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := hydrantBinary(t)
	tests := map[string]struct {
		first, second syscall.Signal // second 0: none
		code          int
		logs          []string
		notLogs       []string
	}{
		"SIGTERM drains and exits 0": {first: syscall.SIGTERM, code: 0,
			logs:    []string{`signal=terminated`, "shutting down: no new puts", "hydrant stopped"},
			notLogs: []string{"level=ERROR", "level=WARN"}},
		"SIGINT drains and exits 0": {first: syscall.SIGINT, code: 0,
			logs:    []string{`signal=interrupt`, "hydrant stopped"},
			notLogs: []string{"level=ERROR", "level=WARN"}},
		"a second SIGTERM during a busy shutdown exits at once with 143": {first: syscall.SIGTERM, second: syscall.SIGTERM, code: 143,
			logs:    []string{`level=WARN msg="second signal: exiting now; acknowledged records are safe in the shard log" signal=terminated`},
			notLogs: []string{"hydrant stopped"}},
		"a second SIGINT exits with 130": {first: syscall.SIGTERM, second: syscall.SIGINT, code: 130,
			logs:    []string{`msg="second signal: exiting now; acknowledged records are safe in the shard log" signal=interrupt`},
			notLogs: []string{"hydrant stopped"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			listen := fmt.Sprintf("127.0.0.1:%d", testnet.FreePort(t))
			var log bytes.Buffer
			var logMu sync.Mutex
			logText := func() string { logMu.Lock(); defer logMu.Unlock(); return log.String() }
			cmd := exec.Command(bin, "serve", "-c", "../../examples/quickstart.yaml")
			cmd.Env = append(os.Environ(), "HYDRANT_LISTEN="+listen, "HYDRANT_DATA_DIR="+dir)
			cmd.Stderr = writerFunc(func(p []byte) (int, error) { logMu.Lock(); defer logMu.Unlock(); return log.Write(p) })
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { cmd.Wait(); close(exited) }()
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
				if t.Failed() {
					t.Logf("hydrant log:\n%s", logText())
				}
			})
			await.Cond(t, 30*time.Second, "hydrant ready", func() bool {
				resp, err := http.Get("http://" + listen + "/readyz")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK
			})
			resp, err := http.Post("http://"+listen+"/v1/streams/quickstart/records", "application/x-ndjson",
				strings.NewReader("{\"n\":1}\n{\"n\":2}\n"))
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("put: %v %v", resp, err)
			}
			resp.Body.Close()
			if tt.second != 0 {
				// A producer mid-upload: its request is in the handler (the
				// server asked for the body) and half of its body is sent.
				conn, err := net.Dial("tcp", listen)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				fmt.Fprintf(conn, "POST /v1/streams/quickstart/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"+
					"Content-Length: 16\r\nExpect: 100-continue\r\n\r\n")
				conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				line, err := bufio.NewReader(conn).ReadString('\n')
				if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
					t.Fatalf("no 100 Continue: %q %v", line, err)
				}
				io.WriteString(conn, `{"n":3`)
			}
			cmd.Process.Signal(tt.first)
			wait := 60 * time.Second
			if tt.second != 0 {
				await.Cond(t, 10*time.Second, "the shutdown to start", func() bool {
					return strings.Contains(logText(), "shutting down: no new puts")
				})
				cmd.Process.Signal(tt.second)
				wait = 5 * time.Second // the busy shutdown would take 15 s
			}
			select {
			case <-exited:
			case <-time.After(wait):
				t.Fatalf("hydrant still running %v after the last signal", wait)
			}
			if code := cmd.ProcessState.ExitCode(); code != tt.code {
				t.Fatalf("exit code %d, want %d", code, tt.code)
			}
			for _, want := range tt.logs {
				if !strings.Contains(logText(), want) {
					t.Errorf("the log does not contain %q", want)
				}
			}
			for _, not := range tt.notLogs {
				if strings.Contains(logText(), not) {
					t.Errorf("the log contains %q", not)
				}
			}
		})
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
