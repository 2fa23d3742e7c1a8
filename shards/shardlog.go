package shards

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// logBackend is where a Store keeps its shards' record-batch messages: the
// segment log (embedded) or NATS JetStream (on a cluster). The Store does the
// rest (quotas, budgets, coalescing appends, decoding records) the same way
// on both.
type logBackend interface {
	// createShards creates the logs of a stream's shards ids, or opens
	// them.
	createShards(ctx context.Context, stream string, ids []int) error
	// closeShard makes one shard refuse appends from every node, before a
	// reshard reads its last message; reopenShard undoes it (the reshard
	// failed). The embedded log has nothing to do: one node appends.
	closeShard(ctx context.Context, stream string, shard int) error
	reopenShard(ctx context.Context, stream string, shard int) error
	// legacyShards returns the shard count and creation time of a stream
	// stored before lineages were kept in the streams bucket (0: none).
	legacyShards(ctx context.Context, stream string) (int, time.Time, error)
	// deleteShards deletes the logs of a stream's shards and what they hold.
	deleteShards(ctx context.Context, stream string, shards int) error
	// openShard opens one shard's log for one operation.
	openShard(ctx context.Context, stream string, shard int) (shardLog, error)
	// iterate returns an iterator over one shard's messages from message
	// from on (0: the first kept).
	iterate(ctx context.Context, stream string, shard int, from uint64) (msgIter, error)
	// publisher returns the name (for errors) and publisher of one shard.
	publisher(stream string, shard int) (string, publisher)
	// usage returns what the log occupies, and each stream of streams
	// (name → shards).
	usage(ctx context.Context, streams map[string]int) (logUsage, error)
}

// shardLog is one shard's log of record-batch messages, numbered from 1 up
// with no gaps but the prefix trimmed away, as opened for one operation:
// its state is what it was when opened. JetStream (a stream per shard) and
// the segment log implement it.
type shardLog interface {
	// state returns what the shard held when it was opened.
	state() logState
	// get returns message seq, or an error wrapping errMsgNotFound when it
	// was trimmed or not yet stored.
	get(ctx context.Context, seq uint64) (logMsg, error)
	// purge removes the messages before seq.
	purge(ctx context.Context, before uint64) error
}

// logState is what a shard's log holds.
type logState struct {
	Msgs        uint64 // messages kept
	Bytes       uint64 // their bytes in the log
	First, Last uint64 // sequences of the first and last kept; First is Last+1 when empty
	LastTime    time.Time
	Created     time.Time
}

// logMsg is one stored record-batch message.
type logMsg struct {
	Seq  uint64
	Time time.Time // when the log stored it
	Data []byte
	// Total is the shard's running record count through this message; -1
	// when the message does not say (written before records were counted).
	Total int64
}

var errMsgNotFound = errors.New("message not found")

// firstMessageAtOrAfter returns the first message in [lo, hi) stored at or
// after t, or hi when there is none; storage times increase with the
// sequence.
func firstMessageAtOrAfter(ctx context.Context, l shardLog, lo, hi uint64, t time.Time) (uint64, error) {
	for lo < hi {
		mid := lo + (hi-lo)/2
		m, err := l.get(ctx, mid)
		if errors.Is(err, errMsgNotFound) {
			lo = mid + 1 // trimmed meanwhile: older than anything kept
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("message %d: %w", mid, err)
		}
		if m.Time.Before(t) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// firstUndelivered returns the first message that holds a record after cp:
// cp's own message unless cp is its last record.
func firstUndelivered(ctx context.Context, l shardLog, cp Sequence) (uint64, error) {
	if cp == 0 {
		return 0, nil
	}
	if cp.Index() == maxBatchRecords-1 {
		return cp.Message() + 1, nil // past the whole message (a corrupt one is skipped so)
	}
	m, err := l.get(ctx, cp.Message())
	if errors.Is(err, errMsgNotFound) {
		return cp.Message() + 1, nil // trimmed already
	}
	if err != nil {
		return 0, err
	}
	n, err := batchCount(m.Data)
	if err != nil {
		return 0, fmt.Errorf("message %d: %w", cp.Message(), err)
	}
	if cp.Index() >= n-1 {
		return cp.Message() + 1, nil
	}
	return cp.Message(), nil
}
