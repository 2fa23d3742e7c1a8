package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/shards"
)

// startPosition is a delivery's start: (validated) as the pipeline takes it.
func startPosition(c config.StartConfig) pipeline.StartPosition {
	switch c.At {
	case config.StartLatest:
		return pipeline.StartPosition{At: pipeline.StartLatest}
	case config.StartTimestamp:
		t, _ := c.Time()
		return pipeline.StartPosition{At: pipeline.StartTimestamp, Time: t}
	case config.StartSequence:
		seq, _ := shards.ParseSequence(c.Sequence)
		return pipeline.StartPosition{At: pipeline.StartSequence, Sequence: seq}
	}
	return pipeline.StartPosition{}
}

// replayKey is where the number of times a delivery was reset (hydrant
// deliveries reset) is kept.
func replayKey(delivery string) string { return pipeline.ReplayKey(delivery) }

// replayGeneration returns how many times delivery was reset (0: never).
func replayGeneration(ctx context.Context, store *shards.Store, delivery string) (int, error) {
	v, _, err := store.GetMeta(ctx, replayKey(delivery))
	if err != nil || v == nil {
		return 0, err
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return 0, fmt.Errorf("replay generation of %s: %w", delivery, err)
	}
	return n, nil
}

// batchName is the name a delivery's batches carry after n resets: its
// own at first, then <name>.replay<n>, so that destinations with ledgers
// (Postgres, Iceberg, HTTP request ids) load the replayed records again
// rather than skip them as delivered, and object destinations write them
// under new names rather than over the objects delivered before.
func batchName(delivery string, n int) string {
	if n == 0 {
		return delivery
	}
	return delivery + ".replay" + strconv.Itoa(n)
}
