package shards

import (
	"math"
	"testing"
)

// TestRandomKeysSpread checks that random keys are distinct, 16 hex digits,
// and land evenly over a stream's shards.
func TestRandomKeysSpread(t *testing.T) {
	const shards, n = 8, 80_000
	m := NewShardMap(shards)
	var keys RandomKeys
	seen := make(map[string]bool, n)
	counts := make([]int, shards)
	for range n {
		k := keys.Next()
		if len(k) != 16 || seen[k] {
			t.Fatalf("key %q: want 16 hex digits, each new", k)
		}
		seen[k] = true
		counts[m.Shard(HashPartitionKey(k))]++
	}
	want := float64(n) / shards
	for i, c := range counts {
		if math.Abs(float64(c)-want) > 0.05*want {
			t.Errorf("shard %d got %d keys, want %.0f ± 5%%", i, c, want)
		}
	}
}

func BenchmarkRandomKeys(b *testing.B) {
	b.ReportAllocs()
	var keys RandomKeys
	for b.Loop() {
		_ = keys.Next()
	}
}
