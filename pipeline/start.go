package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/hydrant-dev/hydrant/destinations"
)

// Starter is a destination that must reach its server before its first
// batch: Postgres connects and reads its table. Start returns nil at once
// once it has succeeded; it must honour ctx. A Permanent error (a missing
// table or privilege) is retried all the same: an operator can mend it
// without restarting Hydrant.
type Starter interface {
	Start(ctx context.Context) error
}

// startAttemptTimeout bounds one Start: a server that does not answer
// (a dropped SYN) is tried again rather than waited for.
const startAttemptTimeout = 30 * time.Second

// start calls Config.Start until it succeeds, with Retry's backoff, and
// reports false when ctx ended first. Until then no shard is read: the records wait in the shard log,
// which keeps every undelivered record (trimming waits for deliveries), so
// none reaches the error output because the destination was down at start.
func (d *Delivery) start(ctx context.Context) bool {
	if d.cfg.Start == nil {
		return true
	}
	backoff := destinations.Backoff{Initial: d.cfg.Retry.InitialBackoff, Max: d.cfg.Retry.MaxBackoff}
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, startAttemptTimeout)
		err := d.cfg.Start.Start(actx)
		cancel()
		if err == nil {
			d.setConnected(true)
			if attempt > 1 {
				d.logger.Info("destination reached; delivering", "attempts", attempt)
			}
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d.stats.failed(d.now(), "not connected: "+err.Error())
		wait, level := backoff.Delay(attempt, err), slog.LevelWarn
		if destinations.IsPermanent(err) {
			level = slog.LevelError // it needs an operator
		}
		d.logger.Log(ctx, level, "destination not reached at start; its records wait in the shard log",
			"attempt", attempt, "error", err, "retry_in", wait)
		if destinations.Sleep(ctx, wait) != nil {
			return false
		}
	}
}

// setConnected records whether the destination has been reached, in the
// status and the metrics.
func (d *Delivery) setConnected(ok bool) {
	d.stats.connected(ok)
	if ok {
		d.m.connected.Set(1)
	} else {
		d.m.connected.Set(0)
	}
}
