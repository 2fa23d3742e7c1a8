package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that no retry can fix (bad record, 4xx, schema
// mismatch). Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err (or an error it wraps) is permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// ThrottledError asks the caller to wait After before retrying (429,
// Retry-After, S3 SlowDown).
type ThrottledError struct {
	Err   error
	After time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("throttled (retry after %s): %v", e.After, e.Err)
}
func (e *ThrottledError) Unwrap() error { return e.Err }

// Throttled wraps err as a throttling error.
func Throttled(err error, after time.Duration) error {
	return &ThrottledError{Err: err, After: after}
}

// Backoff computes retry delays: exponential with full jitter in [d/2, d],
// capped, and at least what a throttling error asked for.
type Backoff struct {
	Initial, Max time.Duration // defaults 500ms and 30s
}

// Delay returns the wait before retry number attempt (1-based) after err.
func (b Backoff) Delay(attempt int, err error) time.Duration {
	initial, maxDelay := b.Initial, b.Max
	if initial <= 0 {
		initial = 500 * time.Millisecond
	}
	if maxDelay <= 0 {
		maxDelay = 30 * time.Second
	}
	d := initial
	for i := 1; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	d = d/2 + rand.N(d/2+1)
	var t *ThrottledError
	if errors.As(err, &t) && t.After > d {
		d = t.After
	}
	return d
}

// Sleep waits d or until ctx ends, returning ctx's error in that case.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
