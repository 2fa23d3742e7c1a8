package destinations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/internal/retry"
)

// RetryConfig bounds retries the way Firehose's retry duration does: keep
// trying, with exponential backoff and jitter, until Duration has passed since
// the first attempt.
type RetryConfig struct {
	Duration       time.Duration // total time allowed for retries; 0: one attempt
	InitialBackoff time.Duration // default 500ms
	MaxBackoff     time.Duration // default 30s
	// Retries, when set, counts each retry: each attempt after the first
	// (hydrant_delivery_retries_total).
	Retries prometheus.Counter
}

// CountRetry counts one retry when c counts them. WithRetry calls it, and
// destinations that retry by themselves call it for each round.
func (c RetryConfig) CountRetry() {
	if c.Retries != nil {
		c.Retries.Inc()
	}
}

// RetryError is returned when retries are exhausted or the error was
// permanent; it says how many attempts were made.
type RetryError struct {
	Attempts int
	Err      error
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("after %d attempts: %v", e.Attempts, e.Err)
}
func (e *RetryError) Unwrap() error { return e.Err }

// Backoff computes retry delays: exponential with full jitter in [d/2, d],
// capped, and at least what a throttling error asked for (retry.Backoff).
type Backoff = retry.Backoff

// WithRetry retries failed deliveries until cfg.Duration has passed since the
// first attempt. Permanent errors are not retried. The final error is a
// *RetryError. Waiting honours ctx. logger names the delivery (its
// retries are logged with the shard, not the delivery again).
func WithRetry(cfg RetryConfig, logger *slog.Logger) Decorator {
	backoff := Backoff{Initial: cfg.InitialBackoff, Max: cfg.MaxBackoff}
	return func(next Destination) Destination {
		return deliverFunc{next: next, deliver: func(ctx context.Context, b *buffer.Batch) error {
			start := time.Now()
			for attempt := 1; ; attempt++ {
				err := next.Deliver(ctx, b)
				var recErrs *RecordErrors
				if err == nil || errors.As(err, &recErrs) {
					return err // stored; the failed records are the caller's to route
				}
				if IsPermanent(err) || ctx.Err() != nil {
					return &RetryError{Attempts: attempt, Err: err}
				}
				wait := backoff.Delay(attempt, err)
				if time.Since(start)+wait > cfg.Duration {
					return &RetryError{Attempts: attempt, Err: err}
				}
				logger.Warn("delivery failed, retrying", "shard", b.ShardID,
					"attempt", attempt, "wait", wait, "error", err)
				if err := Sleep(ctx, wait); err != nil {
					return &RetryError{Attempts: attempt, Err: err}
				}
				cfg.CountRetry()
			}
		}}
	}
}

// Sleep waits d or until ctx ends, returning ctx's error in that case.
func Sleep(ctx context.Context, d time.Duration) error { return retry.Sleep(ctx, d) }
