package shards

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
)

// At its disk budget the log refuses puts with a throttling error, never
// by dropping data; once deliveries have delivered and the delivered part
// is trimmed, puts are taken again. Undelivered records are never trimmed
// to make room.
func TestDiskBudget(t *testing.T) {
	ctx := context.Background()
	const budget = 1 << 20
	s, err := Open(ctx, StoreConfig{DataDir: t.TempDir(), SyncAlways: true, DiskBudget: budget, UsageInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.CreateStream(ctx, StreamSpec{Name: "logs", Shards: 1, Limits: Limits{BytesPerSecond: 1 << 30, RecordsPerSecond: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	if used, limit := s.DiskUsage(); limit != budget || used >= budget {
		t.Fatalf("usage %d of %d at start", used, limit)
	}
	rec := Record{PartitionKey: "k", Data: bytes.Repeat([]byte("x"), 10<<10)}
	put := func() []PutResult {
		return st.Put(ctx, time.Now(), []Record{rec, rec, rec, rec})
	}

	// Fill the log: puts succeed until the budget is reached, then all fail as throttled.
	var last Sequence
	stored := 0
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("1,000 puts of 40 KiB taken under a 1 MiB budget")
		}
		res := put()
		if res[0].Err != nil {
			for _, r := range res {
				if !errors.Is(r.Err, ErrDiskBudget) || !errors.Is(r.Err, ErrThrottled) {
					t.Fatalf("refused with %v, want ErrDiskBudget (a kind of ErrThrottled)", r.Err)
				}
			}
			break
		}
		stored += len(res)
		last = res[len(res)-1].Sequence
	}
	used, _ := s.DiskUsage()
	if used < budget*3/4 || used > budget {
		t.Errorf("refused at %d bytes, want within the room kept for a put (at most a quarter) below the budget of %d", used, budget)
	}

	// Trimming for room removes nothing a delivery has not delivered.
	if _, err := s.TrimDelivered(ctx, "logs", []string{"archive"}); err != nil {
		t.Fatal(err)
	}
	if info, _ := s.ShardInfo(ctx, "logs", 0); info.Messages == 0 {
		t.Fatal("undelivered records were trimmed")
	}
	// Still at the budget: puts are refused (JetStream's own count of the
	// log, read anew after the trim, may let a put or two through first).
	extra := 0
	for put()[0].Err == nil {
		if extra++; extra > 6 {
			t.Fatalf("%d more puts of 40 KiB taken at the budget while nothing was delivered", extra)
		}
	}
	// Nor on a stream that no delivery reads.
	if res, err := s.TrimDelivered(ctx, "logs", nil); err != nil || res != nil {
		t.Fatalf("trim without readers: %v, %v", res, err)
	}

	// The delivery catches up; the delivered records go, and puts are taken again.
	if err := s.SetCheckpoint(ctx, "archive", 0, last); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TrimDelivered(ctx, "logs", []string{"archive"}); err != nil {
		t.Fatal(err)
	}
	await.Cond(t, 10*time.Second, "puts taken again", func() bool { return put()[0].Err == nil })
	// JetStream updates its account usage a moment after a purge.
	await.Cond(t, 10*time.Second, "the usage down to what was put since", func() bool {
		used, _ := s.DiskUsage()
		return used < budget/2
	})
	t.Logf("%d records of 10 KiB stored before the 1 MiB budget refused puts", stored)
}

// Streams nobody delivers cannot fill the log's budget and throttle the
// others: a stream with its own DiskBudget is throttled alone at it; one
// without, once the log holds half its budget, at its fair share (the
// budget divided by the open streams), so however many such streams there
// are, a stream holding less than its share still has room. (On the old
// main the first one filled the whole budget and every other stream got
// 429; with a default of half the budget, two of them did.)
func TestStreamDiskBudget(t *testing.T) {
	ctx := context.Background()
	const budget = 2 << 20
	s, err := Open(ctx, StoreConfig{DataDir: t.TempDir(), SyncAlways: true, DiskBudget: budget, UsageInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	generous := Limits{BytesPerSecond: 1 << 30, RecordsPerSecond: 1 << 20}
	open := func(name string, diskBudget int64) *Stream {
		st, err := s.CreateStream(ctx, StreamSpec{Name: name, Shards: 1, Limits: generous, DiskBudget: diskBudget})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	hog1, hog2, small, other := open("hog1", 0), open("hog2", 0), open("small", 256<<10), open("other", 0)
	rec := Record{PartitionKey: "k", Data: bytes.Repeat([]byte("x"), 10<<10)}
	const inFlight = 200 << 10 // what one put past the check may add
	for _, tc := range []struct {
		st        *Stream
		limit     int64 // its own budget when refused
		atMostOwn int64 // the most it may hold then
	}{
		{hog1, budget / 4, budget/2 + inFlight},    // writes freely up to half the budget
		{hog2, budget / 4, budget/4 + budget/4/50}, // 2%: a check may race another
		{small, 256 << 10, 256<<10 + 256<<10/50},
	} {
		for i := 0; ; i++ {
			if i > 1000 {
				t.Fatal("1,000 puts of 40 KiB taken")
			}
			res := tc.st.Put(ctx, time.Now(), []Record{rec, rec, rec, rec})
			if res[0].Err != nil {
				if !errors.Is(res[0].Err, ErrDiskBudget) {
					t.Fatalf("refused with %v, want ErrDiskBudget", res[0].Err)
				}
				break
			}
		}
		used, own := s.StreamDiskUsage(tc.st.spec.Name)
		if least := tc.limit * 3 / 4; own != tc.limit || used < least || used > tc.atMostOwn {
			t.Fatalf("%s refused at %d bytes of its own %d, want %d..%d", tc.st.spec.Name, used, own, least, tc.atMostOwn)
		}
	}
	if res := other.Put(ctx, time.Now(), []Record{rec}); res[0].Err != nil {
		t.Fatalf("another stream is throttled too: %v", res[0].Err)
	}
	if used, _ := s.DiskUsage(); used >= budget {
		t.Fatalf("the log is at its budget: %d", used)
	}
}

// Puts a stream's quota refuses take no room in the disk budget: a
// throttled stream hammered with puts and atomic puts its quota refuses
// leaves the log's count where it was, and another stream still fills the
// log up to about a put short of the budget. (Before, each refused put
// took a ticket of the average put until the tickets held a quarter of
// the budget: the other stream was refused with ErrDiskBudget at about
// three quarters of it.)
func TestDiskBudgetRefusedPutsTakeNoRoom(t *testing.T) {
	ctx := context.Background()
	const budget = 1 << 20
	// No read of the disk while the test runs: tickets left behind would
	// stay until the next one.
	s, err := Open(ctx, StoreConfig{DataDir: t.TempDir(), SyncAlways: true, DiskBudget: budget, UsageInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	throttled, err := s.CreateStream(ctx, StreamSpec{Name: "throttled", Shards: 1, Limits: Limits{BytesPerSecond: 41 << 10, RecordsPerSecond: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	// Its own budget is the log's: the fair share of streams without one
	// is not what is tested.
	other, err := s.CreateStream(ctx, StreamSpec{Name: "other", Shards: 1, DiskBudget: budget, Limits: Limits{BytesPerSecond: 1 << 30, RecordsPerSecond: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	rec := Record{PartitionKey: "k", Data: bytes.Repeat([]byte("x"), 10<<10)}
	put := []Record{rec, rec, rec, rec}
	now := time.Now() // one instant: the quota does not refill
	if res := throttled.Put(ctx, now, put); res[0].Err != nil {
		t.Fatalf("the first put: %v", res[0].Err)
	}
	// The average put of the last interval is now that put.
	if err := s.refreshUsage(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := s.DiskUsage()
	for i := range 1000 {
		var res []PutResult
		if i%2 == 0 {
			res = throttled.Put(ctx, now, put)
		} else {
			res = throttled.PutAll(ctx, now, put)
		}
		for _, r := range res {
			if !errors.Is(r.Err, ErrThrottled) || errors.Is(r.Err, ErrDiskBudget) {
				t.Fatalf("put %d to the throttled stream: %v, want its quota's ErrThrottled", i, r.Err)
			}
		}
	}
	if after, _ := s.DiskUsage(); after != before {
		t.Errorf("1,000 refused puts moved the log's count from %d to %d bytes", before, after)
	}
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("1,000 puts of 40 KiB taken under a 1 MiB budget")
		}
		res := other.Put(ctx, now, put)
		if err := res[0].Err; err != nil {
			if !errors.Is(err, ErrDiskBudget) {
				t.Fatalf("the other stream refused with %v, want ErrDiskBudget", err)
			}
			break
		}
	}
	// What the log holds once refused, read from the disk (tickets dropped).
	if err := s.refreshUsage(ctx); err != nil {
		t.Fatal(err)
	}
	if used, _ := s.DiskUsage(); used < budget*7/8 {
		t.Errorf("the other stream was refused at %d bytes on disk (%.0f%% of the budget of %d), want at least 7/8 of it",
			used, 100*float64(used)/budget, budget)
	}
}
