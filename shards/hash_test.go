package shards

import (
	"math/big"
	"testing"
)

// Expected values computed independently (Python: int(md5(key).hexdigest(), 16)
// and min(h // (2**128 // n), n-1)), the mapping Kinesis documents.
func TestHashPartitionKeyKinesisValues(t *testing.T) {
	tests := map[string]struct {
		key    string
		hash   string
		shards map[int]int // shard count -> shard index
	}{
		"empty":        {"", "281949768489412648962353822266799178366", map[int]int{1: 0, 4: 3, 7: 5}},
		"a":            {"a", "16955237001963240173058271559858726497", map[int]int{1: 0, 4: 0, 7: 0}},
		"user-1":       {"user-1", "285573413173782752570879317399258818820", map[int]int{1: 0, 4: 3, 7: 5}},
		"partitionKey": {"partitionKey", "193318062818912349798954611745638949166", map[int]int{1: 0, 4: 2, 7: 3}},
		"hydrant":      {"hydrant", "303726098272980312709501512048121092179", map[int]int{1: 0, 4: 3, 7: 6}},
		"unicode":      {"ünïcode", "272617993107095573161805975375084130852", map[int]int{1: 0, 4: 3, 7: 5}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			h := HashPartitionKey(tt.key)
			if got := h.String(); got != tt.hash {
				t.Fatalf("hash = %s, want %s", got, tt.hash)
			}
			for n, want := range tt.shards {
				if got := NewShardMap(n).Shard(h); got != want {
					t.Errorf("%d shards: shard = %d, want %d", n, got, want)
				}
			}
		})
	}
}

func TestShardMapRanges(t *testing.T) {
	two128 := new(big.Int).Lsh(big.NewInt(1), 128)
	for _, n := range []int{1, 2, 3, 4, 7, 64, 1000} {
		m := NewShardMap(n)
		width := new(big.Int).Div(two128, big.NewInt(int64(n)))
		for i := 0; i < n; i++ {
			r := m.Range(i)
			wantStart := new(big.Int).Mul(width, big.NewInt(int64(i)))
			if r.Start.Big().Cmp(wantStart) != 0 {
				t.Fatalf("n=%d shard %d start = %s, want %s", n, i, r.Start, wantStart)
			}
			if m.Shard(r.Start) != i || m.Shard(r.End) != i {
				t.Fatalf("n=%d shard %d: range ends map to %d and %d", n, i, m.Shard(r.Start), m.Shard(r.End))
			}
		}
		last := m.Range(n - 1).End.Big()
		if want := new(big.Int).Sub(two128, big.NewInt(1)); last.Cmp(want) != 0 {
			t.Fatalf("n=%d: last shard ends at %s, want 2^128-1", n, last)
		}
	}
}

func TestParseHashKey(t *testing.T) {
	tests := map[string]struct {
		in      string
		wantErr bool
	}{
		"zero":     {"0", false},
		"max":      {"340282366920938463463374607431768211455", false},
		"too big":  {"340282366920938463463374607431768211456", true},
		"negative": {"-1", true},
		"leading0": {"01", true},
		"empty":    {"", true},
		"hex":      {"0x10", true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			h, err := ParseHashKey(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && h.String() != tt.in {
				t.Fatalf("round trip = %s", h)
			}
		})
	}
}

func TestShardID(t *testing.T) {
	for i, want := range map[int]string{0: "shardId-000000000000", 7: "shardId-000000000007", 1234: "shardId-000000001234"} {
		if got := ShardID(i); got != want {
			t.Errorf("ShardID(%d) = %s, want %s", i, got, want)
		}
		if back, err := ParseShardID(want); err != nil || back != i {
			t.Errorf("ParseShardID(%s) = %d, %v", want, back, err)
		}
	}
	if _, err := ParseShardID("shardId-1"); err == nil {
		t.Error("ParseShardID accepted a short id")
	}
}

func BenchmarkRoute(b *testing.B) {
	m := NewShardMap(16)
	keys := []string{"user-1", "user-2", "a-much-longer-partition-key-for-routing", "x"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = m.Shard(HashPartitionKey(keys[i%len(keys)]))
	}
}
