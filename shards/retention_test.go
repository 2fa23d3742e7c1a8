package shards

import (
	"context"
	"testing"
	"time"
)

func TestTrimKeepsWhatDeliveriesStillNeed(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	st, err := s.CreateStream(ctx, StreamSpec{Name: "logs", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []Sequence
	for i := range 10 { // ten messages
		got, err := st.Append(ctx, 0, []Record{{PartitionKey: "k", Data: []byte{byte(i)}}})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, got[0])
	}
	info := func() ShardInfo {
		i, err := s.ShardInfo(ctx, "logs", 0)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	now := time.Now()

	// Nothing is older than a day yet.
	res, err := s.Trim(ctx, "logs", 24*time.Hour, nil, now)
	if err != nil || res[0].Purged != 0 || info().Messages != 10 {
		t.Fatalf("fresh records trimmed: %+v, %v", res, err)
	}

	// A day later: "a" has delivered 6 records, "b" only 3. Retention would
	// remove all ten, but what b has not delivered stays.
	later := now.Add(25 * time.Hour)
	s.SetCheckpoint(ctx, "a", 0, seqs[5])
	s.SetCheckpoint(ctx, "b", 0, seqs[2])
	res, err = s.Trim(ctx, "logs", 24*time.Hour, []string{"a", "b"}, later)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Purged != 3 || res[0].HeldBy != "b" || info().First != MakeSequence(seqs[3].Message(), 0) {
		t.Fatalf("trim = %+v, first kept %v; want 3 purged, held by b at message %d", res[0], info().First, seqs[3].Message())
	}
	// The lagging delivery still reads everything after its checkpoint.
	got := readN(t, s, "logs", 0, seqs[2], 7)
	if got[0].Data[0] != 3 {
		t.Fatalf("b resumes at record %d, want 3", got[0].Data[0])
	}

	// b delivers up to the last record but one: the last message stays.
	s.SetCheckpoint(ctx, "b", 0, seqs[8])
	res, err = s.Trim(ctx, "logs", 24*time.Hour, []string{"a", "b"}, later)
	if err != nil || res[0].Purged != 3 || res[0].HeldBy != "a" || info().Messages != 4 {
		t.Fatalf("trim = %+v, %v; %d messages left, want a holding 4", res, err, info().Messages)
	}
	// Once both delivered everything, retention removes the rest.
	s.SetCheckpoint(ctx, "a", 0, seqs[9])
	s.SetCheckpoint(ctx, "b", 0, seqs[9])
	res, err = s.Trim(ctx, "logs", 24*time.Hour, []string{"a", "b"}, later)
	if err != nil || res[0].HeldBy != "" || info().Messages != 0 {
		t.Fatalf("trim = %+v, %v; %d messages left, want 0", res, err, info().Messages)
	}

	// A stream nobody delivers is trimmed by age alone.
	if _, err := st.Append(ctx, 0, []Record{{PartitionKey: "k", Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if res, err = s.Trim(ctx, "logs", time.Hour, nil, now); err != nil || info().Messages != 1 {
		t.Fatalf("a record younger than the retention was trimmed: %+v, %v", res, err)
	}
	res, err = s.Trim(ctx, "logs", time.Hour, nil, later)
	if err != nil || res[0].HeldBy != "" || info().Messages != 0 {
		t.Fatalf("trim without readers = %+v, %v; %d left", res, err, info().Messages)
	}
	// Appends go on after a full trim.
	if _, err := st.Append(ctx, 0, []Record{{PartitionKey: "k", Data: []byte("new")}}); err != nil {
		t.Fatal(err)
	}
}
