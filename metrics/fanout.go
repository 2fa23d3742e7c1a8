package metrics

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// FanOut holds the metrics of enhanced fan-out: the records and data bytes
// SubscribeToShard event streams sent, by stream.
type FanOut struct {
	Records *prometheus.CounterVec // {stream}
	Bytes   *prometheus.CounterVec // {stream}

	mu   sync.RWMutex
	sent map[string]*Sent
}

func newFanOut(reg prometheus.Registerer) *FanOut {
	f := &FanOut{
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hydrant_ingest_fanout_records_total",
			Help: "Records sent to enhanced fan-out consumers (SubscribeToShard).",
		}, []string{"stream"}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hydrant_ingest_fanout_bytes_total",
			Help: "Data and partition key bytes of the records sent to enhanced fan-out consumers.",
		}, []string{"stream"}),
		sent: make(map[string]*Sent),
	}
	reg.MustRegister(f.Records, f.Bytes)
	return f
}

// Sent are the fan-out counters of one stream.
type Sent struct{ records, bytes prometheus.Counter }

// Count counts records holding bytes bytes sent. A nil *Sent counts nothing.
func (s *Sent) Count(records, bytes int) {
	if s == nil || records == 0 {
		return
	}
	s.records.Add(float64(records))
	s.bytes.Add(float64(bytes))
}

// FanOut returns the fan-out counters of stream, a name the catalog has,
// creating their series the first time.
func (m *Ingest) FanOut(stream string) *Sent {
	f := m.fanOut
	f.mu.RLock()
	s, ok := f.sent[stream]
	f.mu.RUnlock()
	if ok {
		return s
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.sent[stream]; ok {
		return s
	}
	stream = strings.Clone(stream)
	s = &Sent{records: f.Records.WithLabelValues(stream), bytes: f.Bytes.WithLabelValues(stream)}
	f.sent[stream] = s
	return s
}

// FanOutRecords is the counter vector of records sent by fan-out, by stream.
func (m *Ingest) FanOutRecords() *prometheus.CounterVec { return m.fanOut.Records }

// FanOutBytes is the counter vector of bytes sent by fan-out, by stream.
func (m *Ingest) FanOutBytes() *prometheus.CounterVec { return m.fanOut.Bytes }
