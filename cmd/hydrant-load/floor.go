package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The floors: servers that take the native API's put request and answer
// like Hydrant's success response, doing as little as the cost they stand
// for allows.
const (
	// floorHTTP reads each request body and answers without storing it:
	// the cost of HTTP (and of the generator) alone.
	floorHTTP = "http"
	// floorDisk appends each body to one file and answers once an fsync
	// that began after the append has finished; concurrent requests share
	// an fsync (group commit): the cost of durability on this disk.
	floorDisk = "disk"
)

// floorStats is what GET /floor/stats answers.
type floorStats struct {
	Requests int64 `json:"requests"`
	Fsyncs   int64 `json:"fsyncs"`
}

// floor serves the native put endpoint, GET /readyz and GET /floor/stats.
type floor struct {
	file      *groupFile // nil: the HTTP floor
	bufs      sync.Pool  // *bytes.Buffer for request bodies
	responses sync.Map   // record count → response body
	requests  atomic.Int64
}

// handler returns the floor's routes.
func (f *floor) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/streams/{name}/records", f.put)
	mux.HandleFunc("PUT /v1/streams/{name}/records", f.put)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ready\n") })
	mux.HandleFunc("GET /floor/stats", func(w http.ResponseWriter, _ *http.Request) {
		st := floorStats{Requests: f.requests.Load()}
		if f.file != nil {
			st.Fsyncs = f.file.syncCount()
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	})
	return mux
}

// put reads the body, counts its records (non-empty lines), stores it when
// the floor has a file, and answers 200 with one success entry per record.
func (f *floor) put(w http.ResponseWriter, r *http.Request) {
	buf, _ := f.bufs.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer f.bufs.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxRequestSize)); err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	n := countLines(buf.Bytes())
	if n == 0 {
		http.Error(w, "the body holds no records", http.StatusBadRequest)
		return
	}
	if f.file != nil {
		if err := f.file.append(buf.Bytes()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	f.requests.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.Write(f.response(n))
}

// countLines counts the non-empty lines of body.
func countLines(body []byte) int {
	n := 0
	for len(body) > 0 {
		line, rest, _ := bytes.Cut(body, []byte{'\n'})
		if len(bytes.TrimSpace(line)) > 0 {
			n++
		}
		body = rest
	}
	return n
}

// response is the body Hydrant answers when all n records of a put were
// stored, with made-up positions: the same shape and about the same size,
// so the generator parses as much.
func (f *floor) response(n int) []byte {
	if out, ok := f.responses.Load(n); ok {
		return out.([]byte)
	}
	out := make([]byte, 0, 64+n*72)
	out = append(out, `{"failed_record_count":0,"records":[`...)
	for i := range n {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"shard_id":"shardId-00000000000`...)
		out = strconv.AppendInt(out, int64(i%4), 10)
		out = append(out, `","sequence_number":"`...)
		out = strconv.AppendInt(out, 1<<20+int64(i), 10)
		out = append(out, `"}`...)
	}
	out = append(out, "]}\n"...)
	f.responses.Store(n, out)
	return out
}

// groupFile appends to one file and makes appends durable with group
// commit: an append returns once an fsync that began after it was written
// has finished. The first waiting appender runs the fsync; appends written
// while it runs wait for the next one, which covers them all.
type groupFile struct {
	f *os.File
	// sync makes what was written durable: f.Sync, or a fake in tests.
	sync func() error

	mu      sync.Mutex
	cond    *sync.Cond // signalled when an fsync finishes
	written uint64     // appends written
	synced  uint64     // appends covered by a finished fsync
	syncing bool       // an appender is running an fsync
	syncs   int64
	err     error // the last fsync's error: fails the appends it covered
}

// newGroupFile wraps f; syncFile is what makes writes durable.
func newGroupFile(f *os.File, syncFile func() error) *groupFile {
	g := &groupFile{f: f, sync: syncFile}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// append writes p at the end of the file and returns once it is durable.
func (g *groupFile) append(p []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, err := g.f.Write(p); err != nil {
		return fmt.Errorf("disk floor: write: %w", err)
	}
	g.written++
	mine := g.written
	for g.synced < mine {
		if g.syncing {
			g.cond.Wait()
			continue
		}
		g.syncing = true
		covers := g.written
		g.mu.Unlock()
		err := g.sync()
		g.mu.Lock()
		g.syncing, g.synced, g.err = false, covers, err
		g.syncs++
		g.cond.Broadcast()
	}
	if g.err != nil {
		return fmt.Errorf("disk floor: fsync: %w", g.err)
	}
	return nil
}

// syncCount is how many fsyncs have finished.
func (g *groupFile) syncCount() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.syncs
}

// runFloor is the floor child process: it serves the floor of kind on
// listen until ctx ends. The disk floor's file is dir/floor.data.
func runFloor(ctx context.Context, kind, listen, dir string, stderr io.Writer) error {
	f := &floor{}
	switch kind {
	case floorHTTP:
	case floorDisk:
		file, err := os.OpenFile(filepath.Join(dir, "floor.data"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		defer file.Close()
		f.file = newGroupFile(file, file.Sync)
	default:
		return fmt.Errorf("-floor %q: must be %s or %s", kind, floorHTTP, floorDisk)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	// The timeouts are hydrant's (cmd/hydrant/serve.go).
	srv := &http.Server{
		Handler:           f.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(stderr, "floor: ", 0),
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	fmt.Fprintf(stderr, "hydrant-load: %s floor listening on %s\n", kind, ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startFloor starts this binary as the floor of kind in a child process,
// so its CPU time and RSS are read from /proc like hydrant's.
func startFloor(kind string, progress io.Writer) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this binary to start the %s floor: %w", kind, err)
	}
	return startIn("hydrant-load-floor-", progress, func(dir, listen string) (*server, error) {
		return launch(kind+" floor", dir, listen, nil, self, "-floor", kind, "-listen", listen, "-dir", dir)
	})
}

// floorFsyncs reads how many requests and fsyncs the floor at base has
// done.
func floorFsyncs(ctx context.Context, client *http.Client, base string) (floorStats, error) {
	var st floorStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/floor/stats", nil)
	if err != nil {
		return st, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /floor/stats: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}
