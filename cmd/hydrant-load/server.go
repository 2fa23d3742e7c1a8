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

// server is a process started for one run (hydrant, a floor or MinIO),
// with its own temporary directory holding its config, data, delivered
// files and log.
type server struct {
	name    string // for messages: "hydrant", "the disk floor"
	dir     string
	logPath string
	baseURL string
	ready   string // the path that answers 200 once it serves
	cmd     *exec.Cmd
	log     *os.File
	exited  chan struct{} // closed once the process has exited
	waitErr error         // the process's exit status; read after exited is closed
}

// startServer writes a config for opts into a new temporary directory and
// starts hydrant on a free loopback port. It does not wait for readiness.
// On error nothing is left behind.
func startServer(opts options, requestSize int, progress io.Writer) (*server, error) {
	return startHydrant(opts, hydrantSetup{
		fsync: opts.fsync, recordSize: opts.recordSize, requestSize: requestSize,
		stream: opts.stream, shards: opts.shards, deliver: opts.deliver,
	}, progress)
}

// startHydrant starts hydrant on a new temporary directory with the config
// of setup (whose listen and dir it fills in).
func startHydrant(opts options, setup hydrantSetup, progress io.Writer) (*server, error) {
	bin, err := hydrantPath(opts.hydrant)
	if err != nil {
		return nil, err
	}
	return startIn("hydrant-load-", progress, func(dir, listen string) (*server, error) {
		setup.listen, setup.dir = listen, dir
		cfgPath := filepath.Join(dir, "hydrant.yaml")
		if err := os.WriteFile(cfgPath, []byte(benchConfig(setup)), 0o600); err != nil {
			return nil, fmt.Errorf("write config: %w", err)
		}
		return launch("hydrant", dir, listen, nil, bin, "serve", "-c", cfgPath)
	})
}

// startIn makes a temporary directory, picks a free loopback port and
// starts a process there with start. On error nothing is left behind.
func startIn(pattern string, progress io.Writer, start func(dir, listen string) (*server, error)) (*server, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s, err := start(dir, listen)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	fmt.Fprintf(progress, "hydrant-load: started %s (pid %d) at %s, files in %s\n", s.name, s.pid(), s.baseURL, dir)
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

// launch starts bin with args, its output going to a log in dir, serving
// at listen; env is added to the environment.
func launch(name, dir, listen string, env []string, bin string, args ...string) (*server, error) {
	s := &server{name: name, dir: dir, logPath: filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".log"), baseURL: "http://" + listen, ready: "/readyz", exited: make(chan struct{})}
	var err error
	if s.log, err = os.Create(s.logPath); err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if env != nil {
		s.cmd.Env = append(os.Environ(), env...)
	}
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
// take it before the started process binds it; that process then fails to
// start and says so.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// hydrantSetup is what a started hydrant serves.
type hydrantSetup struct {
	listen, dir string // filled in by startHydrant
	fsync       string
	recordSize  int
	requestSize int // the largest request body
	// stream, when set, is declared with shards and quotas out of the way;
	// deliver adds a delivery reading it.
	stream    string
	shards    int
	deliver   bool
	retention string // the stream's, when set; Hydrant's default otherwise
	// direct, when set, is a DirectPut delivery of directShards shards.
	direct       string
	directShards int
	// s3, when set, is where deliveries write instead of files in dir/out.
	s3 *s3Target
}

// s3Target is a bucket on an S3 service.
type s3Target struct {
	endpoint, bucket, accessKey, secretKey string
}

// archiveName is the name of the delivery reading stream.
func archiveName(stream string) string { return stream + "-archive" }

// benchConfig is the hydrant config of a run. Streams, declared or a
// DirectPut delivery's, get their per-shard quotas at the maximum so they
// do not throttle the bench. Deliveries have Firehose's default
// buffer size and a 60s interval. The request and record limits fit the
// bench's bodies.
func benchConfig(s hydrantSetup) string {
	maxRequest := max(16<<20, s.requestSize)
	maxRecord := max(1000<<10, s.recordSize)
	var b strings.Builder
	fmt.Fprintf(&b, `server: {listen: %q, max_request_size: %d, max_record_size: %d}
storage: {data_dir: %q, fsync: %s}
`, s.listen, maxRequest, maxRecord, filepath.Join(s.dir, "data"), s.fsync)
	if s.stream != "" {
		fmt.Fprintf(&b, `streams:
  - name: %s
    shards: %d
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
`, s.stream, s.shards)
		if s.retention != "" {
			fmt.Fprintf(&b, "    retention: %s\n", s.retention)
		}
	}
	if (s.stream == "" || !s.deliver) && s.direct == "" {
		return b.String()
	}
	b.WriteString("deliveries:\n")
	destination := fmt.Sprintf("file: {dir: %q}", filepath.Join(s.dir, "out"))
	if t := s.s3; t != nil {
		destination = fmt.Sprintf("s3: {endpoint: %q, region: us-east-1, bucket: %q, access_key_id: %q, secret_access_key: %q}",
			t.endpoint, t.bucket, t.accessKey, t.secretKey)
	}
	if s.stream != "" && s.deliver {
		fmt.Fprintf(&b, `  - name: %s
    source: %s
    buffer: {size: 5MiB, interval: 60s}
    destination: {%s}
`, archiveName(s.stream), s.stream, destination)
	}
	if s.direct != "" {
		fmt.Fprintf(&b, `  - name: %s
    shards: %d
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
    buffer: {size: 5MiB, interval: 60s}
    destination: {%s}
`, s.direct, s.directShards, destination)
	}
	return b.String()
}

// readyURL is the URL that answers 200 once the process serves.
func (s *server) readyURL() string { return s.baseURL + s.ready }

// pid is the process id of the started process.
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
		return fmt.Errorf("stop %s: %w", s.name, err)
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-s.exited:
	case <-timer.C:
		s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("%s did not exit within %s of SIGTERM and was killed\n--- tail of its log ---\n%s", s.name, stopTimeout, s.logTail(20))
	}
	if s.waitErr != nil {
		fmt.Fprintf(progress, "hydrant-load: warning: %s exited uncleanly after SIGTERM: %v\n--- tail of its log ---\n%s\n", s.name, s.waitErr, s.logTail(20))
	}
	return nil
}

// logTail returns the last n lines of the process's log.
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
	return fmt.Errorf("%s exited %s (%s)\n--- tail of %s ---\n%s", s.name, when, status, s.logPath, s.logTail(20))
}

// waitReady polls GET url every readyPollInterval until it answers 200,
// readyTimeout passes, ctx ends or exited (when not nil) is closed.
func waitReady(ctx context.Context, client *http.Client, url string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	ticker := time.NewTicker(readyPollInterval)
	defer ticker.Stop()
	var last error
	for {
		if last = probeReady(ctx, client, url); last == nil {
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
func probeReady(ctx context.Context, client *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
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
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}
