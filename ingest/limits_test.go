package ingest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/shards"
)

// Requests held by the server (slow bodies, unread answers) reserve what
// they may hold; past the three quarters of max_in_flight_bytes large
// requests may take, others are refused at once, unread, in their API's
// format, while small ones are still served; all are taken again once room
// is back. (On the old main 48 connections sending 16 MiB bodies slowly
// held 1.4 GB.)
func TestInFlightBytesBounded(t *testing.T) {
	const maxRequest = 16 << 20
	release := make(chan struct{})
	var held atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > SmallRequest {
			held.Add(1)
			<-release // a body still coming, or an answer the client does not read
		}
		w.WriteHeader(http.StatusOK)
	})
	l := NewInFlight(2*minInFlight(maxRequest), maxRequest)
	srv := httptest.NewServer(l.Wrap(h))
	defer srv.Close()

	send := func(path, target string, length int64) *http.Response {
		var body io.Reader = bytes.NewReader(make([]byte, length))
		if length > SmallRequest { // a body that never ends
			pr, pw := io.Pipe()
			t.Cleanup(func() { pw.Close() })
			body = pr
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, body)
		req.ContentLength = length
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	results := make(chan *http.Response, 2)
	for range 2 { // two largest requests fit three quarters of the limit
		go func() { results <- send("/", "Kinesis_20131202.PutRecords", maxRequest) }()
	}
	await.Cond(t, 10*time.Second, "two requests held", func() bool { return held.Load() == 2 })
	tests := []struct {
		path, target string
		length       int64
		want         string
	}{
		{"/", "Kinesis_20131202.PutRecords", maxRequest, `"__type":"ServiceUnavailableException"`},
		{"/", "Firehose_20150804.PutRecordBatch", 4 << 20, `"__type":"ServiceUnavailableException"`},
		{"/v1/streams/clicks/records", "", 2 << 20, `"code":"ServiceUnavailable"`},
	}
	for _, tt := range tests {
		resp := send(tt.path, tt.target, tt.length)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), tt.want) {
			t.Errorf("%s %s past the limit: %d %s", tt.path, tt.target, resp.StatusCode, body)
		}
	}
	// The quarter kept for small requests still serves them.
	resp := send("/v1/streams/clicks/records", "", 100<<10)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a small request while large ones hold their share: %d", resp.StatusCode)
	}
	resp.Body.Close()
	if used := l.Used(); used > l.max {
		t.Fatalf("%d bytes reserved, over the limit", used)
	}
	close(release)
	for range 2 {
		if resp := <-results; resp.StatusCode != http.StatusOK {
			t.Fatalf("a held request: %d", resp.StatusCode)
		}
	}
	await.Cond(t, 10*time.Second, "reservations returned", func() bool { return l.Used() == 0 })
}

func TestReservation(t *testing.T) {
	const maxRequest = 16 << 20
	tests := []struct {
		name   string
		path   string
		length int64
		header map[string]string
		want   int64
	}{
		{"small body", "/v1/streams/s/records", 1000, nil, bodyReserve(1001)},
		{"body over the limit", "/v1/streams/s/records", 20 << 20, nil, bodyReserve(maxRequest + 1)},
		{"native body of unknown length: grows as read", "/v1/streams/s/records", -1, nil, smallReserve},
		{"compressed body: as sent, then grows as decompressed", "/v1/streams/s/records", 1000, map[string]string{"Content-Encoding": "gzip"}, bodyReserve(1001)},
		{"AWS body of unknown length: read whole", "/", -1, map[string]string{"X-Amz-Target": "Kinesis_20131202.PutRecords"}, bodyReserve(maxRequest + 1)},
		{"GetRecords: its answer grows it", "/", 100, map[string]string{"X-Amz-Target": "Kinesis_20131202.GetRecords"}, bodyReserve(101)},
		{"no body", "/v1/status", 0, nil, smallReserve},
	}
	l := NewInFlight(1<<30, maxRequest)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, tt.path, nil)
			r.ContentLength = tt.length
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if got := l.reservation(r); got != tt.want {
				t.Errorf("reservation = %d, want %d", got, tt.want)
			}
		})
	}
}

// Large requests may take three quarters of the limit; small ones all of
// it; EnsureUpTo takes what fits.
func TestBudget(t *testing.T) {
	const max = 40 << 20 // large requests: 30 MiB
	type step struct {
		budget int // which of three budgets
		op     string
		n      int64
		least  int64
		ok     bool
		held   int64
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"large requests stop at three quarters", []step{
			{0, "ensure", 20 << 20, 0, true, 20 << 20},
			{1, "ensure", 11 << 20, 0, false, 0},
			{1, "ensure", 10 << 20, 0, true, 10 << 20},
			{2, "ensure", SmallRequest, 0, true, SmallRequest},
		}},
		{"small requests use the last quarter", []step{
			{0, "ensure", 30 << 20, 0, true, 30 << 20},
			{1, "ensure", SmallRequest, 0, true, SmallRequest},
			{2, "ensure", SmallRequest + 1, 0, false, 0},
		}},
		{"a budget grows and shrinks", []step{
			{0, "ensure", 1 << 20, 0, true, 1 << 20},
			{0, "ensure", 512 << 10, 0, true, 1 << 20},
			{0, "ensure", 25 << 20, 0, true, 25 << 20},
			{0, "shrink", 2 << 20, 0, true, 2 << 20},
			{1, "ensure", 28 << 20, 0, true, 28 << 20},
		}},
		{"ensure up to what fits", []step{
			{0, "ensure", 24 << 20, 0, true, 24 << 20},
			{1, "upto", 26 << 20, 2 << 20, true, 6 << 20},
			{2, "upto", 26 << 20, 2 << 20, false, 0},
			{2, "upto", 26 << 20, 512 << 10, true, SmallRequest}, // from the small requests' quarter
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewInFlight(max, 1<<20)
			budgets := []*Budget{{l: l}, {l: l}, {l: l}}
			for i, s := range tt.steps {
				b := budgets[s.budget]
				ok := true
				switch s.op {
				case "ensure":
					ok = b.Ensure(s.n)
				case "shrink":
					b.Shrink(s.n)
				case "upto":
					_, ok = b.EnsureUpTo(s.n, s.least)
				}
				if ok != s.ok || b.held != s.held {
					t.Fatalf("step %d: %s %d: ok %v, holds %d; want %v, %d", i, s.op, s.n, ok, b.held, s.ok, s.held)
				}
			}
			var sum int64
			for _, b := range budgets {
				sum += b.held
				b.release()
			}
			if sum > max || l.Used() != 0 {
				t.Fatalf("held %d in all, %d left after release", sum, l.Used())
			}
		})
	}
	var none *Budget
	if !none.Ensure(1<<40) || BudgetFrom(context.Background()) != nil {
		t.Fatal("without a limit everything is granted")
	}
}

// A compressed native body counts what it decompresses to as it grows,
// not what was sent: a small gzip body that decompresses past the room
// left is refused with 503 (on the old main it was reserved as sent, or
// at most the limit, and 64 such bodies held 1.2 GB), and one that fits is
// stored.
func TestNativeCompressedBodyCountsDecompressed(t *testing.T) {
	ctx := context.Background()
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: t.TempDir(), SyncAlways: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st, err := store.CreateStream(ctx, shards.StreamSpec{Name: "clicks", Shards: 1, Limits: shards.Limits{BytesPerSecond: 1 << 30, RecordsPerSecond: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(Limits{MaxRequestSize: 16 << 20, MaxRecordSize: 1000 << 10}, map[string]Target{"clicks": {Stream: st}}, nil, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	l := NewInFlight(minInFlight(4<<20), 16<<20) // room for an 8 MiB buffer, not 16
	srv := httptest.NewServer(l.Wrap(s.Handler()))
	defer srv.Close()
	line := []byte(`{"a":"` + strings.Repeat("x", 1017) + `"}` + "\n") // 1 KiB
	lines := func(n int) []byte { return bytes.Repeat(line, n>>10) }
	tests := []struct {
		name     string
		body     []byte
		encoding string
		status   int
		want     string
	}{
		{"gzip, 12 MiB decompressed", gz(lines(12 << 20)), "gzip", http.StatusServiceUnavailable, `"code":"ServiceUnavailable"`},
		{"zstd, 12 MiB decompressed", zst(lines(12 << 20)), "zstd", http.StatusServiceUnavailable, `"code":"ServiceUnavailable"`},
		{"gzip, 2 MiB decompressed", gz(lines(2 << 20)), "gzip", http.StatusOK, `"failed_record_count":0`},
		{"identity, 2 MiB", lines(2 << 20), "", http.StatusOK, `"failed_record_count":0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/streams/clicks/records", bytes.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/x-ndjson")
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
				t.Fatalf("%d %.200s; want %d %s", resp.StatusCode, body, tt.status, tt.want)
			}
			if tt.status == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
				t.Fatal("no Retry-After")
			}
			await.Cond(t, 10*time.Second, "reservations returned", func() bool { return l.Used() == 0 })
		})
	}
}

// A name that is not 1-128 of [a-zA-Z0-9_.-] is 400 InvalidArgumentException
// on the native API, before anything else, as on the AWS APIs (it was 404
// on the old main, whatever the name).
func TestNativeNamesAreValidated(t *testing.T) {
	e := newTestEnv(t, shards.Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 1000})
	tests := []struct {
		name   string
		status int
		code   string
	}{
		{strings.Repeat("a", 129), http.StatusBadRequest, "InvalidArgumentException"},
		{"a%20b", http.StatusBadRequest, "InvalidArgumentException"},
		{"%C3%A9", http.StatusBadRequest, "InvalidArgumentException"},
		{"a%00", http.StatusBadRequest, "InvalidArgumentException"},
		{strings.Repeat("a", 128), http.StatusNotFound, "ResourceNotFoundException"},
		{"plain", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name[:min(len(tt.name), 16)], func(t *testing.T) {
			status, _, out := e.put(t, tt.name, hdr("Content-Type", "application/x-ndjson"), []byte(`{"a":1}`))
			code := ""
			if out.Error != nil {
				code = out.Error.Code
			}
			if status != tt.status || code != tt.code {
				t.Fatalf("%d %q; want %d %q", status, code, tt.status, tt.code)
			}
		})
	}
}
