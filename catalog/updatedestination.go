package catalog

import (
	"context"
	"fmt"

	"github.com/hydrant-dev/hydrant/ingest/awsapi"
)

// UpdateDestination changes a created delivery stream's S3 destination
// (Firehose's UpdateDestination) if it is still at version: the new spec
// is started in place of the old one — which first drains, delivering
// what it had read and checkpointing — and reads on from its checkpoints,
// so no record is lost or delivered twice; then it is stored under the
// next version. When the new spec cannot start, the old one is started
// again and nothing changes.
func (c *Catalog) UpdateDestination(ctx context.Context, name string, version int, update awsapi.DestinationUpdate) error {
	ctx = context.WithoutCancel(ctx) // a half-made change is worse than a late one
	c.ctl.Lock()
	defer c.ctl.Unlock()
	c.mu.RLock()
	e, ok := c.deliveries[name]
	c.mu.RUnlock()
	switch {
	case !ok:
		return fmt.Errorf("Firehose %s: %w", name, awsapi.ErrNotFound)
	case e.declared:
		return fmt.Errorf("Firehose %s is %w; change its destination there", name, awsapi.ErrDeclared)
	}
	current := max(e.info.Version, 1)
	if version != current {
		return fmt.Errorf("Firehose %s is at version %d, not %d: %w", name, current, version, awsapi.ErrVersion)
	}
	spec := update.Apply(e.spec)
	if err := c.checkBucket(spec); err != nil {
		return err
	}
	def := deliveryDef{Spec: spec, Shards: e.shards, Version: current + 1, ID: e.id}
	stop, err := c.restart(e, spec)
	if err != nil {
		return err
	}
	if err := c.save(ctx, metaKey(deliveryPrefix, name), def); err != nil {
		if _, back := c.restart(e, e.spec); back != nil {
			c.logger.Error("a delivery stream could not be started again after a failed update; it runs at the next start",
				"delivery", name, "error", back)
		}
		return err
	}
	c.mu.Lock()
	e.spec, e.stop = spec, stop
	e.info.Version = def.Version
	e.info.Destination = destinationOf(spec)
	c.mu.Unlock()
	c.logger.Info("delivery stream's destination updated through the API", "delivery", name, "version", def.Version,
		"bucket", spec.Bucket, "size_mb", spec.SizeInMBs, "interval_s", spec.IntervalInSeconds)
	return nil
}

// restart stops e's delivery (it drains) and starts spec on e's log; when
// spec cannot start, e's own spec is started again. It returns the running
// delivery's stop, which it also sets on e.
func (c *Catalog) restart(e *deliveryEntry, spec awsapi.DeliverySpec) (func(), error) {
	c.mu.Lock()
	stop := e.stop
	e.stop = nil
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	if c.opts.Start == nil {
		return nil, nil // not delivering at all (firehose_api.s3 is gone); records are kept
	}
	next, err := c.opts.Start(spec, e.info.Log)
	if err != nil {
		old, back := c.opts.Start(e.spec, e.info.Log)
		if back != nil {
			c.logger.Error("a delivery stream could not be started again after a refused update; it runs at the next start",
				"delivery", e.spec.Name, "error", back)
		}
		c.mu.Lock()
		e.stop = old
		c.mu.Unlock()
		return nil, fmt.Errorf("Firehose %s: %v: %w", spec.Name, err, awsapi.ErrInvalid)
	}
	c.mu.Lock()
	e.stop = next
	c.mu.Unlock()
	return next, nil
}

// destinationOf describes a created delivery stream's destination, for
// DescribeDeliveryStream.
func destinationOf(spec awsapi.DeliverySpec) awsapi.Destination {
	compression := "UNCOMPRESSED"
	if spec.Compression == "gzip" {
		compression = "GZIP"
	}
	return awsapi.Destination{BucketARN: "arn:aws:s3:::" + spec.Bucket, Prefix: spec.Prefix, ErrorOutputPrefix: spec.ErrorOutputPrefix,
		CompressionFormat: compression, SizeInMBs: spec.SizeInMBs, IntervalInSeconds: spec.IntervalInSeconds,
		RetryDuration: spec.RetryDuration, Processing: spec.Processing}
}
