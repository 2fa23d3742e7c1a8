// Package capacity scales on-demand streams: it splits the shards that
// throttle puts and merges adjacent shards that stay quiet.
//
// Every Interval (1 s) a Scaler reads each open shard's quota usage (bytes
// and records admitted, records refused) of every stream whose capacity is
// on_demand. A shard is hot in a tick when its quota refused a record or
// it was written at 90% or more of its limits; a shard hot for SplitAfter
// (3 s) in a row is split in the middle of its hash-key range, every such
// shard of the stream in one reshard, so a stream under a growing load
// doubles its hot shards every few seconds. Two adjacent shards that were
// both written at under 20% of their limits, with nothing refused, for
// MergeAfter (5 min) are merged, every such pair in one reshard, but never
// below the stream's configured shard count. One reshard at a time per
// stream; shard counts stay within MaxShards over all streams.
package capacity
