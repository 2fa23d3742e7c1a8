package pipeline

import (
	"context"

	"github.com/hydrant-dev/hydrant/shards"
)

// checkpointer writes one shard's checkpoint.
type checkpointer interface {
	Set(ctx context.Context, seq shards.Sequence) error
}

// openCheckpoint reads the shard's checkpoint. With leases, it claims it,
// which fences off any earlier holder of the shard: from then on that
// holder's checkpoint writes fail (shards.ErrFenced). A node alone on its
// log has nobody to fence and writes the checkpoint as it always has.
//
// A shard without a checkpoint starts at Config.StartAt (see applyStart).
func (d *Delivery) openCheckpoint(ctx context.Context, shard int) (checkpointer, shards.Sequence, error) {
	var w checkpointer
	var cp shards.Sequence
	var err error
	if _, alone := d.own.(Solo); alone {
		w = soloCheckpoint{d.store, d.cfg.Name, shard}
		cp, err = d.store.Checkpoint(ctx, d.cfg.Name, shard)
	} else {
		var claim *shards.CheckpointClaim
		claim, cp, err = d.store.ClaimCheckpoint(ctx, d.cfg.Name, shard)
		w = claim
	}
	if err != nil {
		return nil, 0, err
	}
	if cp, err = d.applyStart(ctx, shard, w, cp); err != nil {
		return nil, 0, err
	}
	return w, cp, nil
}

// soloCheckpoint writes a checkpoint without a claim.
type soloCheckpoint struct {
	store    *shards.Store
	delivery string
	shard    int
}

func (c soloCheckpoint) Set(ctx context.Context, seq shards.Sequence) error {
	return c.store.SetCheckpoint(ctx, c.delivery, c.shard, seq)
}

// advance moves the checkpoint to just before the oldest record still
// buffered, or to the last record read when nothing is buffered.
func (l *shardLoop) advance(ctx context.Context) error {
	cp := l.lastRead
	for _, b := range l.buffers {
		if first, ok := b.FirstSequence(); ok && shards.Sequence(first-1) < cp {
			cp = shards.Sequence(first - 1)
		}
	}
	if cp == l.checkpoint {
		return nil
	}
	if err := l.cpWriter.Set(ctx, cp); err != nil {
		return err
	}
	l.checkpoint = cp
	return nil
}
