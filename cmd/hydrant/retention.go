package main

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hydrant-dev/hydrant/metrics"

	"github.com/hydrant-dev/hydrant/config"

	"github.com/robfig/cron/v3"

	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/shards"
)

// retentionSchedule is when streams are trimmed to their retention period.
const retentionSchedule = "@every 1m"

// pressureSchedule is when the shard log's size is checked against the
// disk budget; past pressureShare of it, what every delivery has delivered
// is trimmed before its retention.
const (
	pressureSchedule = "@every 1s"
	pressureShare    = 0.75
)

// startRetention trims every stream on a schedule: records older than the
// stream's retention go, except those a delivery reading the stream has not
// delivered yet. stop waits for a pass under way.
func startRetention(cat *catalog.Catalog, store *shards.Store, m *metrics.Delivery, logger *slog.Logger) (stop func(), err error) {
	c := cron.New(cron.WithLocation(time.UTC), cron.WithChain(cron.SkipIfStillRunning(cron.DiscardLogger)))
	_, err = c.AddFunc(retentionSchedule, func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		trimToRetention(ctx, cat.RetentionTargets(), store, m, logger, time.Now())
	})
	if err != nil {
		return nil, err
	}
	if _, budget := store.DiskUsage(); budget > 0 {
		if _, err = c.AddFunc(pressureSchedule, func() { relievePressure(cat, store, logger) }); err != nil {
			return nil, err
		}
	}
	c.Start()
	return func() { <-c.Stop().Done() }, nil
}

// relievePressure trims what every delivery has delivered when the shard
// log is past pressureShare of its disk budget (every stream), or a stream
// past pressureShare of its own, so that puts go on being taken while
// deliveries keep up. Undelivered records are never trimmed: when they
// alone fill the budget, puts are throttled until deliveries catch up.
func relievePressure(cat *catalog.Catalog, store *shards.Store, logger *slog.Logger) {
	used, budget := store.DiskUsage()
	all := float64(used) >= pressureShare*float64(budget)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var purged uint64
	for _, s := range cat.RetentionTargets() {
		if own, limit := store.StreamDiskUsage(s.Stream); !all && (limit == 0 || float64(own) < pressureShare*float64(limit)) {
			continue
		}
		results, err := store.TrimDelivered(ctx, s.Stream, s.Readers)
		if err != nil {
			logger.Error("disk budget: trim failed", "stream", s.Stream, "error", err)
			continue
		}
		for _, r := range results {
			purged += r.Purged
		}
	}
	if purged == 0 && !all {
		return
	}
	after, _ := store.DiskUsage()
	level := slog.LevelInfo
	if float64(after) >= pressureShare*float64(budget) {
		level = slog.LevelWarn // deliveries are behind: puts may be throttled
	}
	logger.Log(ctx, level, "disk budget: trimmed delivered records before their retention",
		"messages", purged, "bytes_before", used, "bytes_after", after, "disk_budget", budget)
}

// diskBudget is storage.disk_budget, or by default 80% of the free space of
// the data dir's disk (plus what the log holds already), capped.
func diskBudget(sc config.StorageConfig, logger *slog.Logger) int64 {
	if !sc.AutoDiskBudget() {
		return int64(sc.DiskBudget)
	}
	dir := sc.DataDir
	if err := os.MkdirAll(dir, 0o750); err != nil {
		logger.Warn("disk budget: cannot create the data dir; no budget", "error", err)
		return 0
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		logger.Warn("disk budget: cannot read the disk's free space; no budget", "error", err)
		return 0
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	held := dirSize(filepath.Join(dir, "log")) + dirSize(filepath.Join(dir, "jetstream"))
	return min(int64(0.8*float64(free))+held, int64(config.DefaultDiskBudgetCap))
}

// dirSize is the bytes of the files under dir (0 when it does not exist).
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// trimToRetention trims each target stream to its retention at now, keeping
// what its readers have not delivered; a reader that holds records back
// gets a warning and its behind-retention gauge set (0 for the others).
func trimToRetention(ctx context.Context, targets []catalog.RetentionTarget, store *shards.Store, m *metrics.Delivery, logger *slog.Logger, now time.Time) {
	for _, s := range targets {
		results, err := store.Trim(ctx, s.Stream, s.Retention, s.Readers, now)
		if err != nil {
			logger.Error("retention trim failed", "stream", s.Stream, "error", err)
			continue
		}
		behind := make(map[string]time.Duration, len(s.Readers))
		for _, d := range s.Readers {
			behind[d] = 0
		}
		for _, r := range results {
			if r.HeldBy != "" {
				behind[r.HeldBy] = max(behind[r.HeldBy], now.Add(-s.Retention).Sub(r.Oldest))
			}
		}
		for d, late := range behind {
			m.BehindRetention.WithLabelValues(d, s.Stream).Set(late.Seconds())
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
}
