package shards

import (
	"testing"
	"time"
)

func TestQuota(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	type step struct {
		at   time.Duration // since t0
		size int
		want bool
	}
	tests := map[string]struct {
		limits Limits
		steps  []step
	}{
		"records limit then refill": {
			limits: Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 2},
			steps: []step{
				{0, 10, true}, {0, 10, true}, {0, 10, false},
				{499 * time.Millisecond, 10, false},
				{500 * time.Millisecond, 10, true},
				{500 * time.Millisecond, 10, false},
			},
		},
		"bytes limit: a throttled record takes nothing": {
			limits: Limits{BytesPerSecond: 1000, RecordsPerSecond: 1000},
			steps: []step{
				{0, 900, true},
				{0, 200, false}, // too big for what is left
				{0, 100, true},  // still fits: the refused record paid nothing
				{0, 1, false},
				{time.Second, 1000, true},
			},
		},
		"bucket holds at most one second": {
			limits: Limits{BytesPerSecond: 100, RecordsPerSecond: 1000},
			steps: []step{
				{0, 100, true},
				{10 * time.Second, 100, true},
				{10 * time.Second, 1, false},
			},
		},
		"a record over a second's worth waits for a full bucket, then borrows": {
			limits: Limits{BytesPerSecond: 100, RecordsPerSecond: 10},
			steps: []step{
				{0, 1, true},
				{0, 250, false},                    // the bucket is not full
				{10 * time.Millisecond, 250, true}, // full again: admitted, 150 in debt
				{time.Second, 1, false},            // -150 + 99: still in debt
				{2500 * time.Millisecond, 1, true}, // paid off
			},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			q := NewQuota(tt.limits)
			for i, s := range tt.steps {
				if got := q.Admit(t0.Add(s.at), s.size); got != s.want {
					t.Fatalf("step %d (at %v, %d bytes): admitted = %v, want %v", i, s.at, s.size, got, s.want)
				}
			}
		})
	}
}
