// Package history keeps Hydrant's own recent history for the web console's
// charts: every interval a Sampler reads the cumulative counters of each
// stream and shard (bytes and records stored, records throttled) and each
// delivery's lag from a Source, turns the counters into per-second rates and
// keeps the last hour in fixed-size rings. No Prometheus server is needed;
// the memory is bounded by the series count times the ring's length.
package history
