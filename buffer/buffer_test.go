package buffer

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

func TestDue(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 13, 20, 0, 0, time.UTC)
	hourly, err := cron.ParseStandard("@hourly")
	if err != nil {
		t.Fatal(err)
	}
	type add struct {
		at    time.Duration
		bytes int
	}
	tests := map[string]struct {
		cfg        Config
		adds       []add
		at         time.Duration
		wantReason FlushReason
		wantDue    bool
	}{
		"empty is never due": {
			cfg: Config{Size: 10, Interval: time.Second}, at: time.Hour,
		},
		"under size and interval": {
			cfg: Config{Size: 100, Interval: 60 * time.Second}, adds: []add{{0, 50}}, at: 59 * time.Second,
		},
		"size reached": {
			cfg: Config{Size: 100, Interval: 60 * time.Second}, adds: []add{{0, 60}, {time.Second, 40}}, at: time.Second,
			wantReason: FlushSize, wantDue: true,
		},
		"interval counts from the first record, not the last": {
			cfg: Config{Size: 100, Interval: 60 * time.Second}, adds: []add{{0, 1}, {59 * time.Second, 1}}, at: 60 * time.Second,
			wantReason: FlushInterval, wantDue: true,
		},
		"interval zero flushes as soon as records are held (zero buffering)": {
			cfg: Config{Size: 100}, adds: []add{{0, 1}}, at: 0,
			wantReason: FlushInterval, wantDue: true,
		},
		"NoInterval never flushes by time": {
			cfg: Config{Size: 100, Interval: NoInterval}, adds: []add{{0, 1}}, at: 24 * time.Hour,
		},
		"schedule: due at the next hour after the first record": {
			cfg: Config{Size: 100, Interval: NoInterval, Schedule: hourly}, adds: []add{{0, 1}}, at: 40 * time.Minute,
			wantReason: FlushSchedule, wantDue: true,
		},
		"schedule: not yet": {
			cfg: Config{Size: 100, Interval: NoInterval, Schedule: hourly}, adds: []add{{0, 1}}, at: 39*time.Minute + 59*time.Second,
		},
		"size beats schedule": {
			cfg: Config{Size: 1, Interval: NoInterval, Schedule: hourly}, adds: []add{{0, 1}}, at: time.Hour,
			wantReason: FlushSize, wantDue: true,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			b := New(tt.cfg, "d", "shardId-000000000000", nil)
			for i, a := range tt.adds {
				b.Add(t0.Add(a.at), Record{Data: make([]byte, a.bytes), Sequence: uint64(i + 1)})
			}
			reason, due := b.Due(t0.Add(tt.at))
			if reason != tt.wantReason || due != tt.wantDue {
				t.Fatalf("Due = %q, %v; want %q, %v", reason, due, tt.wantReason, tt.wantDue)
			}
		})
	}
}

func TestDeadlineAndTake(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 13, 20, 0, 0, time.UTC)
	hourly, _ := cron.ParseStandard("@hourly")
	b := New(Config{Size: 1 << 20, Interval: 50 * time.Minute, Schedule: hourly}, "d", "s", map[string]string{"k": "v"})
	if _, ok := b.Deadline(); ok {
		t.Fatal("empty buffer has a deadline")
	}
	b.Add(t0, Record{Data: []byte("ab"), Sequence: 5, Arrival: t0.Add(-time.Minute)})
	b.Add(t0.Add(time.Second), Record{Data: []byte("c"), Sequence: 9, Arrival: t0.Add(-2 * time.Minute)})
	if d, _ := b.Deadline(); !d.Equal(t0.Add(40 * time.Minute)) {
		t.Fatalf("deadline = %v, want the schedule's 14:00", d)
	}
	if oldest, ok := b.OldestArrival(); !ok || !oldest.Equal(t0.Add(-2*time.Minute)) {
		t.Fatalf("buffer's oldest arrival = %v, %v; want the second record's", oldest, ok)
	}
	batch := b.Take(FlushSchedule)
	if batch.FirstSequence() != 5 || batch.LastSequence() != 9 || batch.Bytes != 3 || batch.Reason != FlushSchedule {
		t.Fatalf("batch = %+v", batch)
	}
	if !batch.OldestArrival().Equal(t0.Add(-2 * time.Minute)) {
		t.Fatalf("oldest arrival = %v", batch.OldestArrival())
	}
	if batch.PartitionKeys["k"] != "v" || batch.Delivery != "d" {
		t.Fatalf("batch identity lost: %+v", batch)
	}
	if _, ok := b.OldestArrival(); b.Len() != 0 || b.Bytes() != 0 || ok {
		t.Fatal("Take left records behind")
	}
	// The next batch opens afresh.
	b.Add(t0.Add(2*time.Hour), Record{Data: []byte("d"), Sequence: 10})
	if d, _ := b.Deadline(); !d.Equal(t0.Add(2*time.Hour + 40*time.Minute)) {
		t.Fatalf("second deadline = %v", d)
	}
}

func BenchmarkAdd(b *testing.B) {
	buf := New(Config{Size: 5 << 20, Interval: time.Minute}, "d", "s", nil)
	data := make([]byte, 1024)
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf.Add(now, Record{Data: data, Sequence: uint64(i)})
		if _, due := buf.Due(now); due {
			buf.Take(FlushSize)
		}
	}
}
