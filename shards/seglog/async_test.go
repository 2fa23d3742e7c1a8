package seglog

import (
	"context"
	"errors"
	"testing"
)

// Entries handed over with AppendAsync by one goroutine are stored in the
// order handed over, across segment rolls, and each Wait says where.
func TestAppendAsyncKeepsOrder(t *testing.T) {
	o := testOptions(t.TempDir(), newClock(), &testFS{})
	o.SegmentBytes, o.SyncAlways = 4096, true
	l := mustOpen(t, o)
	defer mustClose(t, l)
	ctx := context.Background()
	var pending []Pending
	for seq := uint64(1); seq <= 200; seq++ {
		p, err := l.AppendAsync(ctx, "k", Entry{Records: 2, Payload: payload("k", seq, 100)})
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
	}
	for i, p := range pending {
		if seq, err := p.Wait(); err != nil || seq != uint64(i+1) {
			t.Fatalf("append %d: sequence %d, %v", i+1, seq, err)
		}
	}
	checkEntries(t, "k", readAll(t, l, "k", 0), 1, 200, 100)
	if _, err := l.AppendAsync(ctx, "", Entry{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty key: %v, want ErrInvalid", err)
	}
}
