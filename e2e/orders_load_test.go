package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// orderLoad puts orders to a stream — {"order_id", "customer", "ts"}, ids
// counting up from 1, timestamps on two days and three hours of each — and
// remembers which the server acknowledged. Safe for concurrent use.
type orderLoad struct {
	stream string
	next   atomic.Int64
	mu     sync.Mutex
	acked  map[int64]bool
}

func newOrderLoad(stream string) *orderLoad {
	return &orderLoad{stream: stream, acked: map[int64]bool{}}
}

// put puts n orders to h in one request. extra is appended to each order's
// members, with ID replaced by the order's id (`,"total":{"amount":ID.5}`).
func (l *orderLoad) put(h *hydrant, n int, extra string) error {
	var body strings.Builder
	ids := make([]int64, n)
	for i := range ids {
		id := l.next.Add(1)
		ids[i] = id
		fmt.Fprintf(&body, "{\"order_id\":%d,\"customer\":\"c%d\",\"ts\":\"2026-12-0%dT%02d:00:00Z\"%s}\n",
			id, id%3, 1+id%2, id%3, strings.ReplaceAll(extra, "ID", fmt.Sprint(id)))
	}
	status, res, err := h.put(l.stream, []byte(body.String()))
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("put: %d %v", status, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, r := range res.Records {
		if r.ErrorCode == "" {
			l.acked[ids[i]] = true
		}
	}
	return nil
}

// produce runs producers that put 50 orders a request to h until stop is
// called; stop returns once they have.
func (l *orderLoad) produce(h *hydrant, producers int) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range producers {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				l.put(h, 50, "")
			}
		})
	}
	return func() { close(done); wg.Wait() }
}

// owed is how many orders were acknowledged.
func (l *orderLoad) owed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// last is the id of the last order put so far.
func (l *orderLoad) last() int64 { return l.next.Load() }

// missing returns the acknowledged orders that ids (read back from a
// destination) lacks, sorted.
func (l *orderLoad) missing(ids []int64) []int64 {
	have := make(map[int64]bool, len(ids))
	for _, id := range ids {
		have[id] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int64
	for id := range l.acked {
		if !have[id] {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// checkOnce fails t unless ids holds every acknowledged order exactly once.
func (l *orderLoad) checkOnce(t *testing.T, ids []int64) {
	t.Helper()
	seen := make(map[int64]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("order %d appended twice", id)
		}
		seen[id] = true
	}
	if m := l.missing(ids); len(m) > 0 {
		t.Fatalf("%d acknowledged orders are not in the table (the first: %d)", len(m), m[0])
	}
}
