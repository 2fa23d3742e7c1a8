package metrics

import (
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// The APIs puts come through: the api label.
const (
	APINative   = "native"
	APIKinesis  = "kinesis"
	APIFirehose = "firehose"
)

// Ingest holds the metrics of puts, by the stream (or DirectPut delivery)
// they name and the API they come through.
type Ingest struct {
	// Requests counts put requests handed to the shard log, whatever became
	// of their records; Records and Bytes count the records and data bytes
	// it stored (Firehose's IncomingPutRequests, IncomingRecords and
	// IncomingBytes). A request refused before — unknown stream, bad body,
	// no credentials — is in none of them, only in PutDuration.
	Requests *prometheus.CounterVec // {stream, api}
	Records  *prometheus.CounterVec // {stream, api}
	Bytes    *prometheus.CounterVec // {stream, api}
	// PutDuration is the time from a put request's start to its response,
	// every put request (refused ones too).
	PutDuration *prometheus.HistogramVec // {api}

	mu   sync.RWMutex
	puts map[putsKey]*Puts
	// fanOut counts what SubscribeToShard sends (see FanOut).
	fanOut *FanOut
}

type putsKey struct{ stream, api string }

// putBuckets span a put answered from memory (1 ms) to one that waited on
// a slow disk or a big body (10 s).
var putBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// NewIngest registers the ingest metrics on reg.
func NewIngest(reg prometheus.Registerer) *Ingest {
	m := &Ingest{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hydrant_ingest_incoming_requests_total",
			Help: "Put requests handed to the shard log (Firehose's IncomingPutRequests).",
		}, []string{"stream", "api"}),
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hydrant_ingest_incoming_records_total",
			Help: "Records stored by puts (Firehose's IncomingRecords).",
		}, []string{"stream", "api"}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hydrant_ingest_incoming_bytes_total",
			Help: "Data bytes of the records stored by puts (Firehose's IncomingBytes).",
		}, []string{"stream", "api"}),
		PutDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hydrant_ingest_put_duration_seconds",
			Help:    "Time from a put request's start to its response, refused requests included.",
			Buckets: putBuckets,
		}, []string{"api"}),
		puts: make(map[putsKey]*Puts),
	}
	reg.MustRegister(m.Requests, m.Records, m.Bytes, m.PutDuration)
	m.fanOut = newFanOut(reg)
	return m
}

// Puts are the counters of puts to one stream through one API.
type Puts struct {
	requests, records, bytes prometheus.Counter
}

// Count counts one put request of which records records holding bytes
// data bytes were stored. A nil *Puts counts nothing.
func (p *Puts) Count(records, bytes int) {
	if p == nil {
		return
	}
	p.requests.Inc()
	if records > 0 {
		p.records.Add(float64(records))
		p.bytes.Add(float64(bytes))
	}
}

// Puts returns the counters of puts to stream through api, creating their
// series the first time. stream must be a name the config or the catalog
// has — never a name a request brought that was not found: each name is a
// series for the rest of the process's life. The counters are resolved
// once; later calls are a map lookup, without allocating.
func (m *Ingest) Puts(stream, api string) *Puts {
	k := putsKey{stream, api}
	m.mu.RLock()
	p, ok := m.puts[k]
	m.mu.RUnlock()
	if ok {
		return p
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, ok := m.puts[k]; ok {
		return p
	}
	// The name may point into a request body (the AWS decoder does not copy
	// strings); kept for the process's life, it must not keep the body.
	stream = strings.Clone(stream)
	k = putsKey{stream, api}
	p = &Puts{
		requests: m.Requests.WithLabelValues(stream, api),
		records:  m.Records.WithLabelValues(stream, api),
		bytes:    m.Bytes.WithLabelValues(stream, api),
	}
	m.puts[k] = p
	return p
}
