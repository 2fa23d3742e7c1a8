package shards

// Limits returns the stream's per-shard limits (its whole quota, before a
// cluster shares it out: see SetNodes).
func (st *Stream) Limits() Limits {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.spec.Limits
}

// SetLimits changes the stream's per-shard limits while it takes puts: each
// open shard's quota enforces l (this node's share of it in a cluster)
// from now on, keeping what its buckets hold up to one second's worth of
// l, and the shards a reshard opens later take l too. A zero l is
// DefaultLimits, as in CreateStream.
func (st *Stream) SetLimits(l Limits) {
	if l == (Limits{}) {
		l = DefaultLimits
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.spec.Limits = l
	share := l.share(int(st.store.nodes.Load()))
	for _, q := range st.quotas {
		if q != nil {
			q.SetLimits(share)
		}
	}
}
