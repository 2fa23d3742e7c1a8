package ingest

import (
	"net/http"
	"strconv"
	"sync"
)

// InFlight bounds the bytes that requests being served may make the
// server hold, across both APIs and every connection: a request reserves
// what it may hold before anything is read, and gives it back when its
// answer is written. One that does not fit is refused at once, unread,
// with 503 and Retry-After in its API's error format, so that many slow or
// unread requests cannot exhaust memory. It is safe for concurrent use.
type InFlight struct {
	max     int64
	reserve func(*http.Request) int64
	mu      sync.Mutex
	used    int64
}

// Reservations, by what a request can make the server hold.
const (
	// getRecordsReserve is a GetRecords answer at its largest: 10 MiB of
	// data, base64 in JSON (4/3), and the encoder's copy.
	getRecordsReserve = 10 << 20 * 8 / 3
	smallReserve      = 64 << 10 // a control-plane request or answer
)

// NewInFlight returns a limit of max bytes for requests whose bodies may
// be up to maxRequest bytes after decompression.
func NewInFlight(max int64, maxRequest int) *InFlight {
	return &InFlight{max: max, reserve: func(r *http.Request) int64 { return reservation(r, int64(maxRequest)) }}
}

// reservation is what r may make the server hold: its body as declared
// (its decompressed limit when compressed or of unknown length), and for a
// GetRecords call, the answer's largest size.
func reservation(r *http.Request, maxRequest int64) int64 {
	if r.Header.Get("X-Amz-Target") == "Kinesis_20131202.GetRecords" {
		return getRecordsReserve
	}
	switch {
	case r.Method == http.MethodGet || r.ContentLength == 0:
		return smallReserve
	case r.ContentLength < 0 || r.Header.Get("Content-Encoding") != "":
		return maxRequest
	}
	// The body, and the copy decoding makes of it.
	return min(2*r.ContentLength, maxRequest) + smallReserve
}

// Wrap serves h within the limit.
func (l *InFlight) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			h.ServeHTTP(w, r)
			return
		}
		n := min(l.reserve(r), l.max)
		if !l.acquire(n) {
			refuseBusy(w, r)
			return
		}
		defer l.release(n)
		h.ServeHTTP(w, r)
	})
}

// Used returns the bytes reserved now.
func (l *InFlight) Used() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used
}

func (l *InFlight) acquire(n int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.used+n > l.max {
		return false
	}
	l.used += n
	return true
}

func (l *InFlight) release(n int64) {
	l.mu.Lock()
	l.used -= n
	l.mu.Unlock()
}

// refuseBusy answers 503 with Retry-After, in the AWS APIs' JSON error
// shape for a POST / with X-Amz-Target and in the native API's otherwise.
// The body is left unread: the server closes the connection after a large
// unread body rather than reading it.
func refuseBusy(w http.ResponseWriter, r *http.Request) {
	const msg = "The server is holding as many request bytes as it may (server.max_in_flight_bytes): retry after a moment."
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Connection", "close")
	if r.URL.Path == "/" && r.Header.Get("X-Amz-Target") != "" {
		body := `{"__type":"ServiceUnavailableException","message":` + strconv.Quote(msg) + `}`
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("x-amzn-ErrorType", "ServiceUnavailableException")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(body))
		return
	}
	writeError(w, &requestError{status: http.StatusServiceUnavailable, code: "ServiceUnavailable", message: msg})
}
