package catalog

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/ingest/auth"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/shards"
)

// CreateStream creates a Kinesis stream with n shards and default quotas,
// in capacity mode capacity (shards.Provisioned or shards.OnDemand; ""
// is Provisioned).
func (c *Catalog) CreateStream(ctx context.Context, name string, n int, capacity string) error {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	if c.taken(name) {
		return fmt.Errorf("Stream %s: %w", name, awsapi.ErrExists)
	}
	if !shards.NameFits(name, n) {
		return fmt.Errorf("stream name %q is too long for the shard log once escaped ('_' and '.' count twice): use a shorter one: %w", name, awsapi.ErrInvalid)
	}
	if err := c.checkLimits(n); err != nil {
		return err
	}
	now := time.Now().UTC()
	def := streamDef{Name: name, Shards: n, Retention: defaultRetention, ID: newID(), Pending: true, Claimed: &now}
	key := metaKey(streamPrefix, name)
	rev, err := c.claim(ctx, key, metaKey(deliveryPrefix, name), "Stream "+name, def)
	if err != nil {
		return err
	}
	def.Pending, def.Claimed = false, nil
	// The name is this call's on every node from here on: what it creates
	// it may remove again.
	if err := c.openStream(ctx, def, capacity, false); err != nil {
		if _, open := c.Stream(name); open {
			c.dropStream(context.WithoutCancel(ctx), name)
		}
		c.unclaim(ctx, key)
		return err
	}
	if err := c.commit(ctx, key, def, rev); err != nil {
		c.dropStream(context.WithoutCancel(ctx), name)
		c.unclaim(ctx, key)
		return err
	}
	c.logger.Info("stream created through the API", "stream", name, "shards", n, "capacity", capacity)
	return nil
}

// openStream opens a created stream's log; capacity is a new stream's
// mode (one opened again keeps its own). existing opens only a log some
// node created (shards.StreamSpec.Existing).
func (c *Catalog) openStream(ctx context.Context, def streamDef, capacity string, existing bool) error {
	log, err := c.opts.Store.CreateStream(ctx, shards.StreamSpec{Name: def.Name, Shards: def.Shards, Retention: def.Retention,
		Capacity: capacity, Existing: existing})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.streams[def.Name] = &streamEntry{info: awsapi.Stream{Name: def.Name, Log: log, Retention: def.Retention, Created: log.Created()},
		def: def}
	c.mu.Unlock()
	if c.opts.Targets != nil {
		if err := c.opts.Targets.SetTarget(def.Name, ingest.Target{Stream: log}); err != nil {
			return err
		}
	}
	return nil
}

// dropStream forgets a stream and deletes its log.
func (c *Catalog) dropStream(ctx context.Context, name string) error {
	c.mu.Lock()
	delete(c.streams, name)
	c.mu.Unlock()
	if c.opts.Targets != nil {
		c.opts.Targets.RemoveTarget(name)
	}
	return c.opts.Store.DeleteStream(ctx, name)
}

// DeleteStream deletes a stream created through the API, and its records.
// It finishes even when ctx ends.
func (c *Catalog) DeleteStream(ctx context.Context, name string) error {
	ctx = context.WithoutCancel(ctx)
	c.ctl.Lock()
	defer c.ctl.Unlock()
	c.mu.RLock()
	e, ok := c.streams[name]
	c.mu.RUnlock()
	switch {
	case !ok:
		return fmt.Errorf("Stream %s: %w", name, awsapi.ErrNotFound)
	case e.declared:
		return fmt.Errorf("Stream %s is %w; remove it there", name, awsapi.ErrDeclared)
	}
	if err := c.opts.Store.DeleteMeta(ctx, metaKey(streamPrefix, name)); err != nil {
		return err
	}
	c.logger.Info("stream deleted through the API", "stream", name)
	return c.dropStream(ctx, name)
}

// SetRetention changes a created stream's retention period.
func (c *Catalog) SetRetention(ctx context.Context, name string, retention time.Duration) error {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	c.mu.RLock()
	e, ok := c.streams[name]
	c.mu.RUnlock()
	switch {
	case !ok:
		return fmt.Errorf("Stream %s: %w", name, awsapi.ErrNotFound)
	case e.declared:
		return fmt.Errorf("Stream %s is %w; change its retention there", name, awsapi.ErrDeclared)
	}
	def := e.def
	def.Retention = retention
	if err := c.save(ctx, metaKey(streamPrefix, name), def); err != nil {
		return err
	}
	c.mu.Lock()
	e.info.Retention, e.def = retention, def
	c.mu.Unlock()
	return nil
}

// CreateDelivery creates and starts a DirectPut delivery stream.
func (c *Catalog) CreateDelivery(ctx context.Context, spec awsapi.DeliverySpec) error {
	if c.opts.Start == nil {
		return fmt.Errorf("CreateDeliveryStream needs firehose_api.s3 in the config: %w", awsapi.ErrDisabled)
	}
	if err := c.checkBucket(spec); err != nil {
		return err
	}
	c.ctl.Lock()
	defer c.ctl.Unlock()
	if c.taken(spec.Name) {
		return fmt.Errorf("Firehose %s: %w", spec.Name, awsapi.ErrExists)
	}
	now := time.Now().UTC()
	def := deliveryDef{Spec: spec, Shards: c.opts.DeliveryShards, ID: newID(), Pending: true, Claimed: &now}
	if err := c.checkLimits(max(def.Shards, 1)); err != nil {
		return err
	}
	key := metaKey(deliveryPrefix, spec.Name)
	rev, err := c.claim(ctx, key, metaKey(streamPrefix, spec.Name), "Firehose "+spec.Name, def)
	if err != nil {
		return err
	}
	def.Pending, def.Claimed = false, nil
	// The name is this call's on every node from here on: a delivery
	// stream of this name may have been deleted, so it starts afresh, and
	// what it creates it may remove again.
	if err := c.opts.Store.DeleteCheckpoints(ctx, spec.Name, def.Shards); err != nil {
		c.unclaim(ctx, key)
		return err
	}
	if err := c.openDelivery(ctx, def, false); err != nil {
		c.opts.Store.DeleteStream(context.WithoutCancel(ctx), spec.Name) // new and empty
		c.unclaim(ctx, key)
		return err
	}
	if err := c.commit(ctx, key, def, rev); err != nil {
		c.dropDelivery(context.WithoutCancel(ctx), spec.Name)
		c.unclaim(ctx, key)
		return err
	}
	c.logger.Info("delivery stream created through the API", "delivery", spec.Name, "bucket", spec.Bucket)
	return nil
}

// checkLimits refuses a new stream of n shards past MaxStreams or
// MaxShards.
func (c *Catalog) checkLimits(n int) error {
	streams, _ := c.opts.Store.Counts()
	if c.opts.MaxStreams > 0 && streams+1 > c.opts.MaxStreams {
		return fmt.Errorf("this server has %d streams, its limit (storage.max_streams); delete one first: %w", streams, awsapi.ErrLimit)
	}
	return c.checkShards(n)
}

// checkShards refuses n more open shards past MaxShards.
func (c *Catalog) checkShards(n int) error {
	_, shards := c.opts.Store.Counts()
	if c.opts.MaxShards > 0 && shards+n > c.opts.MaxShards {
		return fmt.Errorf("this server has %d shards and its limit is %d (storage.max_shards); %d more do not fit: %w",
			shards, c.opts.MaxShards, n, awsapi.ErrLimit)
	}
	return nil
}

// checkBucket refuses a delivery stream that would write outside
// firehose_api.allowed_buckets: its prefix and its error prefix must both
// match one entry.
func (c *Catalog) checkBucket(spec awsapi.DeliverySpec) error {
	if len(c.opts.AllowedBuckets) == 0 {
		return nil
	}
	for _, prefix := range []string{spec.Prefix, spec.ErrorOutputPrefix} {
		if !slices.ContainsFunc(c.opts.AllowedBuckets, func(allowed string) bool { return bucketAllows(allowed, spec.Bucket, prefix) }) {
			return fmt.Errorf("bucket %q with prefix %q is not in this server's firehose_api.allowed_buckets; ask an operator, or use an allowed bucket and prefix: %w",
				spec.Bucket, prefix, awsapi.ErrInvalid)
		}
	}
	return nil
}

// bucketAllows reports whether an allowed_buckets entry covers prefix in
// bucket: "bucket" covers every prefix, "bucket/glob" the prefixes the glob
// matches (* any run of characters, "/" included; ? one character).
func bucketAllows(allowed, bucket, prefix string) bool {
	b, glob, hasGlob := strings.Cut(allowed, "/")
	if b != bucket {
		return false
	}
	return !hasGlob || auth.WildcardMatch(glob, prefix)
}

// openDelivery opens a created delivery stream's log and starts it. When it
// cannot start (firehose_api.s3 is gone from the config, say), the delivery
// stream still takes puts and keeps them, and the failure is logged: nothing
// stored is ever deleted for a configuration problem. existing opens only
// a log some node created (shards.StreamSpec.Existing).
func (c *Catalog) openDelivery(ctx context.Context, def deliveryDef, existing bool) error {
	spec := def.Spec
	log, err := c.opts.Store.CreateStream(ctx, shards.StreamSpec{Name: spec.Name, Shards: def.Shards,
		Retention: defaultRetention, Limits: c.opts.DeliveryLimits, Existing: existing})
	if err != nil {
		return err
	}
	var stop func()
	switch {
	case c.opts.Start == nil:
		c.logger.Error("a delivery stream created through the API cannot deliver: firehose_api.s3 is not in the config; its records are kept",
			"delivery", spec.Name)
	default:
		if stop, err = c.opts.Start(spec, log); err != nil {
			return fmt.Errorf("Firehose %s: %v: %w", spec.Name, err, awsapi.ErrInvalid)
		}
	}
	c.mu.Lock()
	c.deliveries[spec.Name] = &deliveryEntry{
		info: awsapi.Delivery{Name: spec.Name, Log: log, Created: log.Created(), Destination: destinationOf(spec),
			Version: def.Version},
		id:        def.ID,
		retention: defaultRetention,
		spec:      spec,
		stop:      stop,
		shards:    def.Shards,
	}
	c.mu.Unlock()
	if c.opts.Targets != nil {
		if err := c.opts.Targets.SetTarget(spec.Name, ingest.Target{Stream: log, DirectPut: true}); err != nil {
			return err
		}
	}
	return nil
}

// dropDelivery stops a created delivery stream and deletes its log and
// checkpoints.
func (c *Catalog) dropDelivery(ctx context.Context, name string) error {
	c.mu.Lock()
	e := c.deliveries[name]
	delete(c.deliveries, name)
	c.mu.Unlock()
	if c.opts.Targets != nil {
		c.opts.Targets.RemoveTarget(name)
	}
	if e == nil {
		return nil
	}
	if e.stop != nil {
		e.stop()
	}
	if err := c.opts.Store.DeleteCheckpoints(ctx, name, e.info.Log.Shards()); err != nil {
		return err
	}
	return c.opts.Store.DeleteStream(ctx, name)
}

// DeleteDelivery stops a delivery stream created through the API — flushing
// the records it had read, for up to its drain timeout — and deletes it with
// its records, delivered or not, as Firehose does. It finishes even when ctx
// ends, so that no half-deleted delivery stream is left behind.
func (c *Catalog) DeleteDelivery(ctx context.Context, name string) error {
	ctx = context.WithoutCancel(ctx)
	c.ctl.Lock()
	defer c.ctl.Unlock()
	c.mu.RLock()
	e, ok := c.deliveries[name]
	c.mu.RUnlock()
	switch {
	case !ok:
		return fmt.Errorf("Firehose %s: %w", name, awsapi.ErrNotFound)
	case e.declared:
		return fmt.Errorf("Firehose %s is %w; remove it there", name, awsapi.ErrDeclared)
	}
	if err := c.opts.Store.DeleteMeta(ctx, metaKey(deliveryPrefix, name)); err != nil {
		return err
	}
	c.logger.Info("delivery stream deleted through the API", "delivery", name)
	if err := c.dropDelivery(ctx, name); err != nil {
		return err
	}
	// Its pinned start and replay count: created again under its name, it
	// starts afresh.
	return pipeline.ForgetStart(ctx, c.opts.Store, name)
}
