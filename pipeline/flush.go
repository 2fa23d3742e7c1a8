package pipeline

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
)

// flushDue flushes every buffer whose size, interval or schedule says so.
func (l *shardLoop) flushDue(ctx context.Context) error {
	now := l.d.now()
	for id, b := range l.buffers {
		reason, due := b.Due(now)
		if !due {
			continue
		}
		if err := l.flushBuffer(ctx, b, reason); err != nil {
			return err
		}
		if id != "" {
			delete(l.buffers, id) // partitions come and go; keep only live ones
			l.d.partitions.Add(-1)
		}
	}
	return nil
}

// flushBuffer takes b's records as a batch flushed for reason and delivers
// it. Once the batch is done its records no longer count as pending, and
// then it is counted by result: a scrape that sees the batch done sees the
// freshness without it.
func (l *shardLoop) flushBuffer(ctx context.Context, b *buffer.Buffer, reason buffer.FlushReason) error {
	result, err := l.flush(ctx, l.take(b, reason))
	if err != nil {
		return err
	}
	l.resetPending()
	l.d.m.batches[result].Inc()
	return nil
}

func (l *shardLoop) take(b *buffer.Buffer, reason buffer.FlushReason) *buffer.Batch {
	batch := b.Take(reason)
	l.d.buffered.Add(-int64(len(batch.Records)))
	l.d.memory.Add(-batch.Bytes)
	l.d.m.bufferBytes.Sub(float64(batch.Bytes))
	if c, ok := l.d.m.flushes[reason]; ok {
		c.Inc()
	}
	return batch
}

// flush delivers one batch; when the destination gives up, the batch goes
// to the error output. It returns an error only when neither succeeded, and
// then the checkpoint must not move.
func (l *shardLoop) flush(ctx context.Context, b *buffer.Batch) (batchResult, error) {
	start := time.Now()
	err := l.d.cfg.Destination.Deliver(ctx, b)
	took := time.Since(start)
	var recErrs *destinations.RecordErrors
	if errors.As(err, &recErrs) {
		l.d.m.duration.Observe(took.Seconds())
		l.countDelivered(b, recErrs.Failed)
		if err := l.writeRecordErrors(ctx, b, recErrs); err != nil {
			return 0, err
		}
		if len(recErrs.Failed) < len(b.Records) {
			return batchPartial, nil
		}
		return batchFailed, nil
	}
	if err == nil {
		l.d.m.duration.Observe(took.Seconds())
		l.countDelivered(b, nil)
		l.d.logger.Debug("flushed", "shard", l.shardID, "reason", b.Reason, "records", len(b.Records),
			"bytes", b.Bytes, "took", took)
		return batchOK, nil
	}
	if ctx.Err() != nil {
		return 0, ctx.Err() // cut short: the batch is read again, and counted then
	}
	l.d.m.duration.Observe(took.Seconds())
	attempts := 1
	var re *destinations.RetryError
	if errors.As(err, &re) {
		attempts = re.Attempts
	}
	l.d.logger.Error("delivery failed; writing batch to the error output", "shard", l.shardID,
		"records", len(b.Records), "attempts", attempts, "error", err)
	now := l.d.now()
	l.d.stats.failed(now, err.Error())
	l.d.stats.flushed(now, 0)
	failed := make([]destinations.ErrorRecord, len(b.Records))
	for i, r := range b.Records {
		failed[i] = destinations.ErrorRecord{Record: r, AttemptsMade: attempts, ErrorCode: "DeliveryFailed",
			ErrorMessage: err.Error(), AttemptEnding: now}
	}
	if err := l.writeErrors(ctx, destinations.ErrorTypeDeliveryFailed, failed); err != nil {
		return 0, err
	}
	return batchFailed, nil
}

// countDelivered counts the records of b the destination took: all but
// failed.
func (l *shardLoop) countDelivered(b *buffer.Batch, failed map[int]error) {
	bytes := b.Bytes
	for i := range failed {
		bytes -= len(b.Records[i].Data)
	}
	l.d.m.delivered.Add(float64(len(b.Records) - len(failed)))
	l.d.m.deliveredBytes.Add(float64(bytes))
	l.d.stats.flushed(l.d.now(), len(b.Records)-len(failed))
	if len(failed) > 0 {
		l.d.stats.failed(l.d.now(), fmt.Sprintf("%d of %d records not delivered", len(failed), len(b.Records)))
	}
}

// writeRecordErrors sends the records a destination could not take (while
// it stored the rest) to the error output.
func (l *shardLoop) writeRecordErrors(ctx context.Context, b *buffer.Batch, re *destinations.RecordErrors) error {
	now := l.d.now()
	idx := slices.Sorted(maps.Keys(re.Failed))
	failed := make([]destinations.ErrorRecord, 0, len(idx))
	for _, i := range idx {
		er := destinations.ErrorRecord{Record: b.Records[i], AttemptsMade: 1, ErrorCode: re.Code,
			ErrorMessage: re.Failed[i].Error(), AttemptEnding: now}
		var de *destinations.DocumentError
		if errors.As(re.Failed[i], &de) {
			er.ErrorCode, er.AttemptsMade, er.IndexName, er.DocumentID = de.Code, max(de.Attempts, 1), de.Index, de.DocumentID
		}
		failed = append(failed, er)
	}
	return l.writeErrors(ctx, re.Type, failed)
}

// writeErrors stores failed records, retrying until it succeeds or ctx
// ends: records are never dropped, and while the error output is down the
// shard waits.
func (l *shardLoop) writeErrors(ctx context.Context, typ string, recs []destinations.ErrorRecord) error {
	// The object is named by the batch name: a replay's failures are new
	// error objects beside the first run's, which a redrive may have done.
	eb := &destinations.ErrorBatch{Delivery: l.d.cfg.Name, Batch: l.d.cfg.BatchName, ShardID: l.shardID, Type: typ, Records: recs}
	backoff := destinations.Backoff{Initial: l.d.cfg.Retry.InitialBackoff, Max: l.d.cfg.Retry.MaxBackoff}
	for attempt := 1; ; attempt++ {
		err := l.d.cfg.Errors.WriteErrors(ctx, eb)
		if err == nil {
			l.d.m.errorOutput.WithLabelValues(typ).Add(float64(len(recs)))
			l.d.stats.erroredOut(len(recs))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := backoff.Delay(attempt, err)
		l.d.logger.Error("error output failed; the shard waits and retries", "shard", l.shardID,
			"type", typ, "records", len(recs), "attempt", attempt, "wait", wait, "error", err)
		if err := destinations.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// relieveMemory flushes the loop's largest buffers, reason memory, while
// all deliveries' buffers together hold more than the process allows.
func (l *shardLoop) relieveMemory(ctx context.Context) error {
	for l.d.memory.Over() {
		var (
			largest *buffer.Buffer
			id      string
		)
		for bid, b := range l.buffers {
			if b.Bytes() > 0 && (largest == nil || b.Bytes() > largest.Bytes()) {
				largest, id = b, bid
			}
		}
		if largest == nil {
			return nil // this shard holds nothing: the others flush theirs
		}
		if err := l.flushBuffer(ctx, largest, buffer.FlushMemory); err != nil {
			return err
		}
		if id != "" {
			delete(l.buffers, id) // as flushDue: partitions come and go
			l.d.partitions.Add(-1)
		}
	}
	return nil
}
