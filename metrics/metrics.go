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
}

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
	}
	reg.MustRegister(m.Records, m.Bytes, m.ErrorOutputRecords, m.BehindRetention)
	return m
}

// Store holds the shard log's metrics.
type Store struct {
	// ThrottledRecords counts records refused by a shard quota or the disk
	// budget.
	ThrottledRecords *prometheus.CounterVec // {stream, reason}
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
		}, []string{"stream", "reason"}),
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
