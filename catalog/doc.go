// Package catalog keeps the set of streams and delivery streams Hydrant
// runs: those the config file declares, and those created through the AWS
// control-plane APIs (Kinesis CreateStream, Firehose CreateDeliveryStream),
// which it stores beside the shard log so that they are there again after a
// restart. It is what the AWS APIs list and describe, what the native API
// puts to, and what the retention job trims. It is also their control plane
// for resharding (SplitShard, MergeShards, UpdateShardCount,
// UpdateStreamMode), which it keeps within storage.max_shards. On a cluster
// (Options.Watch) it watches the stored definitions, so that what another
// node creates, updates or deletes through the APIs opens, restarts or
// closes here too, without a restart (watch.go).
package catalog
