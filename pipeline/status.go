package pipeline

import (
	"sync"
	"time"
)

// Stats is what a delivery has done since it started, for status reports
// (`hydrant status`); the metrics count the same over the process's life.
type Stats struct {
	DeliveredRecords   int64      `json:"delivered_records"`
	ErrorOutputRecords int64      `json:"error_output_records"`
	LastFlush          *time.Time `json:"last_flush,omitempty"`    // when a batch was last delivered (or sent to the error output)
	LastError          string     `json:"last_error,omitempty"`    // why the last batch that failed did
	LastErrorAt        *time.Time `json:"last_error_at,omitempty"` //
	// DestinationConnected is false while the delivery waits for its
	// destination at start (Config.Start); LastError says why.
	DestinationConnected bool `json:"destination_connected"`
}

// stats keeps a delivery's Stats; shard loops update it concurrently.
type stats struct {
	mu sync.Mutex
	s  Stats
}

// Stats returns what the delivery has done so far.
func (d *Delivery) Stats() Stats {
	d.stats.mu.Lock()
	defer d.stats.mu.Unlock()
	return d.stats.s
}

// flushed records a batch that ended: delivered records delivered, and the
// time.
func (st *stats) flushed(now time.Time, delivered int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.s.DeliveredRecords += int64(delivered)
	st.s.LastFlush = &now
}

// failed records why a batch (or some of its records) did not get delivered.
func (st *stats) failed(now time.Time, why string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.s.LastError, st.s.LastErrorAt = why, &now
}

// erroredOut counts records written to the error output.
func (st *stats) erroredOut(n int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.s.ErrorOutputRecords += int64(n)
}

// connected records whether the destination has been reached.
func (st *stats) connected(ok bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.s.DestinationConnected = ok
}
