package ingest

import (
	"context"
	"net/http"
	"strconv"
	"sync"
)

// InFlight bounds the bytes that requests being served may make the
// server hold, across both APIs and every connection. A request reserves
// what it is known to need before anything is read (its body as declared,
// twice: the bytes and what is decoded from them), and its handler grows
// the reservation (Budget) as it finds it needs more: a compressed body as
// it decompresses, a body of unknown length as it arrives, a GetRecords
// answer once its size is known. The reservation is given back when the
// answer has been written, so an answer the client does not read stays
// counted. A request that does not fit is refused with 503 and Retry-After
// in its API's error format; refused before its body is read, the body is
// left unread and the connection closed.
//
// Requests holding more than SmallRequest together may take only three
// quarters of the limit: the last quarter is kept for small ones (a small
// put, a status or metrics request), so that large requests held open
// cannot keep everyone else out. It is safe for concurrent use.
type InFlight struct {
	max     int64 // every request together
	bulkMax int64 // what requests over SmallRequest may take the total to
	// maxRequest is a body's largest size, decompressed.
	maxRequest int64
	mu         sync.Mutex
	used       int64
}

const (
	// SmallRequest is the most a request may hold and still use the
	// quarter of the limit kept for small requests.
	SmallRequest = 1 << 20
	// smallReserve is what any request may hold besides its body: a
	// control-plane request or answer, an answer of per-record results.
	smallReserve = 64 << 10
)

// NewInFlight returns a limit of max bytes for requests whose bodies may
// be up to maxRequest bytes after decompression. max must be at least
// minInFlight(maxRequest) (3 × maxRequest is), or the largest request
// never fits.
func NewInFlight(max int64, maxRequest int) *InFlight {
	return &InFlight{max: max, bulkMax: max / 4 * 3, maxRequest: int64(maxRequest)}
}

// minInFlight is the smallest limit that serves a request of maxRequest
// bytes within the three quarters large requests may take.
func minInFlight(maxRequest int64) int64 { return bodyReserve(maxRequest+1)/3*4 + 4 }

// bodyReserve is what a request holding a body buffer of n bytes may hold:
// the buffer, what is decoded from it (records, their log messages), and
// its answer.
func bodyReserve(n int64) int64 { return 2*n + smallReserve }

// reservation is what r is known to need before its body is read: its
// body as declared, or for an AWS API body of unknown length (which that
// API reads whole, without a Budget) the largest. A native body of
// unknown length or compressed grows its Budget as it is read; a
// GetRecords answer grows it once it is known.
func (l *InFlight) reservation(r *http.Request) int64 {
	switch {
	case r.ContentLength > 0:
		return bodyReserve(min(r.ContentLength, l.maxRequest) + 1)
	case r.ContentLength < 0 && isAWS(r):
		return bodyReserve(l.maxRequest + 1)
	}
	return smallReserve
}

// isAWS reports whether r is an AWS API request (POST / with X-Amz-Target).
func isAWS(r *http.Request) bool {
	return r.URL.Path == "/" && r.Header.Get("X-Amz-Target") != ""
}

// Wrap serves h within the limit; h finds the request's Budget with
// BudgetFrom.
func (l *InFlight) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			h.ServeHTTP(w, r)
			return
		}
		b := &Budget{l: l}
		if !b.Ensure(l.reservation(r)) {
			RefuseBusy(w, r)
			return
		}
		defer b.release()
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), budgetKey{}, b)))
	})
}

// Used returns the bytes reserved now.
func (l *InFlight) Used() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used
}

// Budget is what one request holds of an InFlight limit. A request's
// handler grows it before it allocates what the reservation does not
// cover yet; it is given back when the request ends. It belongs to one
// request's goroutine. A nil Budget (no limit) grants everything.
type Budget struct {
	l    *InFlight
	held int64
}

type budgetKey struct{}

// BudgetFrom returns the Budget of the request whose context is ctx, or
// nil when it is served without a limit.
func BudgetFrom(ctx context.Context) *Budget {
	b, _ := ctx.Value(budgetKey{}).(*Budget)
	return b
}

// Ensure makes the request hold at least n bytes in all, and reports
// whether that fits the limit; when it does not, nothing changes and the
// request should be refused (RefuseBusy, or its API's 503).
func (b *Budget) Ensure(n int64) bool {
	if b == nil || n <= b.held {
		return true
	}
	l := b.l
	limit := l.bulkMax
	if n <= SmallRequest {
		limit = l.max
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.used+n-b.held > limit {
		return false
	}
	l.used += n - b.held
	b.held = n
	return true
}

// EnsureUpTo makes the request hold as much of want as fits, and at least
// least; it returns what the request holds, or false when even least does
// not fit (nothing changes then). A least of at most SmallRequest may be
// taken from the small requests' quarter, up to SmallRequest. A nil
// Budget grants want.
func (b *Budget) EnsureUpTo(want, least int64) (int64, bool) {
	if b == nil {
		return want, true
	}
	if b.Ensure(want) {
		return b.held, true
	}
	l := b.l
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(want, l.bulkMax-l.used+b.held)
	if n < least && least <= SmallRequest {
		n = min(want, SmallRequest, l.max-l.used+b.held)
	}
	if n < least {
		return b.held, false
	}
	if n > b.held {
		l.used += n - b.held
		b.held = n
	}
	return b.held, true
}

// Shrink gives back what the request holds over n.
func (b *Budget) Shrink(n int64) {
	if b == nil || n >= b.held {
		return
	}
	b.l.mu.Lock()
	b.l.used -= b.held - n
	b.l.mu.Unlock()
	b.held = n
}

func (b *Budget) release() { b.Shrink(0) }

// BusyMessage says why a request was refused for the in-flight limit.
const BusyMessage = "The server is holding as many request bytes as it may (server.max_in_flight_bytes): retry after a moment."

// RefuseBusy answers 503 with Retry-After, in the AWS APIs' JSON error
// shape for an AWS API request and in the native API's otherwise. The
// connection is closed after the answer: the server would otherwise read
// the rest of a body it refused.
func RefuseBusy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Connection", "close")
	if isAWS(r) {
		body := `{"__type":"ServiceUnavailableException","message":` + strconv.Quote(BusyMessage) + `}`
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("x-amzn-ErrorType", "ServiceUnavailableException")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(body))
		return
	}
	writeError(w, errBusy())
}

func errBusy() *requestError {
	return &requestError{status: http.StatusServiceUnavailable, code: "ServiceUnavailable", message: BusyMessage}
}
