package shards

import (
	"context"
	"fmt"
	"testing"
)

// Lag counts the records after a checkpoint exactly, across messages, part
// delivered messages, trimming and restarts.
func TestLag(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTestStore(t, dir)
	st, err := s.CreateStream(ctx, StreamSpec{Name: "logs", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []Sequence
	appendMsg := func(st *Stream) {
		recs := make([]Record, 5)
		for i := range recs {
			recs[i] = Record{PartitionKey: "k", Data: []byte(fmt.Sprint(i))}
		}
		got, err := st.Append(ctx, 0, recs) // one message of 5 records
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, got...)
	}
	for range 3 {
		appendMsg(st)
	}
	check := func(s *Store, cp Sequence, want int64) {
		t.Helper()
		lag, err := s.Lag(ctx, "logs", 0, cp)
		if err != nil {
			t.Fatal(err)
		}
		if lag.Records != want || (want > 0) == lag.Oldest.IsZero() {
			t.Errorf("lag after %v = %+v, want %d records", cp, lag, want)
		}
	}
	check(s, 0, 15)
	check(s, seqs[2], 12) // inside the first message
	check(s, seqs[4], 10) // its last record
	check(s, seqs[13], 1) // inside the last message
	check(s, seqs[14], 0) // all delivered
	if _, err := s.Trim(ctx, "logs", 0, []string{"d"}, s.cfg.Now()); err != nil {
		t.Fatal(err) // d has delivered nothing: nothing is trimmed
	}
	s.SetCheckpoint(ctx, "d", 0, seqs[4])
	if _, err := s.Trim(ctx, "logs", 0, []string{"d"}, s.cfg.Now()); err != nil {
		t.Fatal(err)
	}
	check(s, 0, 10) // a checkpoint before what was trimmed: what is kept

	// The running count goes on after a restart.
	s.Close()
	s = openTestStore(t, dir)
	defer s.Close()
	st, err = s.CreateStream(ctx, StreamSpec{Name: "logs", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	appendMsg(st)
	check(s, seqs[14], 5)
	check(s, seqs[9], 10)
	if n, err := s.RecordsTotal(ctx, "logs", 0); err != nil || n != 20 {
		t.Errorf("RecordsTotal = %d, %v; want 20 (trimmed ones included)", n, err)
	}
}
