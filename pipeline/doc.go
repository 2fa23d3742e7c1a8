// Package pipeline runs deliveries: for each (delivery, shard) one loop reads
// the shard log in order from the delivery's checkpoint, runs the transforms,
// buffers records per partition-key set, flushes batches to the destination
// (with retries), routes what cannot be processed or delivered to the error
// output, and only then advances the checkpoint. A crash at any point
// re-reads from the last checkpoint; deterministic object names make the
// re-delivery rewrite what was already written. A destination that must
// reach its server first (Config.Start) is started, and retried with
// backoff, before any shard is read: until then its records wait in the
// shard log and the delivery reports itself not connected.
//
// A delivery follows its stream's lineage of shards (see shards.Lineage):
// every shard, including those reshards make while it runs. A shard is read
// only once each shard it came from is closed and delivered to its end by
// this delivery — on this node or, under leases, another — so a partition
// key's records reach the destination in the order they were put, across
// any number of splits and merges. A closed shard read to its end is
// flushed at once, checkpointed at its end, and its lease given up for good.
package pipeline
