package shards

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hydrant-dev/hydrant/shards/seglog"
)

// segBackend keeps every shard's log in the node's segment log (the
// embedded default): one key per shard, "stream/shard", in one log shared
// by all. The streams' lineages are in the node's bbolt store.
type segBackend struct {
	s   *Store
	log *segRef
}

// streamsBucket holds, per stream, its lineage and creation time
// (streamRecord).
const streamsBucket = "hydrant-streams"

// segKey is the segment log's key of one shard.
func segKey(stream string, shard int) string { return stream + "/" + strconv.Itoa(shard) }

// createShards has nothing to do: a key exists once appended to.
func (b segBackend) createShards(context.Context, string, []int) error { return nil }

func (b segBackend) closeShard(context.Context, string, int) error  { return nil }
func (b segBackend) reopenShard(context.Context, string, int) error { return nil }

// legacyShards: the embedded log has always kept its streams in the
// streams bucket.
func (b segBackend) legacyShards(context.Context, string) (int, time.Time, error) {
	return 0, time.Time{}, nil
}

func (b segBackend) deleteShards(ctx context.Context, stream string, shards int) error {
	l := b.log.current()
	for i := range shards {
		if err := l.Drop(segKey(stream, i)); err != nil {
			return fmt.Errorf("delete stream %q shard %d: %w", stream, i, err)
		}
	}
	return nil
}

func (b segBackend) openShard(ctx context.Context, stream string, shard int) (shardLog, error) {
	created, n, err := b.s.streamShards(ctx, stream)
	if err != nil {
		return nil, err
	}
	if shard < 0 || shard >= n {
		return nil, fmt.Errorf("shard log %s: %w", segKey(stream, shard), errShardNotFound)
	}
	key := segKey(stream, shard)
	l := b.log.current()
	return segShard{log: l, key: key, info: l.Info(key), created: created}, nil
}

// errShardNotFound: the shard's stream does not exist (or has fewer
// shards).
var errShardNotFound = errors.New("shard not found")

func (b segBackend) publisher(stream string, shard int) (string, publisher) {
	key := segKey(stream, shard)
	return key, segPublisher{s: b.s, log: b.log, key: key}
}

func (b segBackend) iterate(_ context.Context, stream string, shard int, from uint64) (msgIter, error) {
	return &segIter{s: b.s, log: b.log, key: segKey(stream, shard), at: from, stopped: make(chan struct{})}, nil
}

// usage returns what the log occupies on disk: the segment log's directory
// (segments, indexes, state; read from the filesystem), the store file and
// the rest of the log's directory; and, per stream, its entries' share of
// what the segment log occupies (see streamShare).
func (b segBackend) usage(_ context.Context, streams map[string]int) (logUsage, error) {
	l := b.log.current()
	segs, err := l.DiskUsage()
	if err != nil {
		return logUsage{}, fmt.Errorf("shard log: read disk usage: %w", err)
	}
	rest, err := logDirBytes(filepath.Dir(b.s.segOpts.Dir), filepath.Base(b.s.segOpts.Dir))
	if err != nil {
		return logUsage{}, fmt.Errorf("shard log: read disk usage: %w", err)
	}
	var live int64 // what every key's entries and their index records take
	for _, k := range l.Keys() {
		live += entryBytes(l.Info(k))
	}
	ratio := streamShare(segs, live)
	if live == 0 {
		// Nothing to measure yet: a segment's index and partly filled last
		// block take about two blocks of it.
		ratio = 1 + 2*float64(4<<10)/float64(b.s.segOpts.SegmentBytes)
	}
	u := logUsage{total: segs + rest, perByte: ratio}
	if len(streams) == 0 {
		return u, nil
	}
	bytes := make(map[string]int64, len(streams))
	for name, shards := range streams {
		var n int64
		for i := range shards {
			n += entryBytes(l.Info(segKey(name, i)))
		}
		bytes[name] = int64(float64(n) * ratio)
	}
	u.streams = bytes
	return u, nil
}

// entryBytes is what a key's kept entries take in the segments and their
// indexes, before the filesystem's rounding.
func entryBytes(info seglog.KeyInfo) int64 {
	return max(info.Bytes, 0) + int64(info.Entries)*seglog.IndexRecordBytes
}

// maxShareRatio bounds streamShare: the segments' headers, key frames,
// index tables and blocks take a few percent more than the entries; more is
// entries already trimmed that a segment keeps on disk for another key's
// sake, which is not the stream's to pay.
const maxShareRatio = 1.25

// streamShare is what the segment log occupies on disk per byte of its
// kept entries (see entryBytes), 1 to maxShareRatio: a stream's part of
// the budget is its entries' bytes times it.
func streamShare(onDisk, live int64) float64 {
	if live <= 0 {
		return 1
	}
	return min(max(float64(onDisk)/float64(live), 1), maxShareRatio)
}

// logDirBytes returns what dir and the files in it occupy on disk, but for
// the subdirectory skip (the segment log's, which counts its own).
func logDirBytes(dir, skip string) (int64, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, err
	}
	n := seglog.DiskBytes(fi)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if e.Name() == skip {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		n += seglog.DiskBytes(fi)
	}
	return n, nil
}

// segShard is one shard's key in the segment log, as opened for one
// operation.
type segShard struct {
	log     *seglog.Log
	key     string
	info    seglog.KeyInfo
	created time.Time
}

func (l segShard) state() logState {
	st := logState{Msgs: l.info.Entries, Bytes: uint64(max(l.info.Bytes, 0)), First: l.info.First, Last: l.info.Last, Created: l.created}
	if l.info.LastTime != 0 {
		st.LastTime = time.Unix(0, l.info.LastTime)
	}
	return st
}

func (l segShard) get(_ context.Context, seq uint64) (logMsg, error) {
	e, err := l.log.Get(l.key, seq)
	if errors.Is(err, seglog.ErrNotFound) {
		return logMsg{}, fmt.Errorf("%w: %s message %d", errMsgNotFound, l.key, seq)
	}
	if err != nil {
		return logMsg{}, fmt.Errorf("shard log %s: message %d: %w", l.key, seq, err)
	}
	return logMsg{Seq: e.Seq, Time: time.Unix(0, e.Time), Data: e.Payload, Total: int64(e.Total)}, nil
}

// purge trims the messages before seq; never past the last message, which
// would set the shard's next sequence instead.
func (l segShard) purge(_ context.Context, before uint64) error {
	before = min(before, l.log.Info(l.key).Last+1)
	if err := l.log.Trim(l.key, before); err != nil {
		return fmt.Errorf("shard log %s: trim before %d: %w", l.key, before, err)
	}
	return nil
}

// segPublisher appends a shard's record-batch messages to the segment log.
// The log itself counts the shard's records.
type segPublisher struct {
	s   *Store
	log *segRef
	key string
}

func (p segPublisher) start(msg []byte, n int, closing <-chan struct{}) func() (uint64, error) {
	fail := func(err error) func() (uint64, error) { return func() (uint64, error) { return 0, err } }
	if !p.s.Writable() {
		return fail(fmt.Errorf("shard log %s: store record batch: %w", p.key, ErrUnavailable))
	}
	// The log goes down: stop waiting to be taken in (an append taken in is
	// answered whatever happens).
	pending, err := p.log.current().AppendAsync(p.s.health.context(), p.key, seglog.Entry{Records: uint32(n), Payload: msg})
	if err != nil {
		return fail(p.failure(err, closing))
	}
	return func() (uint64, error) {
		seq, err := pending.Wait()
		if err != nil {
			return 0, p.failure(err, closing)
		}
		return seq, nil
	}
}

// failure is the error of an append that failed with err.
func (p segPublisher) failure(err error, closing <-chan struct{}) error {
	select {
	case <-closing:
		return fmt.Errorf("shard log %s: store record batch: %w", p.key, ErrStoreClosed)
	default:
	}
	switch {
	case errors.Is(err, seglog.ErrFailed):
		p.s.segFailed(err)
	case errors.Is(err, seglog.ErrClosed), errors.Is(err, context.Canceled):
		// reopening after a failure: the producer retries
	default:
		// A failed write (a full disk) was undone: nothing stored. Puts are
		// refused until the next health check finds room.
		p.s.markDown("the shard log failed a write: " + err.Error())
	}
	return fmt.Errorf("shard log %s: store record batch: %w (%w)", p.key, ErrUnavailable, err)
}

// segReadBytes is what a segIter reads at once (at least one message):
// positional reads are cheap, and what is read ahead is held in memory.
const segReadBytes = 2 << 20

// segIter reads one shard's key from the segment log: positional reads of
// what is stored, and a wait for the next append at the end.
type segIter struct {
	s       *Store
	log     *segRef
	key     string
	at      uint64 // the next sequence to read; 0: the first kept
	buf     []seglog.Stored
	stopped chan struct{}
	once    sync.Once
}

func (it *segIter) next(ctx context.Context) (uint64, []byte, error) {
	for {
		if len(it.buf) > 0 {
			e := it.buf[0]
			it.buf[0] = seglog.Stored{}
			it.buf = it.buf[1:]
			it.at = e.Seq + 1
			return e.Seq, e.Payload, nil
		}
		l, replaced := it.log.currentAndNext()
		more := l.Notify(it.key) // before the read, so that no append falls between
		got, err := l.Read(it.key, it.at, segReadBytes)
		var corrupt *seglog.CorruptError
		switch {
		case err == nil && len(got) > 0:
			it.buf = got
			continue
		case err == nil: // at the end: wait for the next append
		case errors.Is(err, seglog.ErrTrimmed):
			it.at = l.Info(it.key).First
			continue
		case errors.As(err, &corrupt) && corrupt.Next > it.at:
			it.s.logger.Error("shard log: entries lost with a corrupt segment are skipped",
				"shard", it.key, "from", it.at, "to", corrupt.Next-1, "error", err)
			it.at = corrupt.Next
			continue
		case errors.Is(err, seglog.ErrClosed):
			if it.s.isClosed() {
				return 0, nil, ErrStoreClosed
			}
			more = replaced // reopening: read from the next log
		default:
			return 0, nil, fmt.Errorf("shard log %s: read: %w", it.key, err)
		}
		select {
		case <-more:
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-it.stopped:
			return 0, nil, ErrStoreClosed
		}
	}
}

func (it *segIter) stop() { it.once.Do(func() { close(it.stopped) }) }
