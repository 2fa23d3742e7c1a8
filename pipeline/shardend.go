package pipeline

import (
	"context"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/shards"
)

// noteClosed takes in that the lineage has closed the loop's shard: from
// then on no record is added to it, and its last message is known.
func (l *shardLoop) noteClosed() {
	if l.closed || l.state.closing.Err() == nil {
		return
	}
	l.closed, l.end = true, l.state.current().LastMessage
	l.d.logger.Info("shard closed by a reshard; delivering it to its end", "shard", l.shardID,
		"last_message", l.end, "read", l.lastRead.String())
}

// atEnd reports whether the loop has read everything its closed shard
// holds; got says whether the last read returned anything (records, or a
// corrupt message skipped), idle whether it waited idleWait for nothing.
//
// The reader returns what is left of a message whole, so a read that
// returned the last message means the end. A read that returned nothing
// asks the store what lies after the last record read: nothing when the
// reader stands at the end of the last message, or when retention trimmed
// the rest. When the store cannot count (messages of old versions), a wait
// of idleWait that found nothing past the last message is the end.
func (l *shardLoop) atEnd(ctx context.Context, got, idle bool) (bool, error) {
	switch {
	case !l.closed:
		return false, nil
	case l.end == 0: // closed before it held anything
		return true, nil
	case got:
		return l.lastRead.Message() >= l.end, nil
	}
	lag, err := l.d.store.Lag(ctx, l.d.cfg.Stream, l.shard, l.lastRead)
	if err != nil {
		return false, err
	}
	return lag.Records == 0 || lag.Records < 0 && idle && l.lastRead.Message() >= l.end, nil
}

// finish ends a closed shard read to its end: it flushes every buffer,
// whatever its interval, and moves the checkpoint to the shard's end, so
// that the shard's children may be read. done is false when a flush or
// the checkpoint did not succeed; the loop then fails (or, ctx ended,
// stops) and the shard's end is delivered again from the checkpoint.
func (l *shardLoop) finish(ctx context.Context) (done bool, err error) {
	flushed := 0
	for _, b := range l.buffers {
		if b.Len() == 0 {
			continue
		}
		flushed += b.Len()
		if err := l.flushBuffer(ctx, b, buffer.FlushShutdown); err != nil {
			return false, err
		}
	}
	if end := shards.LastSequence(l.end); l.checkpoint < end {
		if err := l.cpWriter.Set(ctx, end); err != nil {
			return false, err
		}
		l.checkpoint = end
	}
	l.d.logger.Info("shard delivered to its end; its children may be read", "shard", l.shardID,
		"flushed", flushed, "checkpoint", l.checkpoint.String())
	return true, nil
}
