package shards

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestReadPages(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	st, err := s.CreateStream(ctx, StreamSpec{Name: "r", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	var all []Sequence
	for m := range 3 { // three messages of four records
		recs := make([]Record, 4)
		for i := range recs {
			recs[i] = Record{PartitionKey: "k", Data: fmt.Appendf(nil, "m%d-r%d", m, i)}
		}
		seqs, err := st.Append(ctx, 0, recs)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, seqs...)
	}
	read := func(from Sequence, n, bytes int) ReadResult {
		t.Helper()
		res, err := s.Read(ctx, "r", 0, from, n, bytes)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	data := func(res ReadResult) string {
		var out string
		for _, r := range res.Records {
			out += string(r.Data) + " "
		}
		return out
	}
	tests := map[string]struct {
		from     Sequence
		n, bytes int
		want     string
		wantNext Sequence
		caughtUp bool
	}{
		"from the start, across messages":    {all[0], 6, 1 << 20, "m0-r0 m0-r1 m0-r2 m0-r3 m1-r0 m1-r1 ", all[6], false},
		"from the middle of a message":       {all[5], 100, 1 << 20, "m1-r1 m1-r2 m1-r3 m2-r0 m2-r1 m2-r2 m2-r3 ", MakeSequence(all[11].Message()+1, 0), true},
		"after the last record of a message": {all[3] + 1, 2, 1 << 20, "m1-r0 m1-r1 ", all[6], false},
		"byte limit, at least one record":    {all[0], 100, 1, "m0-r0 ", all[1], false},
		"past the end":                       {MakeSequence(all[11].Message()+1, 0), 10, 1 << 20, "", MakeSequence(all[11].Message()+1, 0), true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			res := read(tt.from, tt.n, tt.bytes)
			if got := data(res); got != tt.want || res.Next != tt.wantNext {
				t.Fatalf("read %q next %v, want %q next %v", got, res.Next, tt.want, tt.wantNext)
			}
			if tt.caughtUp && res.Behind != 0 {
				t.Fatalf("behind = %v at the tip", res.Behind)
			}
		})
	}

	for kind, want := range map[string]Sequence{
		"TRIM_HORIZON": all[0],
		"LATEST":       MakeSequence(all[11].Message()+1, 0),
	} {
		if got, err := s.Position(ctx, "r", 0, kind, time.Time{}); err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", kind, got, err, want)
		}
	}
	if got, _ := s.Position(ctx, "r", 0, "AT_TIMESTAMP", before); got != all[0] {
		t.Errorf("AT_TIMESTAMP before everything = %v, want %v", got, all[0])
	}
	if got, _ := s.Position(ctx, "r", 0, "AT_TIMESTAMP", time.Now().Add(time.Hour)); got != MakeSequence(all[11].Message()+1, 0) {
		t.Errorf("AT_TIMESTAMP in the future = %v, want the tip", got)
	}
}
