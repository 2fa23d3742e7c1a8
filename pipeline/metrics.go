package pipeline

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/metrics"
)

// deliveryMetrics are one delivery's series, resolved once when the
// delivery is made: moving them costs no label lookup.
type deliveryMetrics struct {
	delivered, deliveredBytes prometheus.Counter
	errorOutput               *prometheus.CounterVec // {type}
	bufferBytes               prometheus.Gauge
	flushes                   map[buffer.FlushReason]prometheus.Counter
	batches                   [3]prometheus.Counter // by batchResult
	duration                  prometheus.Observer
	freshness                 *metrics.GaugeFuncVec
	connected                 prometheus.Gauge
}

// batchResult is how a batch ended; it indexes deliveryMetrics.batches.
type batchResult int

const (
	batchOK      batchResult = iota // the destination took every record
	batchPartial                    // some records went to the error output
	batchFailed                     // every record went to the error output
)

func newDeliveryMetrics(m *metrics.Delivery, name string) deliveryMetrics {
	dm := deliveryMetrics{
		delivered:      m.Records.WithLabelValues(name),
		deliveredBytes: m.Bytes.WithLabelValues(name),
		errorOutput:    m.ErrorOutputRecords.MustCurryWith(prometheus.Labels{"delivery": name}),
		bufferBytes:    m.BufferBytes.WithLabelValues(name),
		flushes:        make(map[buffer.FlushReason]prometheus.Counter, len(buffer.FlushReasons)),
		batches: [3]prometheus.Counter{
			batchOK:      m.Batches.WithLabelValues(name, metrics.ResultOK),
			batchPartial: m.Batches.WithLabelValues(name, metrics.ResultPartial),
			batchFailed:  m.Batches.WithLabelValues(name, metrics.ResultFailed),
		},
		duration:  m.Duration.WithLabelValues(name),
		freshness: m.DataFreshness,
		connected: m.DestinationConnected.WithLabelValues(name),
	}
	for _, r := range buffer.FlushReasons {
		dm.flushes[r] = m.Flushes.WithLabelValues(name, string(r))
	}
	return dm
}

// oldestPending returns the earliest arrival of a record read and not yet
// delivered, over every shard the delivery has seen (see
// shardState.pending); ok is false when nothing is pending.
func (d *Delivery) oldestPending() (t time.Time, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var first int64
	for _, s := range d.shards {
		if v := s.pending.Load(); v != 0 && (first == 0 || v < first) {
			first = v
		}
	}
	if first == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, first), true
}

// freshness is the delivery's DataFreshness at scrape time: the age of the
// oldest record read and not yet delivered, 0 when none is.
func (d *Delivery) freshness() float64 {
	oldest, ok := d.oldestPending()
	if !ok {
		return 0
	}
	return max(0, d.now().Sub(oldest).Seconds())
}

// notePending records that a record that arrived at t is pending, unless
// an older one already is.
func (l *shardLoop) notePending(t time.Time) {
	if t.IsZero() {
		return
	}
	slot := &l.state.pending
	if cur := slot.Load(); cur == 0 || t.UnixNano() < cur {
		slot.Store(t.UnixNano())
	}
}

// resetPending sets the shard's oldest pending arrival from what its
// buffers hold: after a batch is done, delivered or in the error output.
func (l *shardLoop) resetPending() {
	var oldest int64
	for _, b := range l.buffers {
		if t, ok := b.OldestArrival(); ok && !t.IsZero() && (oldest == 0 || t.UnixNano() < oldest) {
			oldest = t.UnixNano()
		}
	}
	l.state.pending.Store(oldest)
}
