package shards

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// PutAll stores a request whole or refuses it whole: a part one shard's
// quota cannot take refuses the others' parts too, spends nothing, and
// stores nothing; a part larger than a second of the quota goes through
// when the quota is full, and the debt it leaves refuses what follows.
func TestPutAllWholeOrNothing(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, StoreConfig{DataDir: t.TempDir(), DiskBudget: 1 << 40, UsageInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.CreateStream(ctx, StreamSpec{Name: "logs", Shards: 2, Limits: Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 10}})
	if err != nil {
		t.Fatal(err)
	}
	on := func(shard int) Record {
		h := st.Lineage().Shards[shard].Range.Start
		return Record{PartitionKey: "k", HashKey: &h, Data: []byte("x")}
	}
	parts := func(a, b int) []Record {
		var recs []Record
		for range a {
			recs = append(recs, on(0))
		}
		for range b {
			recs = append(recs, on(1))
		}
		return recs
	}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	stored := func() (n int) {
		for shard := range 2 {
			n += int(st.quotas[shard].Usage().Records)
		}
		return n
	}
	steps := []struct {
		name    string
		at      time.Duration // after now
		recs    []Record
		refused bool
		stored  int // records admitted so far, both shards
	}{
		{"both parts fit", 0, parts(4, 4), false, 8},
		{"shard 1 cannot take 7 more", 0, parts(1, 7), true, 8},
		{"shard 0 alone takes 6 more", 0, parts(6, 0), false, 14},
		{"shard 0 is empty: nothing else goes", 0, parts(1, 1), true, 14},
		{"a second later, 25 in one part: full bucket, into debt", time.Second, parts(25, 0), false, 39},
		{"the debt refuses the next second's", 2 * time.Second, parts(1, 0), true, 39},
		{"paid off", 3 * time.Second, parts(1, 1), false, 41},
	}
	for _, step := range steps {
		res := st.PutAll(ctx, now.Add(step.at), step.recs)
		for i, r := range res {
			switch {
			case step.refused && !errors.Is(r.Err, ErrThrottled):
				t.Fatalf("%s: record %d: %v, want ErrThrottled", step.name, i, r.Err)
			case !step.refused && r.Err != nil:
				t.Fatalf("%s: record %d: %v, want stored", step.name, i, r.Err)
			case !step.refused && r.Sequence == 0 && i > 0 && res[i-1].Sequence == 0:
				t.Fatalf("%s: record %d has no sequence", step.name, i)
			}
		}
		if got := stored(); got != step.stored {
			t.Fatalf("%s: %d records admitted in all, want %d", step.name, got, step.stored)
		}
	}
	var n int
	for shard := range 2 {
		res, err := s.Read(ctx, "logs", shard, 0, 1000, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		n += len(res.Records)
	}
	if n != 41 {
		t.Fatalf("the log holds %d records, want the 41 admitted", n)
	}

	// At the disk budget, every record is refused with ErrDiskBudget.
	s.budget.used.Store(s.budget.limit)
	for _, r := range st.PutAll(ctx, now.Add(time.Hour), parts(1, 1)) {
		if !errors.Is(r.Err, ErrDiskBudget) {
			t.Fatalf("at the disk budget: %v, want ErrDiskBudget", r.Err)
		}
	}
}

// An atomic put whose client went away before it was admitted stores
// nothing and spends no quota; once admitted it is stored whole, whatever
// the client does (the appends do not watch the request's context).
func TestPutAllCancelled(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, StoreConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.CreateStream(ctx, StreamSpec{Name: "logs", Shards: 4, Limits: Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 100}})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]Record, 40)
	for i := range recs {
		recs[i] = Record{PartitionKey: fmt.Sprint("k", i), Data: []byte("x")}
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	for _, r := range st.PutAll(gone, time.Now(), recs) {
		if !errors.Is(r.Err, context.Canceled) {
			t.Fatalf("put after the client went away: %v, want context.Canceled", r.Err)
		}
	}
	for shard := range 4 {
		if u := st.quotas[shard].Usage(); u.Records != 0 {
			t.Fatalf("shard %d: %d records admitted for a put nobody waits for", shard, u.Records)
		}
	}
	for i, r := range st.PutAll(ctx, time.Now(), recs) {
		if r.Err != nil {
			t.Fatalf("record %d: %v", i, r.Err)
		}
	}
}
