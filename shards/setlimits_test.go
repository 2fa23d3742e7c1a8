package shards

import (
	"context"
	"testing"
)

func TestStreamSetLimits(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, StoreConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.CreateStream(ctx, StreamSpec{Name: "q", Shards: 2, Limits: Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	l := Limits{BytesPerSecond: 2048, RecordsPerSecond: 5}
	st.SetLimits(l)
	if got := st.Limits(); got != l {
		t.Fatalf("Limits() = %v, want %v", got, l)
	}
	for i := range 2 {
		if got := st.Quota(i).Limits(); got != l {
			t.Fatalf("shard %d quota = %v, want %v", i, got, l)
		}
	}
	s.SetNodes(2)
	if got := st.Quota(0).Limits(); got != (Limits{BytesPerSecond: 1024, RecordsPerSecond: 3}) {
		t.Fatalf("with 2 nodes shard 0 quota = %v, want half of %v", got, l)
	}
}
