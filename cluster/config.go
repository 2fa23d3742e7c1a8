package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Bucket names; every node of a cluster uses the same two.
const (
	NodesBucket  = "hydrant-nodes"
	LeasesBucket = "hydrant-leases"
)

// DefaultTTL is the lease TTL when Config.TTL is zero.
const DefaultTTL = 10 * time.Second

// MinTTL is the shortest TTL: the server keeps the expiry markers at least a
// second, and below that the margins of the timing (TTL/4) get too thin for
// the round trips they must cover.
const MinTTL = time.Second

// Config configures a Coordinator. The zero value of a field means its default.
type Config struct {
	Node     string        // this node's name, shown in status (not necessarily unique across restarts); default: the host name
	Listen   string        // this node's API address, shown in status
	TTL      time.Duration // lease TTL (and the buckets' MaxAge); default 10s; every node must use the same
	Replicas int           // replicas of the buckets when this node creates them; default 1
	Logger   *slog.Logger  // default: discard
}

// withDefaults returns c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Node == "" {
		c.Node, _ = os.Hostname()
		if c.Node == "" {
			c.Node = "hydrant"
		}
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports what is wrong with c, naming the field.
func (c Config) Validate() error {
	var errs []error
	if c.TTL != 0 && c.TTL < MinTTL {
		errs = append(errs, fmt.Errorf("ttl: %v is below the minimum %v", c.TTL, MinTTL))
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas: %d must be 1..5", c.Replicas))
	}
	return errors.Join(errs...)
}

// timing holds the intervals derived from the TTL; see the package doc for
// why each is what it is.
type timing struct {
	ttl       time.Duration
	period    time.Duration // TTL/4: renewals, heartbeats, rebalance steps, the start-up settle
	lostAfter time.Duration // 3/4 TTL after the send of the last acknowledged write, Lost closes
	request   time.Duration // TTL/4: the timeout of one KV request
	grace     time.Duration // TTL/2: how long a graceful leave waits for holders to Release
	stale     time.Duration // TTL+TTL/4: a view entry not rewritten for this long is treated as gone
	orphan    time.Duration // TTL: a wanted key free this long is taken even above target
}

func newTiming(ttl time.Duration) timing {
	return timing{
		ttl:       ttl,
		period:    ttl / 4,
		lostAfter: ttl * 3 / 4,
		request:   ttl / 4,
		grace:     ttl / 2,
		stale:     ttl + ttl/4,
		orphan:    ttl,
	}
}
