package httpendpoint

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestCut(t *testing.T) {
	b := batch(10) // records of 24 body bytes each
	span := func(from, to int) Span { return spanOf(b.Records[from:to]) }
	cases := map[string]struct {
		known []Span
		max   int
		want  [][2]int
	}{
		"nothing known":         {want: [][2]int{{0, 10}}},
		"split by size":         {max: bodyOverhead + 4*24, want: [][2]int{{0, 4}, {4, 8}, {8, 10}}},
		"known prefix":          {known: []Span{span(0, 3)}, want: [][2]int{{0, 3}, {3, 10}}},
		"known prefix and next": {known: []Span{span(0, 3), span(3, 5)}, want: [][2]int{{0, 3}, {3, 5}, {5, 10}}},
		"known in the middle":   {known: []Span{span(2, 4)}, want: [][2]int{{0, 2}, {2, 4}, {4, 10}}},
		"known longer than the batch": {known: []Span{{FirstSeq: 100, LastSeq: 120, Count: 21}},
			want: [][2]int{{0, 10}}},
		"same first, other last": {known: []Span{{FirstSeq: 100, LastSeq: 104, Count: 4}}, want: [][2]int{{0, 10}}},
		"known and size":         {known: []Span{span(0, 6)}, max: bodyOverhead + 3*24, want: [][2]int{{0, 6}, {6, 9}, {9, 10}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := cut(b.Records, c.known, c.max)
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
		})
	}
}

// A batch read again after a restart, with more records than the one sent
// before, goes out first as the request sent before (the same id), the
// rest under a new one.
func TestLedgerRecutsAfterRestart(t *testing.T) {
	dir := t.TempDir()
	rcv := newReceiver(t, nil)
	first, err := NewFileLedger(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := newDest(t, Config{URL: rcv.srv.URL, Ledger: first})
	sent := batch(4)
	if err := d.Deliver(context.Background(), sent); err != nil {
		t.Fatal(err)
	}
	again, err := NewFileLedger(dir) // a new process
	if err != nil {
		t.Fatal(err)
	}
	d2 := newDest(t, Config{URL: rcv.srv.URL, Ledger: again})
	reread := batch(7)
	if err := d2.Deliver(context.Background(), reread); err != nil {
		t.Fatal(err)
	}
	got := rcv.requests()
	if len(got) != 3 || got[1].id != got[0].id || len(got[1].records) != 4 || len(got[2].records) != 3 ||
		got[2].id != RequestID(reread, 4, 7) {
		t.Fatalf("requests %+v", got)
	}
	spans, err := again.Spans(sent.ShardID)
	if err != nil || len(spans) != 2 {
		t.Fatalf("ledger %v %v", spans, err)
	}
}

func TestLedgerKeepsTheNewestAndSurvivesATornFile(t *testing.T) {
	dir := t.TempDir()
	l, err := NewFileLedger(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ledgerKeep + 10 {
		if err := l.Add("shard/../x", []Span{{FirstSeq: uint64(i), LastSeq: uint64(i), Count: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	spans, _ := l.Spans("shard/../x")
	if len(spans) != ledgerKeep || spans[0].FirstSeq != 10 {
		t.Fatalf("%d spans, first %d", len(spans), spans[0].FirstSeq)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	if err := os.WriteFile(files[0], []byte(`[{"fs":1`), 0o644); err != nil {
		t.Fatal(err)
	}
	l2, _ := NewFileLedger(dir)
	if spans, err := l2.Spans("shard/../x"); err != nil || len(spans) != 0 {
		t.Fatalf("torn file: %v %v", spans, err)
	}
}
