package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Readiness polling and shutdown bounds.
const (
	readyPollInterval = 50 * time.Millisecond
	readyTimeout      = 30 * time.Second
	stopTimeout       = 30 * time.Second
)

// server is a hydrant process started for one run, with its own temporary
// directory holding the config, the data, the delivered files and the log.
type server struct {
	dir     string
	logPath string
	baseURL string
	cmd     *exec.Cmd
	log     *os.File
	exited  chan struct{} // closed once the process has exited
	waitErr error         // the process's exit status; read after exited is closed
}

// startServer writes a config for opts into a new temporary directory and
// starts hydrant on a free loopback port. It does not wait for readiness.
// On error nothing is left behind.
func startServer(opts options, requestSize int, progress io.Writer) (*server, error) {
	bin, err := hydrantPath(opts.hydrant)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hydrant-load-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	s, err := launch(bin, dir, opts, requestSize)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	fmt.Fprintf(progress, "hydrant-load: started %s (pid %d) at %s, files in %s\n", bin, s.pid(), s.baseURL, dir)
	return s, nil
}

// hydrantPath checks that the hydrant binary exists, with a hint on how to
// build it when it does not.
func hydrantPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("-hydrant %q: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("-hydrant %q: %w (build it with: go build -o bin/hydrant ./cmd/hydrant)", path, err)
	}
	return abs, nil
}

// launch writes the config into dir and starts bin on it.
func launch(bin, dir string, opts options, requestSize int) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cfgPath := filepath.Join(dir, "hydrant.yaml")
	cfg := benchConfig(listen, dir, opts, requestSize)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("write config: %w", err)
	}
	s := &server{dir: dir, logPath: filepath.Join(dir, "hydrant.log"), baseURL: "http://" + listen, exited: make(chan struct{})}
	if s.log, err = os.Create(s.logPath); err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	s.cmd = exec.Command(bin, "serve", "-c", cfgPath)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.log.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before hydrant binds it; hydrant then fails to start and says so.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// benchConfig is the hydrant config of a run: one explicitly declared
// stream whose per-shard quotas are at their maximum so they do not throttle
// the bench and, with opts.deliver, a file delivery with Firehose's default
// buffer reading it while it is loaded. The request and record limits fit
// the bench's bodies.
func benchConfig(listen, dir string, opts options, requestSize int) string {
	maxRequest := max(16<<20, requestSize)
	maxRecord := max(1000<<10, opts.recordSize)
	cfg := fmt.Sprintf(`server: {listen: %q, max_request_size: %d, max_record_size: %d}
storage: {data_dir: %q, fsync: %s}
streams:
  - name: %s
    shards: %d
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
`, listen, maxRequest, maxRecord, filepath.Join(dir, "data"), opts.fsync, opts.stream, opts.shards)
	if opts.deliver {
		cfg += fmt.Sprintf(`deliveries:
  - name: %s-archive
    source: %s
    buffer: {size: 5MiB, interval: 60s}
    destination:
      file: {dir: %q}
`, opts.stream, opts.stream, filepath.Join(dir, "out"))
	}
	return cfg
}

// pid is the process id of the started hydrant.
func (s *server) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM, waits for the process to exit (SIGKILL after
// stopTimeout) and removes the temporary directory. It reports an unclean
// exit, with the tail of the log.
func (s *server) stop(progress io.Writer) error {
	defer os.RemoveAll(s.dir)
	defer s.log.Close()
	select {
	case <-s.exited:
		return nil // already gone; whoever noticed has reported it
	default:
	}
	// It may be exiting already: a terminal's Ctrl-C reaches the whole group.
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop hydrant: %w", err)
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-s.exited:
	case <-timer.C:
		s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("hydrant did not exit within %s of SIGTERM and was killed\n--- tail of its log ---\n%s", stopTimeout, s.logTail(20))
	}
	if s.waitErr != nil {
		fmt.Fprintf(progress, "hydrant-load: warning: hydrant exited uncleanly after SIGTERM: %v\n--- tail of its log ---\n%s\n", s.waitErr, s.logTail(20))
	}
	return nil
}

// logTail returns the last n lines of the hydrant log.
func (s *server) logTail(n int) string {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", s.logPath, err)
	}
	return tail(string(data), n)
}

// tail returns the last n lines of text, without a trailing newline.
func tail(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// exitError describes how a process that should still be running ended,
// with the tail of its log. Call it only once exited is closed.
func (s *server) exitError(when string) error {
	status := "exit status 0"
	if s.waitErr != nil {
		status = s.waitErr.Error()
	}
	return fmt.Errorf("hydrant exited %s (%s)\n--- tail of %s ---\n%s", when, status, s.logPath, s.logTail(20))
}

// waitReady polls GET base/readyz every readyPollInterval until it answers
// 200, readyTimeout passes, ctx ends or exited (when not nil) is closed.
func waitReady(ctx context.Context, client *http.Client, base string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	ticker := time.NewTicker(readyPollInterval)
	defer ticker.Stop()
	var last error
	for {
		if last = probeReady(ctx, client, base); last == nil {
			return nil
		}
		select {
		case <-exited:
			return errServerExited
		case <-ctx.Done():
			return fmt.Errorf("%w (last attempt: %v)", ctx.Err(), last)
		case <-ticker.C:
		}
	}
}

// probeReady makes one readiness request.
func probeReady(ctx context.Context, client *http.Client, base string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /readyz: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return nil
}
