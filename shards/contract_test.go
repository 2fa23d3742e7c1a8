package shards

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/testnats"
)

// logBackends opens a Store on each log: the embedded segment log, and
// JetStream on a NATS server. Each open returns a Store on the same log as
// the ones before it in the test (its files, or its server), so that a
// test can close it and open it again.
func logBackends() []struct {
	name string
	open func(t *testing.T) func(cfg StoreConfig) *Store
} {
	openWith := func(t *testing.T, fill func(*StoreConfig)) func(StoreConfig) *Store {
		return func(cfg StoreConfig) *Store {
			t.Helper()
			fill(&cfg)
			cfg.SyncAlways = true
			s, err := Open(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}
	return []struct {
		name string
		open func(t *testing.T) func(cfg StoreConfig) *Store
	}{
		{"segments", func(t *testing.T) func(StoreConfig) *Store {
			dir := t.TempDir()
			return openWith(t, func(c *StoreConfig) { c.DataDir = dir })
		}},
		{"jetstream", func(t *testing.T) func(StoreConfig) *Store {
			url := testnats.StartOne(t).URL()
			return openWith(t, func(c *StoreConfig) { c.NATS = &NATSConfig{URL: url, Replicas: 1} })
		}},
	}
}

// TestLogContract runs the behaviour every part above the log relies on
// against both logs.
func TestLogContract(t *testing.T) {
	for _, b := range logBackends() {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range []struct {
				name string
				run  func(t *testing.T, open func(StoreConfig) *Store)
			}{
				{"append and read in order", contractAppendRead},
				{"readers wait at the tail", contractTail},
				{"trim, position and lag", contractTrim},
				{"reopen keeps records and checkpoints", contractReopen},
				{"delete and recreate", contractDelete},
				{"corrupt message skipped", contractCorrupt},
				{"reshard keeps lineage and records", contractReshard},
			} {
				t.Run(c.name, func(t *testing.T) { c.run(t, b.open(t)) })
			}
		})
	}
}

func putN(t *testing.T, st *Stream, shard, from, n int) []Sequence {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{PartitionKey: "k", Data: fmt.Appendf(nil, "r%d", from+i)}
	}
	seqs, err := st.Append(context.Background(), shard, recs)
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}

func contractAppendRead(t *testing.T, open func(StoreConfig) *Store) {
	ctx := context.Background()
	s := open(StoreConfig{})
	st, err := s.CreateStream(ctx, StreamSpec{Name: "c.1_x", Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	for m := range 5 {
		seqs := putN(t, st, m%2, m*10, 10)
		if want := MakeSequence(uint64(m/2+1), 0); seqs[0] != want {
			t.Fatalf("append %d: first sequence %v, want %v", m, seqs[0], want)
		}
	}
	recs := readAll(t, s, "c.1_x", 0)
	if len(recs) != 30 || string(recs[0].Data) != "r0" || string(recs[10].Data) != "r20" || string(recs[29].Data) != "r49" {
		t.Fatalf("shard 0: %d records %q…", len(recs), recs[0].Data)
	}
	// A page from inside a message, and a reader from after a sequence.
	res, err := s.Read(ctx, "c.1_x", 0, MakeSequence(2, 5), 3, 1<<20)
	if err != nil || len(res.Records) != 3 || string(res.Records[0].Data) != "r25" || res.Next != MakeSequence(2, 8) {
		t.Fatalf("read from 2/5: %+v, %v", res, err)
	}
	r, err := s.OpenReader(ctx, "c.1_x", 1, MakeSequence(1, 9))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := r.Next(rctx)
	if err != nil || string(got[0].Data) != "r30" {
		t.Fatalf("reader after 1/9: %v %v", got, err)
	}
	info, err := s.ShardInfo(ctx, "c.1_x", 1)
	if err != nil || info.Messages != 2 || info.LastMsg != 2 || info.First != MakeSequence(1, 0) || info.Bytes == 0 {
		t.Fatalf("shard 1: %+v %v", info, err)
	}
}

func contractTail(t *testing.T, open func(StoreConfig) *Store) {
	ctx := context.Background()
	s := open(StoreConfig{})
	st, err := s.CreateStream(ctx, StreamSpec{Name: "tail", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.OpenReader(ctx, "tail", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Nothing stored: Next waits until its ctx ends, and the reader stays usable.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = r.Next(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("empty shard: %v, want the deadline", err)
	}
	got := make(chan []StoredRecord, 1)
	go func() {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		recs, err := r.Next(rctx)
		if err != nil {
			t.Error(err)
		}
		got <- recs
	}()
	putN(t, st, 0, 0, 3)
	if recs := <-got; len(recs) != 3 || string(recs[2].Data) != "r2" {
		t.Fatalf("at the tail: %v", recs)
	}
}

func contractTrim(t *testing.T, open func(StoreConfig) *Store) {
	ctx := context.Background()
	s := open(StoreConfig{})
	st, err := s.CreateStream(ctx, StreamSpec{Name: "trim", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	putN(t, st, 0, 0, 4) // message 1
	putN(t, st, 0, 4, 4) // 2
	mid := time.Now()
	putN(t, st, 0, 8, 4) // 3
	if pos, err := s.Position(ctx, "trim", 0, "AT_TIMESTAMP", mid); err != nil || pos != MakeSequence(3, 0) {
		t.Errorf("AT_TIMESTAMP between 2 and 3: %v %v", pos, err)
	}
	if pos, err := s.Position(ctx, "trim", 0, "LATEST", time.Time{}); err != nil || pos != MakeSequence(4, 0) {
		t.Errorf("LATEST: %v %v", pos, err)
	}
	lag, err := s.Lag(ctx, "trim", 0, MakeSequence(1, 1))
	if err != nil || lag.Records != 10 {
		t.Errorf("lag after 1/1: %+v %v, want 10 records", lag, err)
	}
	// Delivered through message 2: the first two messages go.
	if err := s.SetCheckpoint(ctx, "d", 0, MakeSequence(2, 3)); err != nil {
		t.Fatal(err)
	}
	res, err := s.Trim(ctx, "trim", 0, []string{"d"}, time.Now().Add(time.Hour))
	if err != nil || res[0].Purged != 2 || res[0].HeldBy != "d" {
		t.Fatalf("trim: %+v %v, want 2 purged, held by d", res, err)
	}
	if pos, err := s.Position(ctx, "trim", 0, "TRIM_HORIZON", time.Time{}); err != nil || pos != MakeSequence(3, 0) {
		t.Errorf("TRIM_HORIZON after the trim: %v %v", pos, err)
	}
	if res, err := s.Read(ctx, "trim", 0, MakeSequence(1, 0), 100, 1<<20); err != nil || len(res.Records) != 4 || string(res.Records[0].Data) != "r8" {
		t.Errorf("read from a trimmed position: %+v %v, want the oldest kept", res, err)
	}
	recs := readAll(t, s, "trim", 0)
	if len(recs) != 4 || recs[0].Sequence != MakeSequence(3, 0) {
		t.Errorf("after the trim: %v", recs)
	}
}

func contractReopen(t *testing.T, open func(StoreConfig) *Store) {
	ctx := context.Background()
	s := open(StoreConfig{})
	st, err := s.CreateStream(ctx, StreamSpec{Name: "keep", Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	putN(t, st, 1, 0, 5)
	if err := s.SetCheckpoint(ctx, "d", 1, MakeSequence(1, 2)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMeta(ctx, "streams/keep", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(StoreConfig{})
	// Another shard count opens the stream as it is: resharding is the
	// caller's (UpdateShardCount).
	if st, err := s.CreateStream(ctx, StreamSpec{Name: "keep", Shards: 3}); err != nil || st.OpenShards() != 2 || st.Configured() != 2 {
		t.Fatalf("reopened with 3 shards: %v, want its 2 shards kept", err)
	}
	st, err = s.CreateStream(ctx, StreamSpec{Name: "keep", Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := s.Checkpoint(ctx, "d", 1); err != nil || cp != MakeSequence(1, 2) {
		t.Errorf("checkpoint: %v %v", cp, err)
	}
	if m, err := s.ListMeta(ctx, "streams/"); err != nil || string(m["streams/keep"]) != "{}" {
		t.Errorf("catalog: %v %v", m, err)
	}
	if seqs := putN(t, st, 1, 5, 1); seqs[0] != MakeSequence(2, 0) {
		t.Errorf("append after reopening: %v, want message 2", seqs[0])
	}
	if recs := readAll(t, s, "keep", 1); len(recs) != 6 || string(recs[5].Data) != "r5" {
		t.Errorf("after reopening: %v", recs)
	}
}

func contractDelete(t *testing.T, open func(StoreConfig) *Store) {
	ctx := context.Background()
	s := open(StoreConfig{})
	st, err := s.CreateStream(ctx, StreamSpec{Name: "gone", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	putN(t, st, 0, 0, 5)
	if err := s.DeleteStream(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ShardInfo(ctx, "gone", 0); err == nil {
		t.Error("a deleted stream's shard is still there")
	}
	st, err = s.CreateStream(ctx, StreamSpec{Name: "gone", Shards: 2})
	if err != nil {
		t.Fatalf("recreate with another shard count: %v", err)
	}
	if seqs := putN(t, st, 0, 100, 1); seqs[0] != MakeSequence(1, 0) {
		t.Errorf("the recreated stream starts at %v, want 1/0", seqs[0])
	}
	if recs := readAll(t, s, "gone", 0); len(recs) != 1 || string(recs[0].Data) != "r100" {
		t.Errorf("recreated stream: %v", recs)
	}
}

func contractCorrupt(t *testing.T, open func(StoreConfig) *Store) {
	ctx := context.Background()
	s := open(StoreConfig{})
	st, err := s.CreateStream(ctx, StreamSpec{Name: "bad", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	putN(t, st, 0, 0, 1)
	if err := appendRaw(ctx, s, "bad", 0, []byte("not a batch")); err != nil {
		t.Fatal(err)
	}
	putN(t, st, 0, 1, 1)
	r, err := s.OpenReader(ctx, "bad", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var corrupt *CorruptMessageError
	if _, err := r.Next(rctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(rctx); !errors.As(err, &corrupt) || string(corrupt.Data) != "not a batch" {
		t.Fatalf("second: %v", err)
	}
	if recs, err := r.Next(rctx); err != nil || string(recs[0].Data) != "r1" {
		t.Fatalf("third: %v %v", recs, err)
	}
}
