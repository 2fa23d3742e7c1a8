package buffer

import "sync/atomic"

// Memory is a process-wide bound on the bytes all buffers hold together.
// Deliveries add what they buffer and subtract what they flush; past the
// limit they flush their largest buffers early, with reason FlushMemory.
// It is safe for concurrent use; a nil *Memory has no limit.
type Memory struct {
	limit int64
	used  atomic.Int64
}

// NewMemory returns a bound of limit bytes (0: none).
func NewMemory(limit int64) *Memory { return &Memory{limit: limit} }

// Add counts n more bytes held (negative: released).
func (m *Memory) Add(n int) {
	if m != nil {
		m.used.Add(int64(n))
	}
}

// Over reports whether the buffers hold more than the limit.
func (m *Memory) Over() bool { return m != nil && m.limit > 0 && m.used.Load() > m.limit }

// Used returns the bytes held.
func (m *Memory) Used() int64 {
	if m == nil {
		return 0
	}
	return m.used.Load()
}
