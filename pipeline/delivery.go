package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/shards"
	"github.com/hydrant-dev/hydrant/transform"
)

// Config describes one delivery.
type Config struct {
	Name string // the delivery's name
	// Stream is the stream it reads: every shard of its lineage, each
	// once its parents are delivered (see Run).
	Stream string
	Buffer buffer.Config
	// Transform is optional; use transform.Chain for several.
	Transform transform.Transform
	// Destination receives batches. Wrap it with destinations.WithRetry:
	// an error from it sends the batch to Errors.
	Destination destinations.Destination
	Errors      destinations.ErrorOutput
	// Retry bounds retries of a failing transform; failed error-output
	// writes are retried with its backoff until they succeed.
	Retry destinations.RetryConfig
	// DrainTimeout bounds the final flush at shutdown (default 30s).
	DrainTimeout time.Duration
	// MaxActivePartitions bounds the partition-key sets buffered at once,
	// over all shards (default 500, as Firehose); records of a new set
	// beyond it go to the error output.
	MaxActivePartitions int
	// Start, when set, must succeed before the delivery reads its shards
	// (a destination that reaches its server at start: Postgres). Run
	// retries it with Retry's backoff until it does; meanwhile the records
	// wait in the shard log.
	Start Starter
	// StartAt is where a shard without a checkpoint is read from (zero:
	// the trim horizon, the oldest record kept).
	StartAt StartPosition
	// BatchName is the delivery name the batches carry (zero: Name),
	// which names objects and keys destinations' ledgers (the Postgres
	// load ledger, Iceberg's snapshot marks, HTTP request ids): a delivery
	// reset to replay gets a new one, so that what it delivers again is
	// not skipped as delivered already.
	BatchName string
}

// Settings are the delivery's injected dependencies.
type Settings struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Memory bounds the bytes all deliveries' buffers hold together (nil:
	// no bound); past it a shard flushes its largest buffer early.
	Memory *buffer.Memory
	// Metrics are moved by every delivery (nil: kept on a registry of
	// the delivery's own that nobody reads).
	Metrics *metrics.Delivery
	// Ownership decides which shards this node delivers (nil: Solo, all
	// of them).
	Ownership Ownership
	_         struct{}
}

// Delivery reads its stream's shards and delivers them.
type Delivery struct {
	cfg    Config
	store  *shards.Store
	logger *slog.Logger
	now    func() time.Time
	memory *buffer.Memory
	own    Ownership
	m      deliveryMetrics // this delivery's series
	stats  stats

	mu sync.Mutex
	// shards is every shard of the stream's lineage seen so far, by ID.
	shards map[int]*shardState

	buffered   atomic.Int64 // records held in buffers, all shards
	partitions atomic.Int64 // buffers of partition-key sets, all shards
}

// Buffered returns the number of records read and not yet flushed.
func (d *Delivery) Buffered() int64 { return d.buffered.Load() }

// New returns a delivery over store.
func New(cfg Config, store *shards.Store, set Settings) *Delivery {
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 30 * time.Second
	}
	if cfg.MaxActivePartitions <= 0 {
		cfg.MaxActivePartitions = 500
	}
	if set.Metrics == nil {
		set.Metrics = metrics.NewDelivery(prometheus.NewRegistry())
	}
	if set.Ownership == nil {
		set.Ownership = Solo{}
	}
	if cfg.BatchName == "" {
		cfg.BatchName = cfg.Name
	}
	d := &Delivery{cfg: cfg, store: store, logger: set.Logger.With("delivery", cfg.Name), now: set.Now, memory: set.Memory, own: set.Ownership,
		m: newDeliveryMetrics(set.Metrics, cfg.Name), shards: make(map[int]*shardState)}
	d.setConnected(cfg.Start == nil)
	return d
}

// Run delivers until ctx ends, then flushes what its buffers hold (reason
// shutdown) and returns. Work under way when ctx ends — a delivery, its
// retries, a transform — goes on to finish, for at most DrainTimeout after
// ctx ended; what does not finish is not checkpointed and is read again at
// the next start. A shard whose loop fails (its log or checkpoint store
// erring) is restarted from its checkpoint after a backoff. When Run
// returns it has closed the destination. While it runs, the delivery's
// data freshness is served from its shards' state at each scrape. With
// Config.Start, no shard is read (or leased) before it has succeeded.
//
// Run follows the stream's lineage (see shards.Lineage): it delivers every
// shard the stream has had and each one a reshard adds while it runs. A
// shard is read (and leased) only once each of its parents is closed and
// delivered to its end by this delivery, on this node or another; a
// closed shard read to its end is flushed at once, whatever the buffer
// interval, checkpointed at its end, and is done. So a partition key's
// records reach the destination in the order they were put across
// reshards.
func (d *Delivery) Run(ctx context.Context) {
	removeFreshness := d.m.freshness.Set(d.cfg.Name, d.freshness)
	defer removeFreshness()
	var st *shards.Stream
	if d.start(ctx) {
		st = d.awaitStream(ctx)
	}
	if st == nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.DrainTimeout)
		defer cancel()
		if err := d.cfg.Destination.Close(cctx); err != nil {
			d.logger.Warn("closing the destination", "error", err)
		}
		return
	}
	wctx, cancelWrites := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWrites()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		t := time.NewTimer(d.cfg.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancelWrites()
		case <-done:
		}
	}()
	var wg sync.WaitGroup
	d.follow(ctx, st, func(s *shardState) { wg.Go(func() { d.superviseShard(ctx, wctx, s) }) })
	wg.Wait()
	if err := d.cfg.Destination.Close(wctx); err != nil {
		d.logger.Warn("closing the destination", "error", err)
	}
}

// awaitStream returns the delivery's stream once the store has it open;
// nil when ctx ends first.
func (d *Delivery) awaitStream(ctx context.Context) *shards.Stream {
	backoff := destinations.Backoff{Initial: time.Second, Max: time.Minute}
	for attempt := 1; ; attempt++ {
		if st, ok := d.store.Stream(d.cfg.Stream); ok {
			return st
		}
		wait := backoff.Delay(attempt, nil)
		d.logger.Error("source stream is not open; waiting for it", "stream", d.cfg.Stream, "retry_in", wait)
		if destinations.Sleep(ctx, wait) != nil {
			return nil
		}
	}
}

// holdShard runs the shard's loop under lease and releases it when the
// loop ends; done reports that the loop delivered the shard to its end. On
// Yield the loop drains (flushes and checkpoints) as at shutdown; when the
// lease is lost, its writes are cancelled too, so nothing more is
// delivered or checkpointed, and a checkpoint write that finds the shard
// claimed by another node (shards.ErrFenced) ends it the same way. Both
// return nil: the shard is not failing, just not ours.
func (d *Delivery) holdShard(ctx, wctx context.Context, s *shardState, lease Lease) (done bool, err error) {
	shard := s.id
	rctx, stopReading := context.WithCancel(ctx)
	sctx, stopWriting := context.WithCancel(wctx)
	defer stopWriting()
	defer stopReading()
	var lost, yielded atomic.Bool
	stopWatching, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-lease.Yield():
			yielded.Store(true)
			stopReading()
		case <-lease.Lost():
			lost.Store(true)
			stopWriting()
			stopReading()
			return
		case <-stopWatching:
			return
		}
		// Handing over: the drain's writes go on, unless the lease is lost
		// meanwhile.
		select {
		case <-lease.Lost():
			lost.Store(true)
			stopWriting()
		case <-stopWatching:
		}
	}()
	done, err = d.runShard(rctx, sctx, s)
	close(stopWatching)
	<-watched // before Release, which closes Lost
	if done {
		s.finish() // its children may be read at once
		d.linger(ctx, lease)
	}
	releaseCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	lease.Release(releaseCtx)
	cancel()
	switch {
	case done:
		return true, nil // its end checkpointed: whatever befell the lease after
	case lost.Load() || errors.Is(err, shards.ErrFenced):
		d.logger.Warn("lease lost: stopped delivering the shard; its next holder reads on from the checkpoint",
			"shard", shards.ShardID(shard), "error", err)
		return false, nil
	case yielded.Load() && ctx.Err() == nil:
		d.logger.Info("shard handed over", "shard", shards.ShardID(shard))
		return false, nil
	}
	return false, err
}

// shardLoop is the state of one (delivery, shard).
type shardLoop struct {
	d          *Delivery
	state      *shardState
	shard      int
	shardID    string
	buffers    map[string]*buffer.Buffer // by canonical partition keys
	lastRead   shards.Sequence
	checkpoint shards.Sequence
	cpWriter   checkpointer // writes the shard's checkpoint
	in         []buffer.Record
	// open is the loop's ctx while the shard is open; it ends when the
	// lineage shows the shard closed, which ends a wait for records.
	open context.Context
	// closed is set once the loop has seen the shard closed; end is then
	// its last message.
	closed bool
	end    uint64
}

// runShard reads the shard until ctx ends, then drains; or, once a closed
// shard is read to its end, flushes every buffer and checkpoints its end
// (done). Everything that writes (transforms, deliveries, error output,
// checkpoints) uses wctx, which outlives ctx by the drain timeout. An error
// returns at once, without moving the checkpoint: what was read since is
// read again.
func (d *Delivery) runShard(ctx, wctx context.Context, s *shardState) (done bool, err error) {
	shard := s.id
	l := &shardLoop{d: d, state: s, shard: shard, shardID: shards.ShardID(shard), buffers: make(map[string]*buffer.Buffer)}
	cpWriter, cp, err := d.openCheckpoint(ctx, shard)
	if err != nil {
		return false, err
	}
	l.cpWriter, l.lastRead, l.checkpoint = cpWriter, cp, cp
	if fin, err := d.finished(ctx, s.current(), cp); err != nil || fin {
		return fin, err // delivered to its end meanwhile (by the lease's last holder)
	}
	open, stopOpen := context.WithCancel(ctx)
	defer stopOpen()
	defer context.AfterFunc(s.closing, stopOpen)()
	l.open = open
	l.noteClosed()
	reader, err := d.store.OpenReader(ctx, d.cfg.Stream, shard, cp)
	if err != nil {
		return false, err
	}
	defer reader.Close()
	defer func() {
		n, bytes := l.held()
		d.buffered.Add(-int64(n))
		d.memory.Add(-bytes)
		d.m.bufferBytes.Sub(float64(bytes))
		l.closePartitions()
	}()
	d.logger.Info("delivering shard", "shard", l.shardID, "after", cp.String(), "closed", l.closed)
	for {
		recs, idle, err := l.read(ctx, reader)
		if ctx.Err() != nil {
			return false, l.drain(wctx)
		}
		var corrupt *shards.CorruptMessageError
		if errors.As(err, &corrupt) {
			err = l.quarantine(wctx, corrupt)
		}
		if err != nil {
			return false, err
		}
		if len(recs) > 0 {
			if err := l.accept(wctx, recs); err != nil {
				return false, err
			}
		}
		l.noteClosed()
		atEnd, err := l.atEnd(ctx, len(recs) > 0 || corrupt != nil, idle)
		if err != nil {
			return false, err
		}
		if atEnd {
			return l.finish(wctx)
		}
		if err := l.relieveMemory(wctx); err != nil {
			return false, err
		}
		if err := l.flushDue(wctx); err != nil {
			return false, err
		}
		if err := l.advance(wctx); err != nil {
			return false, err
		}
	}
}

// quarantine writes a shard-log message that is not a record batch to the
// error output, whole, and reads on past it: one bad message never blocks
// the shard.
func (l *shardLoop) quarantine(ctx context.Context, c *shards.CorruptMessageError) error {
	l.d.logger.Error("shard log message does not decode; it goes to the error output", "shard", l.shardID,
		"message", c.Last.Message(), "error", c.Err)
	rec := destinations.ErrorRecord{Record: buffer.Record{Data: c.Data, Sequence: uint64(c.Last), Arrival: l.d.now()},
		AttemptsMade: 1, ErrorCode: "ShardLog.CorruptMessage", ErrorMessage: c.Error(), AttemptEnding: l.d.now()}
	if err := l.writeErrors(ctx, destinations.ErrorTypeProcessingFailed, []destinations.ErrorRecord{rec}); err != nil {
		return err
	}
	l.lastRead = c.Last
	return nil
}

// held returns the number of records and data bytes in the loop's buffers.
func (l *shardLoop) held() (records, bytes int) {
	for _, b := range l.buffers {
		records += b.Len()
		bytes += b.Bytes()
	}
	return records, bytes
}

// read waits for records until the earliest buffer deadline, or until the
// shard is seen closed. It waits at most idleWait, so that a reader stuck
// in the client (see shards.ErrReaderStuck) is found and reopened even when
// nothing is buffered; idle reports a wait that lasted that long.
func (l *shardLoop) read(ctx context.Context, r *shards.Reader) (recs []shards.StoredRecord, idle bool, err error) {
	deadline, idle := time.Now().Add(idleWait), true
	if d, ok := l.deadline(); ok && d.Before(deadline) {
		deadline, idle = d, false
	}
	parent := l.open
	if l.closed {
		parent = ctx // l.open has ended; a closed shard's records are all stored
	}
	waitCtx, cancel := context.WithDeadline(parent, deadline)
	defer cancel()
	recs, err = r.Next(waitCtx)
	if err != nil && !errors.Is(err, shards.ErrReaderStuck) && waitCtx.Err() != nil && ctx.Err() == nil {
		// A buffer deadline (or idleWait) passed, or the shard closed.
		return nil, idle && errors.Is(waitCtx.Err(), context.DeadlineExceeded), nil
	}
	return recs, false, err
}

// idleWait bounds one wait for records.
const idleWait = 30 * time.Second

func (l *shardLoop) deadline() (time.Time, bool) {
	var (
		earliest time.Time
		found    bool
	)
	for _, b := range l.buffers {
		if t, ok := b.Deadline(); ok && (!found || t.Before(earliest)) {
			earliest, found = t, true
		}
	}
	return earliest, found
}

// accept transforms recs and adds them to their buffers, each record an
// input yields in its order, marked with its sub-sequence; records a
// transform fails go to the error output right away. Only when all of that
// succeeded do recs count as read (and may be checkpointed).
func (l *shardLoop) accept(ctx context.Context, recs []shards.StoredRecord) error {
	l.in = l.in[:0]
	for _, r := range recs {
		l.in = append(l.in, buffer.Record{Data: r.Data, PartitionKey: r.PartitionKey, Sequence: uint64(r.Sequence), Arrival: r.Arrival})
	}
	outs, err := l.transform(ctx, l.in)
	if err != nil {
		return err
	}
	now := l.d.now()
	var (
		failed []destinations.ErrorRecord
		added  int       // data bytes buffered
		oldest time.Time // earliest arrival buffered
	)
	for i, out := range outs {
		split := len(out.More) > 0
		out.Records(func(k int, o transform.Output) bool {
			r := l.in[i]
			r.SubSequence = uint32(k)
			if o.PartitionKey != "" {
				r.PartitionKey = o.PartitionKey
			}
			switch o.Result {
			case transform.Ok:
				r.Data = o.Data
				b := l.buffer(o.PartitionKeys)
				if b == nil {
					if !split {
						r.Data = l.in[i].Data // the record as read, as for a failed transform
					}
					failed = append(failed, destinations.ErrorRecord{
						Record: r, AttemptsMade: 1, ErrorCode: "DynamicPartitioning.ActivePartitionsLimitExceeded",
						ErrorMessage:  fmt.Sprintf("more than %d partitions are active; raise max_active_partitions", l.d.cfg.MaxActivePartitions),
						AttemptEnding: now,
					})
					return true
				}
				b.Add(now, r)
				l.d.buffered.Add(1)
				l.d.memory.Add(len(r.Data))
				added += len(r.Data)
				if oldest.IsZero() || r.Arrival.Before(oldest) {
					oldest = r.Arrival
				}
			case transform.ProcessingFailed:
				if o.Data != nil {
					r.Data = o.Data // a sub-record fails as itself
				}
				failed = append(failed, destinations.ErrorRecord{
					Record: r, AttemptsMade: 1, ErrorCode: o.ErrorCode, ErrorMessage: o.ErrorMessage, AttemptEnding: now,
				})
			}
			return true
		})
	}
	l.d.m.bufferBytes.Add(float64(added))
	l.notePending(oldest)
	if len(failed) > 0 {
		if err := l.writeErrors(ctx, destinations.ErrorTypeProcessingFailed, failed); err != nil {
			return err
		}
	}
	l.lastRead = recs[len(recs)-1].Sequence
	return nil
}

// transform runs the delivery's transforms, retrying a failing invocation
// until the retry duration; after that every record is ProcessingFailed.
func (l *shardLoop) transform(ctx context.Context, recs []buffer.Record) ([]transform.Output, error) {
	if l.d.cfg.Transform == nil {
		outs := make([]transform.Output, len(recs))
		for i, r := range recs {
			outs[i] = transform.Output{Result: transform.Ok, Data: r.Data}
		}
		return outs, nil
	}
	backoff := destinations.Backoff{Initial: l.d.cfg.Retry.InitialBackoff, Max: l.d.cfg.Retry.MaxBackoff}
	start := time.Now()
	for attempt := 1; ; attempt++ {
		outs, err := l.d.cfg.Transform.Process(ctx, recs)
		if err == nil {
			return outs, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		wait := backoff.Delay(attempt, err)
		if time.Since(start)+wait > l.d.cfg.Retry.Duration {
			outs = make([]transform.Output, len(recs))
			for i := range outs {
				outs[i] = transform.Output{Result: transform.ProcessingFailed, ErrorCode: "Transform.InvocationFailed",
					ErrorMessage: fmt.Sprintf("after %d attempts: %v", attempt, err)}
			}
			return outs, nil
		}
		l.d.logger.Warn("transform failed, retrying", "shard", l.shardID, "attempt", attempt, "error", err)
		if err := destinations.Sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// buffer returns the buffer of a partition-key set, opening it if needed;
// nil when that would exceed the delivery's active partitions.
func (l *shardLoop) buffer(keys map[string]string) *buffer.Buffer {
	id := partitionID(keys)
	b, ok := l.buffers[id]
	if ok {
		return b
	}
	if id != "" {
		if l.d.partitions.Add(1) > int64(l.d.cfg.MaxActivePartitions) {
			l.d.partitions.Add(-1)
			return nil
		}
	}
	b = buffer.New(l.d.cfg.Buffer, l.d.cfg.BatchName, l.shardID, keys)
	l.buffers[id] = b
	return b
}

// closePartitions forgets the loop's partition buffers (at exit).
func (l *shardLoop) closePartitions() {
	for id := range l.buffers {
		if id != "" {
			l.d.partitions.Add(-1)
		}
	}
}

// partitionID is a canonical form of a set of partition keys.
func partitionID(keys map[string]string) string {
	if len(keys) == 0 {
		return ""
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(keys[k])
		b.WriteByte(0)
	}
	return b.String()
}

// drain flushes every buffer at shutdown, then checkpoints. When a flush
// does not finish (wctx ended), nothing is checkpointed and the records are
// read again at the next start.
func (l *shardLoop) drain(wctx context.Context) error {
	for _, b := range l.buffers {
		if b.Len() == 0 {
			continue
		}
		if err := l.flushBuffer(wctx, b, buffer.FlushShutdown); err != nil {
			l.d.logger.Warn("shutdown flush did not finish; records will be read again at the next start",
				"shard", l.shardID, "error", err)
			return nil
		}
	}
	if err := l.advance(wctx); err != nil {
		l.d.logger.Warn("shutdown checkpoint failed; records will be read again at the next start", "shard", l.shardID, "error", err)
	}
	return nil
}
