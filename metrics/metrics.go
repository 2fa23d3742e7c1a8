package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Delivery holds the metrics the delivery pipelines move, labelled by
// delivery name.
type Delivery struct {
	// Records and Bytes count what destinations accepted.
	Records *prometheus.CounterVec // {delivery}
	Bytes   *prometheus.CounterVec // {delivery}
	// ErrorOutputRecords counts records written to the error output, by
	// error output type (processing-failed, delivery-failed, …).
	ErrorOutputRecords *prometheus.CounterVec // {delivery, type}
	// BehindRetention is how far past its stream's retention the oldest
	// record a delivery has not delivered is: 0 when it keeps up. Trimming
	// waits for it, so the shard log grows.
	BehindRetention *prometheus.GaugeVec // {delivery, stream}
	// BufferBytes is the data bytes a delivery's buffers hold, all shards.
	BufferBytes *prometheus.GaugeVec // {delivery}
	// Flushes counts buffers flushed, by flush reason (size, interval,
	// schedule, shutdown, memory).
	Flushes *prometheus.CounterVec // {delivery, reason}
	// Batches counts the batches a delivery finished with, by result:
	// ResultOK, ResultPartial, ResultFailed.
	Batches *prometheus.CounterVec // {delivery, result}
	// Duration is how long the destination took with a batch, retries
	// included.
	Duration *prometheus.HistogramVec // {delivery}
	// Retries counts retries: of a whole batch (destinations.WithRetry) and
	// each round of a destination's own item retries (Elasticsearch).
	Retries *prometheus.CounterVec // {delivery}
	// DataFreshness is the age of the oldest record a delivery has read and
	// not yet delivered, over all its shards (0: none pending), read at
	// scrape time from a function each running delivery sets.
	DataFreshness *GaugeFuncVec // {delivery}
	// DestinationConnected is 1 once a delivery's destination has been
	// reached at start (Postgres: connected, table found), 0 while the
	// delivery waits for it; 1 for destinations that connect per request.
	DestinationConnected *prometheus.GaugeVec // {delivery}
}

// Batch results.
const (
	ResultOK      = "ok"      // the destination took every record
	ResultPartial = "partial" // it took some; the others went to the error output
	ResultFailed  = "failed"  // it took none; the batch went to the error output
)

// deliveryBuckets span a quick local write (5 ms) to a batch retried for
// the default retry duration and beyond (10 min).
var deliveryBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// NewDelivery registers the delivery metrics on reg.
func NewDelivery(reg prometheus.Registerer) *Delivery {
	m := &Delivery{
		Records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hydrant_delivery_records_total",
			Help: "Records the destination accepted (Firehose's DeliveryTo*.Records).",
		}, []string{"delivery"}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hydrant_delivery_bytes_total",
			Help: "Data bytes the destination accepted (Firehose's DeliveryTo*.Bytes).",
		}, []string{"delivery"}),
		ErrorOutputRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hydrant_delivery_error_output_records_total",
			Help: "Records written to the error output, by error output type.",
		}, []string{"delivery", "type"}),
		BehindRetention: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hydrant_delivery_behind_retention_seconds",
			Help: "How far past the stream's retention the oldest undelivered record is (0: keeping up); trimming waits for it.",
		}, []string{"delivery", "stream"}),
		BufferBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hydrant_delivery_buffer_bytes",
			Help: "Data bytes the delivery's buffers hold, all shards.",
		}, []string{"delivery"}),
		Flushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hydrant_delivery_flushes_total",
			Help: "Buffers flushed, by reason: size, interval, schedule, shutdown, memory.",
		}, []string{"delivery", "reason"}),
		Batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hydrant_delivery_batches_total",
			Help: "Batches finished, by result: ok (all delivered), partial (some records to the error output), failed (all to the error output).",
		}, []string{"delivery", "result"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hydrant_delivery_duration_seconds",
			Help:    "Time the destination took with a batch, retries included.",
			Buckets: deliveryBuckets,
		}, []string{"delivery"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hydrant_delivery_retries_total",
			Help: "Retries of a whole batch, and rounds of item retries of destinations that retry items (Elasticsearch).",
		}, []string{"delivery"}),
		DataFreshness: NewGaugeFuncVec(prometheus.GaugeOpts{
			Name: "hydrant_delivery_data_freshness_seconds",
			Help: "Age of the oldest record read and not yet delivered, over all shards (Firehose's DataFreshness); 0: none pending.",
		}, "delivery"),
		DestinationConnected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hydrant_delivery_destination_connected",
			Help: "1 once the destination has been reached at start, 0 while the delivery waits for it (records wait in the shard log).",
		}, []string{"delivery"}),
	}
	reg.MustRegister(m.Records, m.Bytes, m.ErrorOutputRecords, m.BehindRetention,
		m.BufferBytes, m.Flushes, m.Batches, m.Duration, m.Retries, m.DataFreshness, m.DestinationConnected)
	return m
}

// Store holds the shard log's metrics.
type Store struct {
	// ThrottledRecords counts records refused by a shard quota or the disk
	// budget, by shard index (0 … shards−1).
	ThrottledRecords *prometheus.CounterVec // {stream, shard, reason}
}

// Throttle reasons.
const (
	ReasonQuota      = "quota"
	ReasonDiskBudget = "disk_budget"
)

// NewStore registers the shard log's counters on reg.
func NewStore(reg prometheus.Registerer) *Store {
	m := &Store{
		ThrottledRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hydrant_store_throttled_records_total",
			Help: "Records refused with a throttling error: by a shard's quota or because the shard log is at its disk budget.",
		}, []string{"stream", "shard", "reason"}),
	}
	reg.MustRegister(m.ThrottledRecords)
	return m
}

// RegisterStoreUsage registers gauges of the bytes the shard log holds and
// its disk budget (0: none), read from usage at each scrape.
func RegisterStoreUsage(reg prometheus.Registerer, usage func() (used, budget int64)) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hydrant_store_bytes",
			Help: "Bytes the shard log holds.",
		}, func() float64 { used, _ := usage(); return float64(used) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hydrant_store_disk_budget_bytes",
			Help: "The shard log's disk budget (storage.disk_budget); 0: none.",
		}, func() float64 { _, budget := usage(); return float64(budget) }),
	)
}

// StreamShards is what RegisterStreamShards reports of one stream.
type StreamShards struct {
	Stream       string
	Open, Closed int
	Updating     bool
}

// RegisterStreamShards serves hydrant_stream_shards{stream, state} (open
// and closed shards of each stream's lineage) and
// hydrant_stream_updating{stream} (1 while a reshard runs), read from
// streams at each scrape.
func RegisterStreamShards(reg prometheus.Registerer, streams func() []StreamShards) {
	reg.MustRegister(streamShardsCollector{
		shards: prometheus.NewDesc("hydrant_stream_shards", "Shards of each stream's lineage, by state: open (taking records) or closed by a reshard (kept until retention).",
			[]string{"stream", "state"}, nil),
		updating: prometheus.NewDesc("hydrant_stream_updating", "1 while a reshard of the stream runs (Kinesis' UPDATING), else 0.",
			[]string{"stream"}, nil),
		streams: streams,
	})
}

type streamShardsCollector struct {
	shards, updating *prometheus.Desc
	streams          func() []StreamShards
}

func (c streamShardsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.shards; ch <- c.updating }

func (c streamShardsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.streams() {
		ch <- prometheus.MustNewConstMetric(c.shards, prometheus.GaugeValue, float64(s.Open), s.Stream, "open")
		ch <- prometheus.MustNewConstMetric(c.shards, prometheus.GaugeValue, float64(s.Closed), s.Stream, "closed")
		updating := 0.0
		if s.Updating {
			updating = 1
		}
		ch <- prometheus.MustNewConstMetric(c.updating, prometheus.GaugeValue, updating, s.Stream)
	}
}
