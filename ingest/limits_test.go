package ingest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
)

// Requests held by the server (slow bodies, unread answers) reserve what
// they may hold; past max_in_flight_bytes others are refused at once,
// unread, in their API's format, and taken again once room is back. (On the
// old main 48 connections sending 16 MiB bodies slowly held 1.4 GB, and 32
// unread GetRecords answers 1.3 GB.)
func TestInFlightBytesBounded(t *testing.T) {
	const maxRequest = 16 << 20
	release := make(chan struct{})
	var held atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held.Add(1)
		<-release // a body still coming, or an answer the client does not read
		w.WriteHeader(http.StatusOK)
	})
	l := NewInFlight(40<<20, maxRequest)
	srv := httptest.NewServer(l.Wrap(h))
	defer srv.Close()

	send := func(target string, length int64) *http.Response {
		pr, pw := io.Pipe()
		t.Cleanup(func() { pw.Close() })
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", pr)
		req.ContentLength = length
		req.Header.Set("X-Amz-Target", target)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	results := make(chan *http.Response, 2)
	for range 2 { // 2 × (16 MiB + 64 KiB) fit in 40 MiB
		go func() { results <- send("Kinesis_20131202.PutRecords", maxRequest) }()
	}
	await.Cond(t, 10*time.Second, "two requests held", func() bool { return held.Load() == 2 })
	for _, target := range []string{"Kinesis_20131202.PutRecords", "Kinesis_20131202.GetRecords"} {
		resp := send(target, maxRequest)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
			!strings.Contains(string(body), `"__type":"ServiceUnavailableException"`) {
			t.Fatalf("%s past the limit: %d %s", target, resp.StatusCode, body)
		}
	}
	if used := l.Used(); used > 40<<20 {
		t.Fatalf("%d bytes reserved, over the limit", used)
	}
	close(release)
	for range 2 {
		if resp := <-results; resp.StatusCode != http.StatusOK {
			t.Fatalf("a held request: %d", resp.StatusCode)
		}
	}
	await.Cond(t, 10*time.Second, "reservations returned", func() bool { return l.Used() == 0 })
	resp, err := http.Get(srv.URL + "/v1/status")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after release: %v %v", err, resp)
	}
}

func TestReservation(t *testing.T) {
	const maxRequest = 16 << 20
	tests := []struct {
		name   string
		method string
		length int64
		header map[string]string
		want   int64
	}{
		{"small body", http.MethodPost, 1000, nil, 2000 + smallReserve},
		{"big body", http.MethodPost, 12 << 20, nil, maxRequest + smallReserve},
		{"unknown length", http.MethodPost, -1, nil, maxRequest},
		{"gzip body", http.MethodPost, 1000, map[string]string{"Content-Encoding": "gzip"}, maxRequest},
		{"GetRecords", http.MethodPost, 100, map[string]string{"X-Amz-Target": "Kinesis_20131202.GetRecords"}, getRecordsReserve},
		{"GET", http.MethodGet, 0, nil, smallReserve},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/", nil)
			r.ContentLength = tt.length
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			if got := reservation(r, maxRequest); got != tt.want {
				t.Errorf("reservation = %d, want %d", got, tt.want)
			}
		})
	}
}
