package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/hydrant-dev/hydrant/pipeline"
)

// flakyStart is a destination's server as Start sees it: unreachable, or
// missing the table, until up is set. It stands in for the network.
type flakyStart struct {
	up       atomic.Bool
	err      error
	attempts atomic.Int64
}

func (s *flakyStart) Start(ctx context.Context) error {
	s.attempts.Add(1)
	if s.up.Load() {
		return nil
	}
	return s.err
}

// A delivery whose destination cannot be reached at start reads nothing
// — its records wait in the shard log, none goes to the error output
// however long that takes past the retry duration — and delivers all of
// them once Start succeeds, without being started again.
func TestDeliveryWaitsForItsDestinationAtStart(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"unreachable", errors.New("postgres: dial tcp 127.0.0.1:1: connect: connection refused")},
		{"table missing", destinations.Permanent(errors.New("postgres: table public.t does not exist"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 2)
			starter := &flakyStart{err: tt.err}
			m := metrics.NewDelivery(prometheus.NewRegistry())
			d, _ := startWith(t, e, pipeline.Config{
				Buffer:      buffer.Config{Size: 64 << 10, Interval: 50 * time.Millisecond},
				Destination: fileObjects(t, e.out),
				Errors:      fileObjects(t, e.out),
				Retry:       destinations.RetryConfig{Duration: 10 * time.Millisecond, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond},
				Start:       starter,
			}, pipeline.Settings{Metrics: m})
			const n = 100
			var b strings.Builder
			for i := range n {
				fmt.Fprintf(&b, "{\"user\":\"u%d\",\"n\":%d}\n", i%7, i)
			}
			e.put(t, b.String())
			// Far more attempts than the retry duration allows one batch.
			await.Cond(t, 10*time.Second, "20 start attempts", func() bool { return starter.attempts.Load() >= 20 })
			st := d.Stats()
			if st.DestinationConnected || !strings.Contains(st.LastError, "not connected") || !strings.Contains(st.LastError, tt.err.Error()) {
				t.Errorf("while waiting: connected %v, last error %q", st.DestinationConnected, st.LastError)
			}
			if g := testutil.ToFloat64(m.DestinationConnected.WithLabelValues("archive")); g != 0 {
				t.Errorf("hydrant_delivery_destination_connected = %v while waiting, want 0", g)
			}
			if got := lines(t, e.out, ""); len(got) > 0 {
				t.Fatalf("objects written before the destination was reached: %v", got)
			}
			if d.Buffered() != 0 {
				t.Errorf("%d records read before the destination was reached", d.Buffered())
			}

			starter.up.Store(true)
			await.Cond(t, 10*time.Second, "every record delivered", func() bool {
				total := 0
				for _, ls := range lines(t, e.out, "data") {
					total += len(ls)
				}
				// Counted once checkpointed, a moment after the object is written.
				return total == n && d.Stats().DeliveredRecords == n
			})
			if errs := lines(t, e.out, "errors"); len(errs) > 0 {
				t.Errorf("error output: %v, want none", errs)
			}
			if st := d.Stats(); !st.DestinationConnected || st.DeliveredRecords != n {
				t.Errorf("after: connected %v, delivered %d", st.DestinationConnected, st.DeliveredRecords)
			}
			if g := testutil.ToFloat64(m.DestinationConnected.WithLabelValues("archive")); g != 1 {
				t.Errorf("hydrant_delivery_destination_connected = %v once reached, want 1", g)
			}
		})
	}
}

// A delivery stopped while it waits for its destination returns and
// closes it.
func TestDeliveryStoppedWhileWaitingAtStart(t *testing.T) {
	e := newEnv(t, 1)
	starter := &flakyStart{err: errors.New("connection refused")}
	_, stop := startWith(t, e, pipeline.Config{
		Buffer:      buffer.Config{Size: 64 << 10, Interval: 50 * time.Millisecond},
		Destination: fileObjects(t, e.out),
		Errors:      fileObjects(t, e.out),
		Retry:       destinations.RetryConfig{Duration: time.Second, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond},
		Start:       starter,
	}, pipeline.Settings{})
	await.Cond(t, 10*time.Second, "a start attempt", func() bool { return starter.attempts.Load() >= 1 })
	stop() // returns: Run ended
}
