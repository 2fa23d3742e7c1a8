package catalog

import (
	"context"
	"fmt"
	"time"

	"github.com/hydrant-dev/hydrant/ingest/awsapi"
)

// DeclaredStart builds and runs a delivery the config declares; stop ends
// it, draining what it holds (flushed and checkpointed), and returns when
// it is done.
type DeclaredStart func() (stop func(), err error)

// StartDeclared runs the declared delivery name (added with
// AddDeclaredDelivery) with start; Close and RemoveDeclared stop it.
func (c *Catalog) StartDeclared(name string, start DeclaredStart) error {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	c.mu.RLock()
	e, ok := c.deliveries[name]
	c.mu.RUnlock()
	if !ok || !e.declared {
		return fmt.Errorf("delivery %s is not declared", name)
	}
	stop, err := start()
	if err != nil {
		return err
	}
	c.mu.Lock()
	e.start, e.stop = start, stop
	c.mu.Unlock()
	return nil
}

// ReplaceDeclared puts a declared delivery in place of the one of the same
// name, as UpdateDestination does for created ones: the running one is
// stopped first — it drains, delivering what it had read and checkpointing
// — and the new one reads on from its checkpoints, so no record is lost or
// delivered twice. When the new one cannot start, the old one is started
// again, nothing changes, and the error is returned; when that fails too
// the delivery stays stopped (DeclaredRunning is false) and the error says
// so. A name not in the catalog yet is added and started.
func (c *Catalog) ReplaceDeclared(d awsapi.Delivery, retention time.Duration, start DeclaredStart) error {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	c.mu.RLock()
	e, ok := c.deliveries[d.Name]
	c.mu.RUnlock()
	if !ok {
		stop, err := start()
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.deliveries[d.Name] = &deliveryEntry{info: d, declared: true, retention: retention, start: start, stop: stop}
		c.mu.Unlock()
		return nil
	}
	if !e.declared {
		return fmt.Errorf("delivery %s was created through the Firehose API; delete it there before declaring it", d.Name)
	}
	c.mu.Lock()
	stop, old := e.stop, e.start
	e.stop = nil
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	next, err := start()
	if err != nil {
		if old == nil {
			return fmt.Errorf("%w; delivery %s is stopped: the next reload starts it again", err, d.Name)
		}
		back, berr := old()
		if berr != nil {
			c.logger.Error("a delivery could not be started again after a refused change: it is stopped until the next reload",
				"delivery", d.Name, "error", berr)
			return fmt.Errorf("%w; delivery %s is stopped: starting it again as it was failed too (%v); the next reload starts it again", err, d.Name, berr)
		}
		c.mu.Lock()
		e.stop = back
		c.mu.Unlock()
		return err
	}
	c.mu.Lock()
	e.info, e.retention, e.start, e.stop = d, retention, start, next
	c.mu.Unlock()
	return nil
}

// RemoveDeclared stops a declared delivery — it drains, delivering what it
// had read and checkpointing — and forgets it. Its checkpoints are kept:
// declared again, it goes on where it stopped.
func (c *Catalog) RemoveDeclared(name string) {
	c.ctl.Lock()
	defer c.ctl.Unlock()
	c.mu.Lock()
	e, ok := c.deliveries[name]
	if !ok || !e.declared {
		c.mu.Unlock()
		return
	}
	delete(c.deliveries, name)
	stop := e.stop
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// SetDeclaredStream adds a declared stream or changes one (its retention).
func (c *Catalog) SetDeclaredStream(s awsapi.Stream) { c.AddDeclaredStream(s) }

// RemoveDeclaredStream forgets a declared stream; its log and records are
// kept.
func (c *Catalog) RemoveDeclaredStream(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.streams[name]; ok && e.declared {
		delete(c.streams, name)
	}
}

// ErrNoDelivery is Reset's error for a name that is no delivery.
var ErrNoDelivery = awsapi.ErrNotFound

// Reset stops the delivery name — it drains, delivering what it had read
// and checkpointing — then calls rewrite (which rewrites its checkpoints),
// and starts it again, declared or created through the API. It starts it
// again when rewrite fails too, and returns rewrite's error. When it
// cannot be started again it stays stopped, and the error says so.
func (c *Catalog) Reset(ctx context.Context, name string, rewrite func(ctx context.Context, d awsapi.Delivery) error) error {
	ctx = context.WithoutCancel(ctx) // a stopped delivery must be started again
	c.ctl.Lock()
	defer c.ctl.Unlock()
	c.mu.Lock()
	e, ok := c.deliveries[name]
	if !ok {
		c.mu.Unlock()
		return fmt.Errorf("delivery %s: %w", name, ErrNoDelivery)
	}
	stop := e.stop
	e.stop = nil
	info := e.info
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	rerr := rewrite(ctx, info)
	var next func()
	var err error
	switch {
	case e.declared && e.start != nil:
		next, err = e.start()
	case !e.declared && c.opts.Start != nil:
		next, err = c.opts.Start(e.spec, e.info.Log)
	}
	c.mu.Lock()
	e.stop = next
	c.mu.Unlock()
	if err != nil {
		c.logger.Error("a delivery could not be started again after a reset: it is stopped", "delivery", name, "error", err)
		again := "a restart of hydrant serve starts it again"
		if e.declared {
			again = "the next reload starts it again"
		}
		err = fmt.Errorf("delivery %s is stopped: it could not be started again (%w); %s", name, err, again)
		if rerr != nil {
			return fmt.Errorf("%w; %w", rerr, err)
		}
		return err
	}
	return rerr
}

// DeclaredRunning reports whether the declared delivery name runs: false
// when it is stopped because it could not be started again after a
// refused change or a reset (the next reload starts it).
func (c *Catalog) DeclaredRunning(name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.deliveries[name]
	return ok && e.declared && e.stop != nil
}
