package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// startTestFloor serves a floor of kind in-process; the disk floor's file
// is returned too.
func startTestFloor(t *testing.T, kind string) (*httptest.Server, *floor, string) {
	t.Helper()
	f := &floor{}
	path := ""
	if kind == floorDisk {
		path = filepath.Join(t.TempDir(), "floor.data")
		file, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { file.Close() })
		f.file = newGroupFile(file, file.Sync)
	}
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	return srv, f, path
}

func TestFloorsAnswerLikeHydrant(t *testing.T) {
	const perBody = 50
	bodies, err := buildBodies(256, perBody, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{floorHTTP, floorDisk} {
		t.Run(kind, func(t *testing.T) {
			srv, f, path := startTestFloor(t, kind)
			client := newClient(1)
			defer client.CloseIdleConnections()
			if err := waitReady(t.Context(), client, srv.URL+"/readyz", nil); err != nil {
				t.Fatal(err)
			}
			w := nativeWorkload(client, srv.URL, "bench", bodies, perBody)
			var buf bytes.Buffer
			for _, body := range bodies {
				stored, err := w.post(t.Context(), body, &buf)
				if err != nil || stored != perBody {
					t.Fatalf("post: %d stored, err %v; want %d, nil", stored, err, perBody)
				}
				var resp struct {
					Records []struct {
						ShardID        string `json:"shard_id"`
						SequenceNumber string `json:"sequence_number"`
					} `json:"records"`
				}
				if err := json.Unmarshal(buf.Bytes(), &resp); err != nil {
					t.Fatal(err)
				}
				if len(resp.Records) != perBody || resp.Records[0].ShardID == "" || resp.Records[0].SequenceNumber == "" {
					t.Fatalf("response records %+v, want %d with shard_id and sequence_number", resp.Records, perBody)
				}
			}
			st, err := floorFsyncs(t.Context(), client, srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			if st.Requests != int64(len(bodies)) {
				t.Errorf("stats: %d requests, want %d", st.Requests, len(bodies))
			}
			if kind == floorHTTP {
				if st.Fsyncs != 0 || f.file != nil {
					t.Errorf("the HTTP floor stored something: %+v", st)
				}
				return
			}
			if st.Fsyncs < 1 || st.Fsyncs > st.Requests {
				t.Errorf("stats: %d fsyncs for %d requests", st.Fsyncs, st.Requests)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := bytes.Join(bodies, nil); !bytes.Equal(data, want) {
				t.Errorf("the file holds %d bytes, want the %d bytes of the bodies in order", len(data), len(want))
			}
		})
	}
}

func TestFloorRefusesEmptyBodies(t *testing.T) {
	srv, _, _ := startTestFloor(t, floorHTTP)
	for _, body := range []string{"", "\n \n"} {
		resp, err := http.Post(srv.URL+"/v1/streams/bench/records", "application/x-ndjson", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("body %q: %s, want 400", body, resp.Status)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestCountLines(t *testing.T) {
	tests := map[string]struct {
		body string
		want int
	}{
		"empty":           {body: "", want: 0},
		"one":             {body: "{}\n", want: 1},
		"no final ending": {body: "{}\n{}", want: 2},
		"blank lines":     {body: "\n{}\n \n{}\r\n\n", want: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := countLines([]byte(tc.body)); got != tc.want {
				t.Errorf("countLines(%q) = %d, want %d", tc.body, got, tc.want)
			}
		})
	}
}

// TestGroupCommitSharesFsyncs holds the first fsync until every appender
// has written and is waiting, then checks that one more fsync covered them
// all.
func TestGroupCommitSharesFsyncs(t *testing.T) {
	const appenders = 8
	file, err := os.Create(filepath.Join(t.TempDir(), "floor.data"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	synctest.Test(t, func(t *testing.T) {
		gate := make(chan struct{})
		calls := 0
		g := newGroupFile(file, func() error {
			calls++ // one fsync at a time: the caller is the only syncer
			if calls == 1 {
				<-gate
			}
			return nil
		})
		var wg sync.WaitGroup
		for i := range appenders {
			wg.Go(func() {
				if err := g.append([]byte{'a' + byte(i), '\n'}); err != nil {
					t.Error(err)
				}
			})
		}
		synctest.Wait() // one appender in the first fsync, the others waiting for it
		g.mu.Lock()
		written := g.written
		g.mu.Unlock()
		if written != appenders {
			t.Fatalf("%d appends written while the first fsync runs, want %d", written, appenders)
		}
		close(gate)
		wg.Wait()
		if n := g.syncCount(); n != 2 {
			t.Errorf("%d fsyncs for %d appends, want 2: the held one and one for all who waited", n, appenders)
		}
	})
	data, err := os.ReadFile(file.Name())
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 2*appenders {
		t.Errorf("the file holds %d bytes, want %d", len(data), 2*appenders)
	}
}

func TestGroupCommitReportsFsyncErrors(t *testing.T) {
	file, err := os.Create(filepath.Join(t.TempDir(), "floor.data"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	broken := errors.New("disk on fire")
	g := newGroupFile(file, func() error { return broken })
	if err := g.append([]byte("x\n")); !errors.Is(err, broken) {
		t.Errorf("append = %v, want the fsync error", err)
	}
}

// TestDiskFloorUnderLoad drives the disk floor the way the matrix does,
// briefly, and checks that concurrent requests shared fsyncs.
func TestDiskFloorUnderLoad(t *testing.T) {
	const perBody, workers = 20, 8
	srv, _, _ := startTestFloor(t, floorDisk)
	bodies, err := buildBodies(512, perBody, bodyVariants)
	if err != nil {
		t.Fatal(err)
	}
	client := newClient(workers)
	defer client.CloseIdleConnections()
	w := nativeWorkload(client, srv.URL, "bench", bodies, perBody)
	opts := options{concurrency: workers, duration: 300 * time.Millisecond, recordSize: 512, recordsPerRequest: perBody}
	m, err := w.measure(t.Context(), opts, 0, nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	res := newResult(opts, targetDiskFloor, srv.URL, m)
	if err := res.check(0); err != nil {
		t.Fatal(err)
	}
	if res.RecordsStored != res.Requests*perBody {
		t.Errorf("%d records stored by %d requests, want %d each", res.RecordsStored, res.Requests, perBody)
	}
	st, err := floorFsyncs(t.Context(), client, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if st.Fsyncs < 1 || st.Fsyncs > st.Requests {
		t.Errorf("%d fsyncs for %d requests", st.Fsyncs, st.Requests)
	}
	t.Logf("%d requests, %d fsyncs, p50 %.1f ms", st.Requests, st.Fsyncs, res.LatencyMillis.P50)
}

func TestPaceSchedulesEvenly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		schedule := make(chan time.Time, 100)
		pace(context.Background(), schedule, start, start.Add(100*time.Millisecond), 10*time.Millisecond)
		var got []time.Duration
		for ts := range schedule {
			got = append(got, ts.Sub(start))
		}
		if len(got) != 10 {
			t.Fatalf("%d requests scheduled, want 10: %v", len(got), got)
		}
		for i, d := range got {
			if want := time.Duration(i) * 10 * time.Millisecond; d != want {
				t.Errorf("request %d at %v, want %v", i, d, want)
			}
		}
		if elapsed := time.Since(start); elapsed != 90*time.Millisecond {
			t.Errorf("pace returned after %v, want 90ms: each request is sent at its time", elapsed)
		}
	})
}
