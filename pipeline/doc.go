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
package pipeline
