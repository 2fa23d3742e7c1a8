package awsapi

import (
	"encoding/hex"
	"math/rand/v2"
)

// randomKey is a partition key that spreads records evenly over shards.
func randomKey() string {
	var b [8]byte
	v := rand.Uint64()
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return hex.EncodeToString(b[:])
}
