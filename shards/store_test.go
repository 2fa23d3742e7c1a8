package shards

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func openTestStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), StoreConfig{DataDir: dir, SyncAlways: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreAppendReadCheckpoint(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTestStore(t, dir)
	st, err := s.CreateStream(ctx, StreamSpec{Name: "clicks.v1", Shards: 2})
	if err != nil {
		t.Fatal(err)
	}

	// Concurrent producers on one shard: every record stored once, and the
	// sequences of each producer increase in its own order.
	const producers, perProducer = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for p := range producers {
		wg.Go(func() {
			var last Sequence
			for i := range perProducer {
				seqs, err := st.Append(ctx, 1, []Record{{PartitionKey: "k", Data: fmt.Appendf(nil, "p%d-%d", p, i)}})
				if err != nil {
					errs <- err
					return
				}
				if seqs[0] <= last {
					errs <- fmt.Errorf("producer %d: sequence %d after %d", p, seqs[0], last)
					return
				}
				last = seqs[0]
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	got := readN(t, s, "clicks.v1", 1, 0, producers*perProducer)
	seen := map[string]bool{}
	for i, r := range got {
		if i > 0 && r.Sequence <= got[i-1].Sequence {
			t.Fatalf("record %d: sequence %d not after %d", i, r.Sequence, got[i-1].Sequence)
		}
		seen[string(r.Data)] = true
	}
	if len(seen) != producers*perProducer {
		t.Fatalf("read %d distinct records, want %d", len(seen), producers*perProducer)
	}
	// Concurrent appends share messages: JetStream does not group-commit,
	// the appender does.
	messages := map[uint64]bool{}
	for _, r := range got {
		messages[r.Sequence.Message()] = true
	}
	if len(messages) >= producers*perProducer {
		t.Fatalf("%d appends took %d messages: concurrent appends were not coalesced", producers*perProducer, len(messages))
	}
	t.Logf("%d concurrent appends stored in %d messages", producers*perProducer, len(messages))

	// Checkpoints survive a restart, and a reader resumes after one.
	mid := got[123].Sequence
	if err := s.SetCheckpoint(ctx, "archive", 1, mid); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir)
	defer s.Close()
	if _, err := s.CreateStream(ctx, StreamSpec{Name: "clicks.v1", Shards: 2}); err != nil {
		t.Fatal(err)
	}
	cp, err := s.Checkpoint(ctx, "archive", 1)
	if err != nil || cp != mid {
		t.Fatalf("checkpoint after restart = %d, %v; want %d", cp, err, mid)
	}
	if cp, _ := s.Checkpoint(ctx, "archive", 0); cp != 0 {
		t.Fatalf("unset checkpoint = %d, want 0", cp)
	}
	rest := readN(t, s, "clicks.v1", 1, cp, len(got)-124)
	if string(rest[0].Data) != string(got[124].Data) {
		t.Fatalf("resumed at %q, want %q", rest[0].Data, got[124].Data)
	}
}

func TestLargestRecordIsReadBack(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, StoreConfig{DataDir: t.TempDir(), SyncAlways: true, MaxRecordSize: 10 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.CreateStream(ctx, StreamSpec{Name: "big", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("b"), 10<<20)
	if _, err := st.Append(ctx, 0, []Record{{PartitionKey: "k", Data: big}, {PartitionKey: "k", Data: []byte("after")}}); err != nil {
		t.Fatal(err)
	}
	got := readN(t, s, "big", 0, 0, 2)
	if !bytes.Equal(got[0].Data, big) || string(got[1].Data) != "after" {
		t.Fatalf("read back %d and %q", len(got[0].Data), got[1].Data)
	}
}

// A stream opened again with another shard count keeps its lineage: the
// caller reshards it (UpdateShardCount), which keeps its records in order.
func TestReopenWithOtherShardCountKeepsLineage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTestStore(t, dir)
	if _, err := s.CreateStream(ctx, StreamSpec{Name: "clicks", Shards: 4}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTestStore(t, dir)
	defer s.Close()
	st, err := s.CreateStream(ctx, StreamSpec{Name: "clicks", Shards: 2})
	if err != nil || st.OpenShards() != 4 || st.Configured() != 4 {
		t.Fatalf("reopening with 2 shards: %v, want its 4 shards kept", err)
	}
}

func TestAppendSplitsLargeRequests(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	st, err := s.CreateStream(ctx, StreamSpec{Name: "big", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]Record, 40)
	for i := range recs {
		recs[i] = Record{PartitionKey: "k", Data: make([]byte, 100<<10)} // 4 MB in all
		recs[i].Data[0] = byte(i)
	}
	seqs, err := st.Append(ctx, 0, recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) != len(recs) {
		t.Fatalf("got %d sequences, want %d", len(seqs), len(recs))
	}
	if seqs[0].Message() == seqs[len(seqs)-1].Message() {
		t.Fatal("4 MB of records went into one message; want several of about 1 MiB")
	}
	got := readN(t, s, "big", 0, 0, len(recs))
	for i, r := range got {
		if r.Data[0] != byte(i) || r.Sequence != seqs[i] {
			t.Fatalf("record %d out of order", i)
		}
	}
}

func readN(t *testing.T, s *Store, stream string, shard int, after Sequence, n int) []StoredRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := s.OpenReader(ctx, stream, shard, after)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []StoredRecord
	for len(out) < n {
		recs, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("after %d of %d records: %v", len(out), n, err)
		}
		for _, rec := range recs {
			rec.Data = append([]byte(nil), rec.Data...)
			out = append(out, rec)
		}
	}
	return out
}

// Producers whose requests are cancelled mid-append reuse their buffers at
// once; the log must hold exactly what each acknowledged append carried.
func TestCancelledAppendsNeverCorruptTheLog(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	st, err := s.CreateStream(ctx, StreamSpec{Name: "c", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked = map[Sequence]string{}
	)
	for p := range 16 {
		wg.Go(func() {
			buf := make([]byte, 4096)
			for i := range 40 {
				want := fmt.Sprintf("p%02d-%03d-", p, i)
				for j := range buf {
					buf[j] = want[j%len(want)]
				}
				cctx, cancel := context.WithTimeout(ctx, time.Duration(i%3)*time.Millisecond)
				seqs, err := st.Append(cctx, 0, []Record{{PartitionKey: "k", Data: buf}})
				cancel()
				if err == nil {
					mu.Lock()
					acked[seqs[0]] = string(buf)
					mu.Unlock()
				}
				for j := range buf { // the caller reuses its memory right away
					buf[j] = '#'
				}
			}
		})
	}
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no append succeeded")
	}
	info, err := s.ShardInfo(ctx, "c", 0)
	if err != nil {
		t.Fatal(err)
	}
	total := int(info.Messages)
	got := readAll(t, s, "c", 0)
	for _, r := range got {
		if bytes.ContainsRune(r.Data, '#') {
			t.Fatalf("record %v was stored after its producer reused the buffer: %.40q", r.Sequence, r.Data)
		}
		if want, ok := acked[r.Sequence]; ok && want != string(r.Data) {
			t.Fatalf("record %v = %.20q, want %.20q", r.Sequence, r.Data, want)
		}
	}
	t.Logf("%d appends acknowledged, %d records in %d messages", len(acked), len(got), total)
}

// readAll reads every record of a shard, up to its last message.
func readAll(t *testing.T, s *Store, stream string, shard int) []StoredRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := s.ShardInfo(ctx, stream, shard)
	if err != nil {
		t.Fatal(err)
	}
	last := info.LastMsg
	if last == 0 {
		return nil
	}
	r, err := s.OpenReader(ctx, stream, shard, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []StoredRecord
	for len(out) == 0 || out[len(out)-1].Sequence.Message() < last {
		recs, err := r.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			rec.Data = append([]byte(nil), rec.Data...)
			out = append(out, rec)
		}
	}
	return out
}
