package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestFillStopsAtWhatItWants(t *testing.T) {
	srv, _, _ := startTestFloor(t, floorHTTP)
	bodies, err := buildBodies(1024, 100, bodyVariants)
	if err != nil {
		t.Fatal(err)
	}
	client := newClient(4)
	defer client.CloseIdleConnections()
	w := nativeWorkload(client, srv.URL, "bench", bodies, 100)
	const want = 5 << 20
	stored, err := fill(t.Context(), w, 4, want, 1024, nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Each worker may have one request in flight when the total is reached.
	if stored < want || stored > want+4*100*1024 {
		t.Errorf("stored %d bytes, want %d plus at most one request per worker", stored, want)
	}

	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":{"code":"InternalError"}}`, http.StatusInternalServerError)
	}))
	defer refusing.Close()
	w = nativeWorkload(client, refusing.URL, "bench", bodies, 100)
	if _, err := fill(t.Context(), w, 4, want, 1024, nil, time.Minute); err == nil {
		t.Error("fill of a server answering 500: want an error")
	}
}

// TestTimeRestart serves a node that is not ready for its first readiness
// probes and refuses puts until it is.
func TestTimeRestart(t *testing.T) {
	var probes atomic.Int32
	ready := func() bool { return probes.Load() > 3 }
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if probes.Add(1) <= 3 {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("POST /v1/streams/bench/records", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"failed_record_count":1}`))
			return
		}
		w.Write([]byte(`{"failed_record_count":0}`))
	})
	hs := httptest.NewServer(mux)
	defer hs.Close()
	client := newClient(2)
	defer client.CloseIdleConnections()
	one, err := buildBodies(1024, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	srv := &server{name: "hydrant", baseURL: hs.URL, ready: "/readyz", exited: make(chan struct{})}
	t0 := time.Now()
	readyAfter, putAfter, err := timeRestart(t.Context(), srv, t0, nativeWorkload(client, hs.URL, "bench", one, 1))
	if err != nil {
		t.Fatal(err)
	}
	// Three refused probes, restartPoll apart, come before the first 200.
	if readyAfter < 3*restartPoll || putAfter < readyAfter-restartPoll || putAfter > time.Since(t0) {
		t.Errorf("ready after %s, first put after %s; want ready after at least %s and the put about then", readyAfter, putAfter, 3*restartPoll)
	}
}

func TestDiskUsage(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "log", "0"), 0o755); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 100<<10)
	for _, name := range []string{"a", filepath.Join("log", "0", "b")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := diskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got < 200<<10 {
		t.Errorf("disk usage %d bytes, want at least the %d written", got, 200<<10)
	}
	if _, err := diskUsage(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing directory: want an error")
	}
}

func TestReadBackNote(t *testing.T) {
	tests := map[string]struct {
		acked, read int64
		want        string
	}{
		"all":  {acked: 100, read: 100, want: "all 100 acknowledged records read back"},
		"lost": {acked: 100, read: 97, want: "LOST 3 of 100 acknowledged records"},
		"more": {acked: 100, read: 101, want: "1 more than the 100 acknowledged"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := &RestartResult{AckedRecords: tc.acked, ReadRecords: tc.read, ReadSeconds: 2}
			if got := r.readBackNote(); !strings.Contains(got, tc.want) {
				t.Errorf("note %q, want it to contain %q", got, tc.want)
			}
		})
	}
}
