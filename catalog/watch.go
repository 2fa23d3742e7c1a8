package catalog

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// watchRetry is how long the watch waits before watching again after it
// broke.
const watchRetry = time.Second

// startWatch runs watch until Close; Load calls it with Options.Watch.
func (c *Catalog) startWatch() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c.mu.Lock()
	c.stopWatch = func() { cancel(); <-done }
	c.mu.Unlock()
	go func() {
		defer close(done)
		c.watch(ctx)
	}()
}

// watch keeps this node's catalog in step with the definitions stored in
// the log's catalog bucket, which every node sharing the log writes: a
// stream or delivery stream created through the APIs on another node is
// opened here (and starts delivering, under the cluster's leases), one
// deleted there is closed here (its logs and checkpoints are the deleting
// node's to delete), and an UpdateDestination there restarts it here with
// the new spec. Changes this node made itself come back as no-ops. It
// watches again after a break, and ends with ctx.
func (c *Catalog) watch(ctx context.Context) {
	for {
		err := c.watchOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		c.logger.Warn("catalog: the watch of definitions created on other nodes broke; watching again", "error", err)
		t := time.NewTimer(watchRetry)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// watchOnce applies the events of one watch until it ends. An event only
// says which definition changed: what is applied is the definition as it
// is stored when it is applied, read under c.ctl, so that an event that
// comes late (a create already deleted, a delete already undone by a new
// create, this node's own changes) is not applied over a newer state; a
// creation under way (claimed, not done) is opened once it is done. A
// delete and re-create is told apart from the running one by its identity.
// After the initial values, a created stream or delivery stream this node
// has open but the bucket no longer holds (deleted between Load and the
// watch, or while it was broken) is closed. A definition that cannot be
// read is applied again after a delay (retryKeys) until it can.
func (c *Catalog) watchOnce(ctx context.Context) error {
	events, err := c.opts.Store.WatchMeta(ctx)
	if err != nil {
		return err
	}
	seen := map[string]bool{} // until synced
	failed := retryKeys{}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				failed.stop()
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return errWatchEnded
			}
			switch {
			case ev.Synced:
				failed.add(c.forgetUnseen(ctx, seen)...)
				seen = nil
			case strings.HasPrefix(ev.Key, streamPrefix), strings.HasPrefix(ev.Key, deliveryPrefix):
				if seen != nil {
					seen[ev.Key] = true
				}
				failed.done(ev.Key)
				if err := c.apply(ctx, ev.Key); err != nil {
					failed.add(ev.Key)
				}
			}
		case <-failed.due():
			keys := failed.take()
			for _, key := range keys {
				if err := c.apply(ctx, key); err != nil {
					failed.add(key)
				}
			}
			failed.backoff(len(keys))
		}
	}
}

// retryKeys are the definitions whose stored value could not be read,
// applied again after a delay that doubles, from applyRetry up to
// applyRetryMax, while reads keep failing.
type retryKeys struct {
	keys  map[string]bool
	delay time.Duration
	timer *time.Timer
}

const (
	applyRetry    = time.Second
	applyRetryMax = 30 * time.Second
)

// add marks keys to be applied again, and starts the timer.
func (r *retryKeys) add(keys ...string) {
	if len(keys) == 0 {
		return
	}
	if r.keys == nil {
		r.keys = map[string]bool{}
	}
	for _, key := range keys {
		r.keys[key] = true
	}
	if r.timer == nil {
		r.delay = max(r.delay, applyRetry)
		r.timer = time.NewTimer(r.delay)
	}
}

// done forgets key: an event applies it now.
func (r *retryKeys) done(key string) { delete(r.keys, key) }

// due fires when the keys are to be applied again (never when there are
// none).
func (r *retryKeys) due() <-chan time.Time {
	if r.timer == nil {
		return nil
	}
	return r.timer.C
}

// take returns the keys to apply again and forgets them; the timer has
// fired.
func (r *retryKeys) take() []string {
	r.timer = nil
	var keys []string
	for key := range r.keys {
		keys = append(keys, key)
	}
	clear(r.keys)
	return keys
}

// backoff doubles the delay when some of the tried keys failed again, and
// resets it when all were applied.
func (r *retryKeys) backoff(tried int) {
	if len(r.keys) == 0 {
		r.delay = 0
		return
	}
	if tried > 0 && r.timer != nil {
		r.timer.Stop()
		r.delay = min(2*r.delay, applyRetryMax)
		r.timer = time.NewTimer(r.delay)
	}
}

// stop stops the timer.
func (r *retryKeys) stop() {
	if r.timer != nil {
		r.timer.Stop()
	}
}

type watchError string

func (e watchError) Error() string { return string(e) }

const errWatchEnded = watchError("the store ended the watch")

// forgetUnseen applies the stored definitions of the created streams and
// delivery streams this node has open that were not among the watch's
// initial values: those deleted meanwhile close.
// It returns the keys whose value could not be read.
func (c *Catalog) forgetUnseen(ctx context.Context, seen map[string]bool) []string {
	var keys []string
	c.mu.RLock()
	for name, e := range c.streams {
		if key := metaKey(streamPrefix, name); !e.declared && !seen[key] {
			keys = append(keys, key)
		}
	}
	for name, e := range c.deliveries {
		if key := metaKey(deliveryPrefix, name); !e.declared && !seen[key] {
			keys = append(keys, key)
		}
	}
	c.mu.RUnlock()
	var failed []string
	for _, key := range keys {
		if err := c.apply(ctx, key); err != nil {
			failed = append(failed, key)
		}
	}
	return failed
}

// apply brings what key defines on this node in line with its stored
// value: opened, updated, restarted or closed. A value that cannot be read
// leaves things as they are (logged) and is returned: the watch applies the
// key again.
func (c *Catalog) apply(ctx context.Context, key string) error {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	raw, _, err := c.opts.Store.GetMeta(ctx, key)
	if err != nil {
		c.logger.Warn("catalog: cannot read a definition another node may have changed; trying again",
			"key", key, "error", err)
		return err
	}
	if strings.HasPrefix(key, streamPrefix) {
		c.applyStream(ctx, key, raw)
	} else {
		c.applyDelivery(ctx, key, raw)
	}
	return nil
}

// nameOf is the name in a definition's key.
func nameOf(key, prefix string) string {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(key, prefix))
	if err != nil {
		return ""
	}
	return string(b)
}

// applyStream opens, updates or closes a created stream as its stored
// definition raw says (nil: deleted). c.ctl is held.
func (c *Catalog) applyStream(ctx context.Context, key string, raw []byte) {
	name := nameOf(key, streamPrefix)
	c.mu.RLock()
	e, open := c.streams[name]
	_, delivery := c.deliveries[name]
	c.mu.RUnlock()
	if raw == nil {
		if open && !e.declared {
			c.closeStream(name)
			c.logger.Info("catalog: a stream deleted on another node is closed here", "stream", name)
		}
		return
	}
	var def streamDef
	if err := json.Unmarshal(raw, &def); err != nil || def.Name != name {
		c.logger.Warn("catalog: a stored stream definition does not decode; ignored", "key", key, "error", err)
		return
	}
	switch {
	case delivery || open && e.declared:
		return // the config's, or a delivery stream's: Load warned
	case open && e.def.ID != def.ID:
		// Deleted and created again (with another shard count, say)
		// before this node saw the deletion: open the new one afresh.
		c.closeStream(name)
		open = false
		c.logger.Info("catalog: a stream deleted and created again on another node is opened afresh here", "stream", name)
	}
	switch {
	case def.Pending:
		return // its creation is under way: opened once it is done
	case open:
		c.mu.Lock()
		e.def, e.info.Retention = def, def.Retention
		c.mu.Unlock()
		return
	}
	if err := c.openStream(ctx, def, "", true); err != nil {
		c.logger.Error("catalog: a stream created on another node cannot be opened here; retrying at the next change or restart",
			"stream", name, "error", err)
		return
	}
	c.logger.Info("catalog: a stream created on another node is open here", "stream", name, "shards", def.Shards)
}

// closeStream forgets a created stream on this node, leaving its logs to
// the node that deleted it. c.ctl is held.
func (c *Catalog) closeStream(name string) {
	c.mu.Lock()
	delete(c.streams, name)
	c.mu.Unlock()
	if c.opts.Targets != nil {
		c.opts.Targets.RemoveTarget(name)
	}
	c.opts.Store.CloseStream(name)
}

// applyDelivery starts, restarts (a new version: UpdateDestination) or
// stops a created delivery stream as its stored definition raw says (nil:
// deleted). c.ctl is held.
func (c *Catalog) applyDelivery(ctx context.Context, key string, raw []byte) {
	name := nameOf(key, deliveryPrefix)
	c.mu.RLock()
	e, open := c.deliveries[name]
	_, stream := c.streams[name]
	c.mu.RUnlock()
	if raw == nil {
		if open && !e.declared {
			c.closeDelivery(name)
			c.logger.Info("catalog: a delivery stream deleted on another node is stopped here", "delivery", name)
		}
		return
	}
	var def deliveryDef
	if err := json.Unmarshal(raw, &def); err != nil || def.Spec.Name != name {
		c.logger.Warn("catalog: a stored delivery stream definition does not decode; ignored", "key", key, "error", err)
		return
	}
	switch {
	case stream || open && e.declared:
		return
	case open && e.id != def.ID:
		// Deleted and created again (a Terraform replace) before this
		// node saw the deletion: start the new one afresh, on its log and
		// checkpoints.
		c.closeDelivery(name)
		open = false
		c.logger.Info("catalog: a delivery stream deleted and created again on another node is started afresh here", "delivery", name)
	}
	switch {
	case def.Pending:
		return // its creation is under way: started once it is done
	case open && max(def.Version, 1) == max(e.info.Version, 1):
		return // as it runs (this node's own change, come back)
	case open:
		if _, err := c.restart(e, def.Spec); err != nil {
			c.logger.Error("catalog: a delivery stream updated on another node cannot start here with its new destination; it runs with the old one",
				"delivery", name, "error", err)
			return
		}
		c.mu.Lock()
		e.spec, e.info.Version, e.info.Destination = def.Spec, def.Version, destinationOf(def.Spec)
		c.mu.Unlock()
		c.logger.Info("catalog: a delivery stream updated on another node runs here with its new destination", "delivery", name,
			"version", def.Version)
		return
	}
	if err := c.openDelivery(ctx, def, true); err != nil {
		c.logger.Error("catalog: a delivery stream created on another node cannot start here; retrying at the next change or restart",
			"delivery", name, "error", err)
		return
	}
	c.logger.Info("catalog: a delivery stream created on another node runs here", "delivery", name)
}

// closeDelivery stops a created delivery stream on this node — it drains,
// as at a shutdown — and forgets it, leaving its log and checkpoints to the
// node that deleted it. c.ctl is held.
func (c *Catalog) closeDelivery(name string) {
	c.mu.Lock()
	e := c.deliveries[name]
	delete(c.deliveries, name)
	c.mu.Unlock()
	if c.opts.Targets != nil {
		c.opts.Targets.RemoveTarget(name)
	}
	if e.stop != nil {
		e.stop()
	}
	c.opts.Store.CloseStream(name)
}
