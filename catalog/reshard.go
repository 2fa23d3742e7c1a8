package catalog

import (
	"context"
	"fmt"

	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/shards"
)

// The catalog is the AWS APIs' control plane.
var _ awsapi.Control = (*Catalog)(nil)

// SplitShard splits an open shard of stream name at hash key at (Kinesis'
// SplitShard): one more open shard, within MaxShards (ErrLimit past it).
// Errors wrapping shards.ErrReshard are the request's (do not retry);
// shards.ErrReshardInProgress says another reshard runs (retry later).
func (c *Catalog) SplitShard(ctx context.Context, name string, shard int, at shards.HashKey) error {
	return c.reshard(ctx, name, func(int) int { return 1 }, func(*streamEntry) error {
		return c.opts.Store.SplitShard(ctx, name, shard, at)
	})
}

// MergeShards merges two adjacent open shards of stream name (Kinesis'
// MergeShards); errors as SplitShard's.
func (c *Catalog) MergeShards(ctx context.Context, name string, shard, adjacent int) error {
	return c.reshard(ctx, name, func(int) int { return -1 }, func(*streamEntry) error {
		return c.opts.Store.MergeShards(ctx, name, shard, adjacent)
	})
}

// UpdateShardCount reshards stream name to n open shards of even hash-key
// ranges (Kinesis' UNIFORM_SCALING), within MaxShards; errors as
// SplitShard's. A stream created through the API is then defined with n
// shards; a declared one keeps the count its config asks for, which a
// start reshards to only when the config changes it.
func (c *Catalog) UpdateShardCount(ctx context.Context, name string, n int) error {
	return c.reshard(ctx, name, func(open int) int { return n - open }, func(e *streamEntry) error {
		return c.opts.Store.UpdateShardCount(ctx, name, n, !e.declared)
	})
}

// SetStreamMode sets stream name's capacity mode, shards.Provisioned or
// shards.OnDemand (Kinesis' UpdateStreamMode); errors as SplitShard's.
func (c *Catalog) SetStreamMode(ctx context.Context, name, mode string) error {
	return c.reshard(ctx, name, func(int) int { return 0 }, func(*streamEntry) error {
		return c.opts.Store.SetCapacity(ctx, name, mode)
	})
}

// reshard runs change on stream name, which adds added(open shards now)
// open shards, after checking them against MaxShards; changes are
// serialized with creations so that the check holds. A created stream's
// definition is saved again: its count and open shards, which Load checks
// against the limits. Saving is best effort: the reshard is done and
// stored in the shard log either way, and a failure is logged.
func (c *Catalog) reshard(ctx context.Context, name string, added func(open int) int, change func(*streamEntry) error) error {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	c.mu.RLock()
	e, ok := c.streams[name]
	c.mu.RUnlock()
	if !ok {
		return fmt.Errorf("Stream %s: %w", name, awsapi.ErrNotFound)
	}
	log := e.info.Log
	if n := added(log.OpenShards()); n > 0 {
		if err := c.checkShards(n); err != nil {
			return err
		}
	}
	if err := change(e); err != nil {
		return err
	}
	if e.declared {
		return nil
	}
	def := e.def
	def.Shards, def.Open = log.Configured(), log.OpenShards()
	if err := c.save(ctx, metaKey(streamPrefix, name), def); err != nil {
		c.logger.Warn("resharded a stream created through the API, but could not save its shard count; a restart counts its old one against storage.max_shards",
			"stream", name, "error", err)
		return nil
	}
	c.mu.Lock()
	e.def = def
	c.mu.Unlock()
	return nil
}
