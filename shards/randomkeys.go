package shards

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
)

// keysPerBatch is how many random keys RandomKeys cuts from one allocation.
const keysPerBatch = 64

// RandomKeys hands out random partition keys (16 hex digits), which spread
// records evenly over a stream's shards, as Firehose does for records
// without a key. The keys are cut from one string per 64, so a request of
// many records does not allocate once per record. The zero value is ready
// to use; it is not safe for concurrent use.
type RandomKeys struct {
	batch string
}

// Next returns a new random key.
func (r *RandomKeys) Next() string {
	if r.batch == "" {
		var b [keysPerBatch * 8]byte
		for i := 0; i < len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], rand.Uint64())
		}
		r.batch = hex.EncodeToString(b[:])
	}
	k := r.batch[:16]
	r.batch = r.batch[16:]
	return k
}
