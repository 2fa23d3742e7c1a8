package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/shards"
)

// retentionSchedule is when streams are trimmed to their retention period.
const retentionSchedule = "@every 1m"

// startRetention trims every stream on a schedule: records older than the
// stream's retention go, except those a delivery reading the stream has not
// delivered yet. stop waits for a pass under way.
func startRetention(cat *catalog.Catalog, store *shards.Store, logger *slog.Logger) (stop func(), err error) {
	c := cron.New(cron.WithLocation(time.UTC), cron.WithChain(cron.SkipIfStillRunning(cron.DiscardLogger)))
	_, err = c.AddFunc(retentionSchedule, func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, s := range cat.RetentionTargets() {
			results, err := store.Trim(ctx, s.Stream, s.Retention, s.Readers, time.Now())
			if err != nil {
				logger.Error("retention trim failed", "stream", s.Stream, "error", err)
				continue
			}
			for _, r := range results {
				if r.Purged > 0 {
					logger.Info("retention trim", "stream", s.Stream, "shard", shards.ShardID(r.Shard), "messages", r.Purged)
				}
				if r.HeldBy != "" {
					logger.Warn("delivery is behind the stream's retention: keeping its undelivered records",
						"stream", s.Stream, "shard", shards.ShardID(r.Shard), "delivery", r.HeldBy,
						"retention", s.Retention, "oldest", r.Oldest)
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	c.Start()
	return func() { <-c.Stop().Done() }, nil
}
