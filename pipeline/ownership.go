package pipeline

import "context"

// Ownership decides which shards this node delivers. Several nodes sharing
// one shard log must never deliver the same shard of a delivery at once.
type Ownership interface {
	// Acquire blocks until this node may deliver shard of delivery, or ctx
	// ends, and then returns ctx's error.
	Acquire(ctx context.Context, delivery string, shard int) (Lease, error)
}

// Lease is a node's right to deliver one shard of a delivery.
type Lease interface {
	// Lost is closed when the node can no longer be sure it holds the
	// lease: the shard must stop at once, writing nothing more; what it
	// read and did not checkpoint is read again by the next holder.
	Lost() <-chan struct{}
	// Yield is closed when the node should hand the shard over (to
	// balance the nodes, or at shutdown): the shard flushes what it
	// holds, checkpoints, then releases the lease.
	Yield() <-chan struct{}
	// Release gives the lease up; it is idempotent.
	Release(ctx context.Context)
}

// Solo is the Ownership of a node alone on its shard log (the embedded
// default): every shard is its own, for good.
type Solo struct{}

// Acquire returns at once with a lease that is never lost.
func (Solo) Acquire(context.Context, string, int) (Lease, error) { return soloLease{}, nil }

type soloLease struct{}

func (soloLease) Lost() <-chan struct{}   { return nil } // a nil channel is never ready
func (soloLease) Yield() <-chan struct{}  { return nil }
func (soloLease) Release(context.Context) {}
