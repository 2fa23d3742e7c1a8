package shards

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
)

// Checkpoint returns the last sequence delivery has delivered from shard of
// its source stream, or 0 when it has delivered nothing yet.
func (s *Store) Checkpoint(ctx context.Context, delivery string, shard int) (Sequence, error) {
	e, err := s.cps.Get(ctx, checkpointKey(delivery, shard))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("checkpoint %s/%d: %w", delivery, shard, err)
	}
	return ParseSequence(string(e.Value()))
}

// SetCheckpoint records that delivery has delivered shard up to seq. It is
// durable when it returns (the store syncs the bucket like the shard log).
func (s *Store) SetCheckpoint(ctx context.Context, delivery string, shard int, seq Sequence) error {
	if _, err := s.cps.Put(ctx, checkpointKey(delivery, shard), []byte(seq.String())); err != nil {
		return fmt.Errorf("checkpoint %s/%d: %w", delivery, shard, err)
	}
	return nil
}

func checkpointKey(delivery string, shard int) string {
	return escapeName(delivery) + "." + strconv.Itoa(shard)
}
