package shards

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math/big"
	"sort"
	"strconv"
)

// HashKey is an unsigned 128-bit hash key, as Kinesis uses to route records.
type HashKey struct{ Hi, Lo uint64 }

// Less reports whether h < o.
func (h HashKey) Less(o HashKey) bool {
	return h.Hi < o.Hi || (h.Hi == o.Hi && h.Lo < o.Lo)
}

// Big returns h as a big.Int.
func (h HashKey) Big() *big.Int {
	b := new(big.Int).SetUint64(h.Hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(h.Lo))
}

// String returns h in decimal, the form Kinesis uses for hash keys.
func (h HashKey) String() string { return h.Big().String() }

// HashPartitionKey returns the MD5 of the UTF-8 partition key read as a
// big-endian unsigned 128-bit integer.
func HashPartitionKey(key string) HashKey {
	sum := md5.Sum([]byte(key))
	return HashKey{Hi: binary.BigEndian.Uint64(sum[:8]), Lo: binary.BigEndian.Uint64(sum[8:])}
}

var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// ParseHashKey parses a decimal hash key in [0, 2^128-1], the form of
// Kinesis' ExplicitHashKey.
func ParseHashKey(s string) (HashKey, error) {
	if s == "" || len(s) > 39 || (len(s) > 1 && s[0] == '0') {
		return HashKey{}, fmt.Errorf("hash key %q: must be a decimal integer between 0 and 2^128-1", s)
	}
	b, ok := new(big.Int).SetString(s, 10)
	if !ok || b.Sign() < 0 || b.Cmp(maxHashKey) > 0 {
		return HashKey{}, fmt.Errorf("hash key %q: must be a decimal integer between 0 and 2^128-1", s)
	}
	return hashKeyFromBig(b), nil
}

func hashKeyFromBig(b *big.Int) HashKey {
	lo := new(big.Int).And(b, new(big.Int).SetUint64(^uint64(0)))
	hi := new(big.Int).Rsh(b, 64)
	return HashKey{Hi: hi.Uint64(), Lo: lo.Uint64()}
}

// HashRange is the inclusive range of hash keys one shard owns.
type HashRange struct{ Start, End HashKey }

// ShardMap splits the hash-key space evenly among n shards exactly as Kinesis
// does: shard i covers [floor(2^128/n)·i, floor(2^128/n)·(i+1) − 1], and the
// last shard ends at 2^128−1.
type ShardMap struct {
	ranges []HashRange
}

// NewShardMap returns the even split of the hash-key space into n ≥ 1 shards.
func NewShardMap(n int) ShardMap {
	if n < 1 {
		n = 1
	}
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	width := new(big.Int).Div(space, big.NewInt(int64(n)))
	ranges := make([]HashRange, n)
	for i := range ranges {
		start := new(big.Int).Mul(width, big.NewInt(int64(i)))
		end := new(big.Int).Sub(new(big.Int).Add(start, width), big.NewInt(1))
		if i == n-1 {
			end = maxHashKey
		}
		ranges[i] = HashRange{Start: hashKeyFromBig(start), End: hashKeyFromBig(end)}
	}
	return ShardMap{ranges: ranges}
}

// Len returns the number of shards.
func (m ShardMap) Len() int { return len(m.ranges) }

// Range returns the hash-key range of shard i.
func (m ShardMap) Range(i int) HashRange { return m.ranges[i] }

// Shard returns the index of the shard whose range contains h.
func (m ShardMap) Shard(h HashKey) int {
	// The first shard whose end is ≥ h.
	return sort.Search(len(m.ranges), func(i int) bool { return !m.ranges[i].End.Less(h) })
}

// ShardID formats a shard index as Kinesis does: shardId-000000000000.
func ShardID(i int) string {
	var b [20]byte
	return string(AppendShardID(b[:0], i))
}

// AppendShardID appends the Kinesis shard id of shard i to dst.
func AppendShardID(dst []byte, i int) []byte {
	dst = append(dst, "shardId-"...)
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], int64(i), 10)
	for k := len(d); k < 12; k++ {
		dst = append(dst, '0')
	}
	return append(dst, d...)
}

// ParseShardID parses shardId-000000000003 into 3.
func ParseShardID(id string) (int, error) {
	const prefix = "shardId-"
	if len(id) != len(prefix)+12 || id[:len(prefix)] != prefix {
		return 0, fmt.Errorf("shard id %q: want shardId- followed by 12 digits", id)
	}
	n, err := strconv.Atoi(id[len(prefix):])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("shard id %q: want shardId- followed by 12 digits", id)
	}
	return n, nil
}
