package shards

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Limits are a shard's write limits, as Kinesis sets them per shard.
type Limits struct {
	BytesPerSecond   int64 // partition key bytes included, as Kinesis counts them
	RecordsPerSecond int64
}

// DefaultLimits are Kinesis' per-shard write limits: 1 MiB/s and 1,000 records/s.
var DefaultLimits = Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 1000}

// share is one node's part of l when n nodes enforce it together: 1/n of
// each limit, rounded up, at least 1.
func (l Limits) share(n int) Limits {
	if n <= 1 {
		return l
	}
	part := func(v int64) int64 { return max((v+int64(n)-1)/int64(n), 1) }
	return Limits{BytesPerSecond: part(l.BytesPerSecond), RecordsPerSecond: part(l.RecordsPerSecond)}
}

// Quota is a pair of token buckets (bytes and records) for one shard. Both
// refill continuously at their per-second rate and hold at most one second's
// worth, so a shard absorbs a one-second burst and sustains its limits.
// A record is admitted only when both buckets can pay for it, so a throttled
// record consumes nothing and fails alone. A record larger than a second's
// worth of bytes is admitted when the bucket is full and leaves it in debt,
// so it waits its turn instead of being refused forever.
// Safe for concurrent use.
type Quota struct {
	limits Limits

	mu      sync.Mutex
	bytes   float64
	records float64
	last    time.Time
	usage   QuotaUsage
}

// QuotaUsage counts what a quota admitted and refused since it was made:
// two readings apart in time give a shard's write rate and throttling.
type QuotaUsage struct {
	Bytes, Records int64 // admitted
	Throttled      int64 // records refused
}

// NewQuota returns a full quota with the given limits.
func NewQuota(l Limits) *Quota {
	return &Quota{limits: l, bytes: float64(l.BytesPerSecond), records: float64(l.RecordsPerSecond)}
}

// Admit reports whether a record of size bytes (data plus partition key) may
// be written at now, and if so takes its cost from both buckets.
func (q *Quota) Admit(now time.Time, size int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.refill(now)
	if q.records < 1 || q.bytes < min(float64(size), float64(q.limits.BytesPerSecond)) {
		q.usage.Throttled++
		return false
	}
	q.records--
	q.bytes -= float64(size)
	q.usage.Records++
	q.usage.Bytes += int64(size)
	return true
}

// admitAll admits every record of perShard (indexes into recs, by open
// shard, ids giving the shard of each) at now, or none: the quotas of the
// shards involved are locked together, in shard order, and each must pay
// for its whole part. A part larger than a second's worth of a limit is
// admitted when that bucket is full, and leaves it in debt. Refused, each
// quota counts its part as throttled and nothing is taken.
func (st *Stream) admitAll(now time.Time, ids []int, perShard [][]int, recs []Record) bool {
	type part struct {
		shard    int
		q        *Quota
		n, bytes float64
	}
	parts := make([]part, 0, len(perShard))
	for open, idx := range perShard {
		if len(idx) == 0 {
			continue
		}
		p := part{shard: ids[open], q: st.quotas[ids[open]], n: float64(len(idx))}
		for _, i := range idx {
			p.bytes += float64(recs[i].Size())
		}
		parts = append(parts, p)
	}
	// ids are in hash-key order, not shard order: sort for the lock order.
	slices.SortFunc(parts, func(a, b part) int { return cmp.Compare(a.shard, b.shard) })
	for _, p := range parts {
		p.q.mu.Lock()
		defer p.q.mu.Unlock()
	}
	ok := true
	for _, p := range parts {
		q := p.q
		q.refill(now)
		l := q.limits
		records := q.records >= min(p.n, float64(l.RecordsPerSecond))
		bytes := q.bytes >= min(p.bytes, float64(l.BytesPerSecond))
		ok = ok && records && bytes
	}
	for _, p := range parts {
		q := p.q
		if !ok {
			q.usage.Throttled += int64(p.n)
			continue
		}
		q.records -= p.n
		q.bytes -= p.bytes
		q.usage.Records += int64(p.n)
		q.usage.Bytes += int64(p.bytes)
	}
	return ok
}

// Usage returns what the quota admitted and refused so far.
func (q *Quota) Usage() QuotaUsage {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.usage
}

// Limits returns the limits the quota enforces now.
func (q *Quota) Limits() Limits {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.limits
}

// SetLimits makes the quota enforce l. The buckets keep what they hold, up
// to one second's worth of the new limits, and refill at the new rates (the
// time since the last Admit included): a lowered limit applies at once, a
// raised one as the buckets fill up.
func (q *Quota) SetLimits(l Limits) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.limits = l
	q.bytes = min(q.bytes, float64(l.BytesPerSecond))
	q.records = min(q.records, float64(l.RecordsPerSecond))
}

func (q *Quota) refill(now time.Time) {
	if q.last.IsZero() {
		q.last = now
		return
	}
	elapsed := now.Sub(q.last).Seconds()
	if elapsed <= 0 {
		return
	}
	q.last = now
	q.bytes = min(float64(q.limits.BytesPerSecond), q.bytes+elapsed*float64(q.limits.BytesPerSecond))
	q.records = min(float64(q.limits.RecordsPerSecond), q.records+elapsed*float64(q.limits.RecordsPerSecond))
}

// SetNodes tells the store that n Hydrant nodes take puts for the log: each
// node then enforces 1/n of every stream's per-shard limits (bytes and
// records per second, rounded up, at least 1), so that together they enforce
// the limits when producers spread over the nodes. It applies to the
// streams open now and to those opened later; n < 1 counts as 1.
func (s *Store) SetNodes(n int) {
	n = max(n, 1)
	s.mu.Lock()
	if n == int(s.nodes.Load()) {
		s.mu.Unlock()
		return
	}
	s.nodes.Store(int32(n))
	streams := make([]*Stream, 0, len(s.streams))
	for _, st := range s.streams {
		streams = append(streams, st)
	}
	s.mu.Unlock() // before the streams' locks: a reshard holding one looks streams up
	for _, st := range streams {
		st.mu.Lock()
		share := st.spec.Limits.share(n) // under st.mu: SetLimits changes it
		for _, q := range st.quotas {
			if q != nil {
				q.SetLimits(share)
			}
		}
		st.mu.Unlock()
	}
	s.logger.Info("quotas shared among nodes", "nodes", n)
}
