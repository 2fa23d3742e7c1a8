package destinations

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hydrant-dev/hydrant/buffer"
)

// flaky fails its first failures deliveries with err, recording when each
// attempt was made.
type flaky struct {
	failures int
	err      error
	attempts []time.Time
}

func (f *flaky) Deliver(context.Context, *buffer.Batch) error {
	f.attempts = append(f.attempts, time.Now())
	if len(f.attempts) <= f.failures {
		return f.err
	}
	return nil
}
func (f *flaky) Close(context.Context) error { return nil }

func TestWithRetry(t *testing.T) {
	transient := errors.New("connection reset")
	tests := map[string]struct {
		failures     int
		err          error
		duration     time.Duration
		wantErr      bool
		wantAttempts int
	}{
		"succeeds after transient failures":   {failures: 3, err: transient, duration: time.Minute, wantAttempts: 4},
		"gives up when the duration is spent": {failures: 1000, err: transient, duration: 10 * time.Second, wantErr: true},
		"permanent errors are not retried":    {failures: 1000, err: Permanent(transient), duration: time.Hour, wantErr: true, wantAttempts: 1},
		"zero duration means one attempt":     {failures: 1, err: transient, duration: 0, wantErr: true, wantAttempts: 1},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &flaky{failures: tt.failures, err: tt.err}
				retries := prometheus.NewCounter(prometheus.CounterOpts{Name: "retries"})
				d := Chain(f, WithRetry(RetryConfig{Duration: tt.duration, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second,
					Retries: retries}, slog.New(slog.DiscardHandler)))
				start := time.Now()
				err := d.Deliver(context.Background(), &buffer.Batch{})
				if (err != nil) != tt.wantErr {
					t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
				}
				if tt.wantAttempts > 0 && len(f.attempts) != tt.wantAttempts {
					t.Fatalf("%d attempts, want %d", len(f.attempts), tt.wantAttempts)
				}
				if got := testutil.ToFloat64(retries); got != float64(len(f.attempts)-1) {
					t.Fatalf("%v retries counted after %d attempts", got, len(f.attempts))
				}
				if elapsed := time.Since(start); elapsed > tt.duration {
					t.Fatalf("retried for %v, beyond the %v retry duration", elapsed, tt.duration)
				}
				var re *RetryError
				if err != nil && (!errors.As(err, &re) || re.Attempts != len(f.attempts)) {
					t.Fatalf("error %v does not report the %d attempts", err, len(f.attempts))
				}
				for i := 2; i < len(f.attempts); i++ {
					gap := f.attempts[i].Sub(f.attempts[i-1])
					if gap < 50*time.Millisecond || gap > 2*time.Second {
						t.Fatalf("wait before attempt %d = %v, outside the backoff bounds", i+1, gap)
					}
				}
			})
		})
	}
}

func TestRetryHonoursThrottlingAndContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &flaky{failures: 1, err: Throttled(errors.New("slow down"), 5*time.Second)}
		d := Chain(f, WithRetry(RetryConfig{Duration: time.Minute, InitialBackoff: 10 * time.Millisecond}, slog.New(slog.DiscardHandler)))
		if err := d.Deliver(context.Background(), &buffer.Batch{}); err != nil {
			t.Fatal(err)
		}
		if gap := f.attempts[1].Sub(f.attempts[0]); gap < 5*time.Second {
			t.Fatalf("retried after %v; the destination asked for 5s", gap)
		}

		f = &flaky{failures: 1000, err: errors.New("down")}
		d = Chain(f, WithRetry(RetryConfig{Duration: time.Hour}, slog.New(slog.DiscardHandler)))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		if err := d.Deliver(ctx, &buffer.Batch{}); err == nil {
			t.Fatal("delivery succeeded against a destination that is down")
		}
		if elapsed := time.Since(start); elapsed > 3*time.Second {
			t.Fatalf("retry ignored the context for %v", elapsed)
		}
	})
}
