package catalog

// Limits returns the bounds on what may be open: streams and their open
// shards in all (Options.MaxStreams and MaxShards; 0: no bound), for
// DescribeLimits.
func (c *Catalog) Limits() (maxStreams, maxShards int) {
	return c.opts.MaxStreams, c.opts.MaxShards
}
