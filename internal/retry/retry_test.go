package retry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	tests := []struct {
		attempt  int
		err      error
		min, max time.Duration
	}{
		{1, nil, 50 * time.Millisecond, 100 * time.Millisecond},
		{2, nil, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, nil, 400 * time.Millisecond, 800 * time.Millisecond},
		{10, nil, 500 * time.Millisecond, time.Second}, // capped
		{1, Throttled(errors.New("429"), 3*time.Second), 3 * time.Second, 3 * time.Second},
		{1, fmt.Errorf("wrapped: %w", Throttled(errors.New("slow down"), 10*time.Millisecond)), 50 * time.Millisecond, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		for range 50 { // jitter
			if d := b.Delay(tt.attempt, tt.err); d < tt.min || d > tt.max {
				t.Fatalf("Delay(%d, %v) = %v, want within [%v, %v]", tt.attempt, tt.err, d, tt.min, tt.max)
			}
		}
	}
	if d := (Backoff{}).Delay(1, nil); d < 250*time.Millisecond || d > 500*time.Millisecond {
		t.Fatalf("default first delay %v, want within [250ms, 500ms]", d)
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("bad row")
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{base, false},
		{Permanent(base), true},
		{fmt.Errorf("batch: %w", Permanent(base)), true},
		{Throttled(base, time.Second), false},
	}
	for _, tt := range tests {
		if got := IsPermanent(tt.err); got != tt.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) is not nil")
	}
	if !errors.Is(Permanent(base), base) {
		t.Error("Permanent hides the error it wraps")
	}
}

func TestSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a cancelled context: %v", err)
	}
	if err := Sleep(context.Background(), 0); err != nil {
		t.Fatalf("Sleep(0): %v", err)
	}
}
