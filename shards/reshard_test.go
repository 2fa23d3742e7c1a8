package shards

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// checkLineage asserts what every lineage must hold: dense IDs, open
// shards covering the hash-key space exactly once, at most two parents
// each, closed parents of every child.
func checkLineage(t *testing.T, l *Lineage) {
	t.Helper()
	for i, s := range l.Shards {
		if s.ID != i {
			t.Fatalf("shard %d has ID %d", i, s.ID)
		}
		for _, p := range s.Parents() {
			if p >= s.ID || l.Shards[p].IsOpen() {
				t.Fatalf("shard %d: parent %d is open or younger", s.ID, p)
			}
		}
	}
	next := big.NewInt(0)
	for _, s := range l.Open() {
		if s.Range.Start.Big().Cmp(next) != 0 {
			t.Fatalf("open shard %d starts at %s, want %s", s.ID, s.Range.Start, next)
		}
		next = new(big.Int).Add(s.Range.End.Big(), big.NewInt(1))
	}
	if next.Cmp(new(big.Int).Lsh(big.NewInt(1), 128)) != 0 {
		t.Fatalf("open shards end at %s, want 2^128", next)
	}
}

func TestLineageScale(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, steps := range [][]int{{4, 8}, {8, 4}, {4, 8, 3, 6}, {1, 2, 4, 2, 1}, {3, 5}, {5, 3}, {7, 13, 7}, {1, 40}} {
		t.Run(fmt.Sprint(steps), func(t *testing.T) {
			l := uniformLineage(steps[0], now)
			for _, n := range steps[1:] {
				before := len(l.Shards)
				if err := l.scale(n, now); err != nil {
					t.Fatal(err)
				}
				checkLineage(t, l)
				if !isUniform(l) || len(l.Open()) != n {
					t.Fatalf("after scaling to %d: %d open shards, uniform %v", n, len(l.Open()), isUniform(l))
				}
				for _, s := range l.Shards[before:] {
					if len(s.Parents()) == 0 {
						t.Fatalf("new shard %d has no parent", s.ID)
					}
				}
			}
		})
	}
}

func TestLineageSplitMergeRefusals(t *testing.T) {
	now := time.Now()
	mid := NewShardMap(2).Range(1).Start
	for _, tt := range []struct {
		name   string
		change func(l *Lineage) error
		want   string
	}{
		{"split at the first hash key", func(l *Lineage) error { return l.split(0, l.Shards[0].Range.Start, now) }, "not within"},
		{"split past the last hash key", func(l *Lineage) error { return l.split(0, mid, now) }, "not within"},
		{"split an unknown shard", func(l *Lineage) error { return l.split(9, mid, now) }, "does not exist"},
		{"merge shards that are not adjacent", func(l *Lineage) error { return l.merge(0, 2, now) }, "not adjacent"},
		{"merge a shard with itself", func(l *Lineage) error { return l.merge(1, 1, now) }, "itself"},
		{"merge a closed shard", func(l *Lineage) error {
			if err := l.merge(0, 1, now); err != nil {
				return err
			}
			return l.merge(0, 2, now)
		}, "closed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := uniformLineage(4, now)
			err := tt.change(l)
			if !errors.Is(err, ErrReshard) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrReshard saying %q", err, tt.want)
			}
		})
	}
}

func contractReshard(t *testing.T, open func(StoreConfig) *Store) {
	ctx := context.Background()
	s := open(StoreConfig{})
	st, err := s.CreateStream(ctx, StreamSpec{Name: "r.1_x", Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	putN(t, st, 0, 0, 3)
	mid := hashKeyFromBig(new(big.Int).Lsh(big.NewInt(1), 126)) // within shard 0
	if err := s.SplitShard(ctx, "r.1_x", 0, mid); err != nil {
		t.Fatal(err)
	}
	l := st.Lineage()
	checkLineage(t, l)
	if len(l.Shards) != 4 || l.Shards[0].IsOpen() || l.Shards[0].LastMessage != 1 ||
		l.Shards[2].Parent != 0 || l.Shards[3].Parent != 0 || l.Shards[3].Range.Start != mid {
		t.Fatalf("after the split: %+v", l.Shards)
	}
	if _, err := st.Append(ctx, 0, []Record{{PartitionKey: "k", Data: []byte("late")}}); !errors.Is(err, ErrShardClosed) {
		t.Fatalf("append to the closed parent: %v, want ErrShardClosed", err)
	}
	h := HashKey{}
	res := st.Put(ctx, time.Now(), []Record{{PartitionKey: "k", HashKey: &h, Data: []byte("child")}})
	if res[0].Err != nil || res[0].Shard != 2 {
		t.Fatalf("put after the split: %+v, want shard 2", res[0])
	}
	if err := s.MergeShards(ctx, "r.1_x", 3, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.MergeShards(ctx, "r.1_x", 2, 1); !errors.Is(err, ErrReshard) {
		t.Fatalf("merging a closed shard: %v", err)
	}
	// The closed parent keeps its records for readers.
	got, err := s.Read(ctx, "r.1_x", 0, 0, 100, 1<<20)
	if err != nil || len(got.Records) != 3 {
		t.Fatalf("read the closed parent: %d records, %v", len(got.Records), err)
	}
	want := st.Lineage()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(StoreConfig{})
	st, err = s.CreateStream(ctx, StreamSpec{Name: "r.1_x", Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	l = st.Lineage()
	if fmt.Sprint(l.Shards) != fmt.Sprint(want.Shards) {
		t.Fatalf("reopened lineage\n%+v\nwant\n%+v", l.Shards, want.Shards)
	}
	res = st.Put(ctx, time.Now(), []Record{{PartitionKey: "k", HashKey: &mid, Data: []byte("merged")}})
	if res[0].Err != nil || res[0].Shard != 4 {
		t.Fatalf("put after reopening: %+v, want the merged shard 4", res[0])
	}
	if err := s.UpdateShardCount(ctx, "r.1_x", 4, true); err != nil {
		t.Fatal(err)
	}
	checkLineage(t, st.Lineage())
	if st.OpenShards() != 4 || st.Configured() != 4 || !isUniform(st.Lineage()) {
		t.Fatalf("after UpdateShardCount: %d open, configured %d", st.OpenShards(), st.Configured())
	}
	if err := s.DeleteStream(ctx, "r.1_x"); err != nil {
		t.Fatal(err)
	}
	st, err = s.CreateStream(ctx, StreamSpec{Name: "r.1_x", Shards: 1})
	if err != nil || len(st.Lineage().Shards) != 1 {
		t.Fatalf("recreated after delete: %v", err)
	}
}

// TestReshardKeepsKeyOrder puts keyed records from several producers while
// the stream is resharded again and again: reading each shard after its
// parents, every key's records come in the order they were acknowledged,
// none missing and none twice.
func TestReshardKeepsKeyOrder(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	st, err := s.CreateStream(ctx, StreamSpec{Name: "o", Shards: 4, Limits: Limits{BytesPerSecond: 1 << 30, RecordsPerSecond: 1 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	const producers, keysEach = 8, 25
	stop := make(chan struct{})
	acked := make([]map[string]int, producers) // key → records acknowledged
	var wg sync.WaitGroup
	for p := range producers {
		acked[p] = map[string]int{}
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				var recs []Record
				for k := range keysEach {
					key := "p" + strconv.Itoa(p) + "k" + strconv.Itoa(k)
					recs = append(recs, Record{PartitionKey: key, Data: []byte(key + "/" + strconv.Itoa(acked[p][key]))})
				}
				for i, r := range st.Put(ctx, time.Now(), recs) {
					if r.Err != nil {
						t.Errorf("put: %v", r.Err)
						return
					}
					acked[p][recs[i].PartitionKey]++
				}
			}
		})
	}
	mid := NewShardMap(8).Range(1).Start
	for _, step := range []func() error{
		func() error { return s.UpdateShardCount(ctx, "o", 8, false) },
		func() error { return s.UpdateShardCount(ctx, "o", 3, false) },
		func() error { return s.SplitShard(ctx, "o", st.Lineage().Open()[0].ID, mid) },
		func() error { o := st.Lineage().Open(); return s.MergeShards(ctx, "o", o[1].ID, o[2].ID) },
		func() error { return s.UpdateShardCount(ctx, "o", 6, false) },
	} {
		// Let the producers put 2,000 records between reshards.
		want := totalRecords(ctx, t, s, st) + 2000
		deadline := time.Now().Add(30 * time.Second)
		for totalRecords(ctx, t, s, st) < want && !t.Failed() {
			if time.Now().After(deadline) {
				t.Fatal("producers stalled")
			}
			runtime.Gosched()
		}
		if err := step(); err != nil {
			t.Fatal(err)
		}
		checkLineage(t, st.Lineage())
	}
	close(stop)
	wg.Wait()
	// Read the shards parents first (IDs grow with the lineage).
	seen := map[string]int{}
	l := st.Lineage()
	for _, sh := range l.Shards {
		for _, r := range readPages(t, s, "o", sh.ID) {
			key, n, _ := strings.Cut(string(r.Data), "/")
			if want := strconv.Itoa(seen[key]); n != want {
				t.Fatalf("shard %d: key %s record %s, want %s", sh.ID, key, n, want)
			}
			seen[key]++
		}
	}
	for p := range producers {
		for key, n := range acked[p] {
			if seen[key] != n {
				t.Errorf("key %s: read %d records, %d acknowledged", key, seen[key], n)
			}
		}
	}
	if len(l.Open()) != 6 || len(l.Shards) < 20 {
		t.Errorf("lineage ends with %d open of %d shards", len(l.Open()), len(l.Shards))
	}
}

// totalRecords is how many records the stream's shards hold.
func totalRecords(ctx context.Context, t *testing.T, s *Store, st *Stream) int64 {
	var n int64
	for id := range st.Shards() {
		c, err := s.RecordsTotal(ctx, st.Name(), id)
		if err != nil {
			t.Fatal(err)
		}
		n += c
	}
	return n
}

func TestReshardInProgressRefused(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	st, err := s.CreateStream(ctx, StreamSpec{Name: "busy", Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	st.reshardBusy.Store(true) // as a reshard under way sets it
	if err := s.UpdateShardCount(ctx, "busy", 4, false); !errors.Is(err, ErrReshardInProgress) {
		t.Fatalf("second reshard: %v, want ErrReshardInProgress", err)
	}
	st.reshardBusy.Store(false)
	// A refresh of the lineage holding it for a moment delays a reshard,
	// and does not refuse it.
	st.resharding.Lock()
	done := make(chan error, 1)
	go func() { done <- s.UpdateShardCount(ctx, "busy", 4, false) }()
	st.resharding.Unlock()
	if err := <-done; err != nil {
		t.Fatalf("a reshard while the lineage is refreshed: %v", err)
	}
	if n := len(st.Lineage().Open()); n != 4 {
		t.Fatalf("%d open shards, want 4", n)
	}
}

func TestReshardAfterRefusal(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	if _, err := s.CreateStream(ctx, StreamSpec{Name: "busy", Shards: 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateShardCount(ctx, "busy", 4, false); err != nil {
		t.Fatal(err)
	}
}

// readPages reads every record of a shard with Read, page after page.
func readPages(t *testing.T, s *Store, stream string, shard int) []StoredRecord {
	t.Helper()
	var out []StoredRecord
	from := Sequence(0)
	for {
		res, err := s.Read(context.Background(), stream, shard, from, 10000, 8<<20)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.Records...)
		if len(res.Records) == 0 {
			return out
		}
		from = res.Next
	}
}
