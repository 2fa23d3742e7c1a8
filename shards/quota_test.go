package shards

import (
	"context"
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

func TestQuotaSetLimits(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	q := NewQuota(Limits{BytesPerSecond: 1000, RecordsPerSecond: 10})
	if !q.Admit(t0, 100) {
		t.Fatal("a full quota refused a record")
	}
	// Lowered: the buckets hold at most a second of the new limits at once.
	q.SetLimits(Limits{BytesPerSecond: 300, RecordsPerSecond: 2})
	if got := q.Limits(); got != (Limits{BytesPerSecond: 300, RecordsPerSecond: 2}) {
		t.Fatalf("Limits() = %+v", got)
	}
	if !q.Admit(t0, 300) || q.Admit(t0, 1) {
		t.Fatal("after lowering to 300 B/s, want exactly 300 bytes admitted at once")
	}
	// Refills at the new rate: half a second is 150 bytes.
	half := t0.Add(500 * time.Millisecond)
	if !q.Admit(half, 150) || q.Admit(half, 1) {
		t.Fatal("half a second after, want exactly 150 bytes admitted")
	}
	// Raised: what the buckets hold stays, and they fill up to the new size.
	q.SetLimits(Limits{BytesPerSecond: 10_000, RecordsPerSecond: 100})
	if q.Admit(half, 1) {
		t.Fatal("raising the limits filled the empty buckets at once")
	}
	later := half.Add(2 * time.Second)
	if !q.Admit(later, 10_000) {
		t.Fatal("two seconds after raising to 10,000 B/s, a 10,000-byte record was refused")
	}
}

func TestLimitsShare(t *testing.T) {
	l := Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 1000}
	tests := map[string]struct {
		limits Limits
		nodes  int
		want   Limits
	}{
		"one node takes all":  {l, 1, l},
		"n below 1 is 1":      {l, 0, l},
		"three round up":      {l, 3, Limits{BytesPerSecond: 349526, RecordsPerSecond: 334}},
		"even split":          {l, 4, Limits{BytesPerSecond: 1 << 18, RecordsPerSecond: 250}},
		"never below 1":       {Limits{BytesPerSecond: 2, RecordsPerSecond: 1}, 5, Limits{BytesPerSecond: 1, RecordsPerSecond: 1}},
		"rounded up, not off": {Limits{BytesPerSecond: 10, RecordsPerSecond: 10}, 3, Limits{BytesPerSecond: 4, RecordsPerSecond: 4}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tt.limits.share(tt.nodes); got != tt.want {
				t.Fatalf("share(%d) = %+v, want %+v", tt.nodes, got, tt.want)
			}
		})
	}
}

// With n nodes each enforces 1/n of every stream's limits, on the streams
// open and on those opened later.
func TestStoreSetNodes(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	full := Limits{BytesPerSecond: 3000, RecordsPerSecond: 30}
	before, err := s.CreateStream(ctx, StreamSpec{Name: "before", Shards: 2, Limits: full})
	if err != nil {
		t.Fatal(err)
	}
	check := func(st *Stream, want Limits) {
		t.Helper()
		for i := range st.Shards() {
			if got := st.Quota(i).Limits(); got != want {
				t.Fatalf("stream %s shard %d: limits %+v, want %+v", st.Name(), i, got, want)
			}
		}
	}
	check(before, full)
	third := Limits{BytesPerSecond: 1000, RecordsPerSecond: 10}
	s.SetNodes(3)
	check(before, third)
	after, err := s.CreateStream(ctx, StreamSpec{Name: "after", Shards: 1, Limits: full})
	if err != nil {
		t.Fatal(err)
	}
	check(after, third)
	// Put admits against the node's share.
	now := time.Now()
	recs := make([]Record, 12)
	for i := range recs {
		recs[i] = Record{PartitionKey: "k", Data: []byte("x")}
	}
	admitted := 0
	for _, r := range after.Put(ctx, now, recs) {
		if r.Err == nil {
			admitted++
		}
	}
	if admitted != 10 {
		t.Fatalf("%d of 12 records admitted at once, want the node's share of 10", admitted)
	}
	s.SetNodes(0) // alone again
	check(before, full)
	check(after, full)
}
