package shards

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// recordsHeader is the header on every record-batch message that counts
// the records of its shard up to and including that message, so that how
// many records lie between two positions is known without reading them.
const recordsHeader = "Hydrant-Records"

// ShardLag is how far a reader of one shard (a delivery) is behind.
type ShardLag struct {
	// Records is the number of records stored after the reader's
	// checkpoint; -1 when unknown (messages written by a Hydrant that did
	// not count records yet).
	Records int64
	Oldest  time.Time // when the oldest of them was stored; zero when none
}

// Lag returns how many records of stream's shard lie after checkpoint cp,
// and when the oldest of them was stored.
func (s *Store) Lag(ctx context.Context, stream string, shard int, cp Sequence) (ShardLag, error) {
	var lag ShardLag
	js, err := s.js.Stream(ctx, jsStreamName(stream, shard))
	if err != nil {
		return lag, fmt.Errorf("lag of %s shard %d: %w", stream, shard, err)
	}
	state := js.CachedInfo().State
	if state.Msgs == 0 {
		return lag, nil
	}
	from, err := firstUndelivered(ctx, js, cp)
	if err != nil {
		return lag, fmt.Errorf("lag of %s shard %d: %w", stream, shard, err)
	}
	from = max(from, state.FirstSeq)
	if from > state.LastSeq {
		return lag, nil
	}
	last, err := js.GetMsg(ctx, state.LastSeq)
	if err != nil {
		return lag, fmt.Errorf("lag of %s shard %d: %w", stream, shard, err)
	}
	first, err := js.GetMsg(ctx, from)
	if err != nil {
		return lag, fmt.Errorf("lag of %s shard %d: %w", stream, shard, err)
	}
	lag.Oldest = first.Time
	lastTotal, err := recordsThrough(last)
	if err != nil {
		lag.Records = -1
		return lag, nil
	}
	firstTotal, err := recordsThrough(first)
	if err != nil {
		lag.Records = -1
		return lag, nil
	}
	n, err := batchCount(first.Data)
	if err != nil {
		n = 0 // a corrupt message holds no records to deliver
	}
	before := firstTotal - int64(n) // records stored before the first undelivered message
	if cp.Message() == from {       // part of that message is delivered
		before += int64(cp.Index()) + 1
	}
	lag.Records = max(lastTotal-before, 0)
	return lag, nil
}

// recordsThrough reads a message's running record count.
func recordsThrough(m *jetstream.RawStreamMsg) (int64, error) {
	v := m.Header.Get(recordsHeader)
	if v == "" {
		return 0, fmt.Errorf("shard log: message %d has no %s header (written by an older Hydrant)", m.Sequence, recordsHeader)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("shard log: message %d: %s %q: %w", m.Sequence, recordsHeader, v, err)
	}
	return n, nil
}

// lastRecordCount returns the running record count of a shard's last
// message, where its appender's count goes on from (0 for an empty shard),
// and that message's sequence, which the next message expects to follow.
func (a *appender) lastRecordCount(ctx context.Context) (count int64, last uint64, err error) {
	js, err := a.store.js.Stream(ctx, a.stream)
	if err != nil {
		return 0, 0, err
	}
	state := js.CachedInfo().State
	m, err := js.GetLastMsgForSubject(ctx, a.subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		if state.Msgs > 0 {
			// A replica behind the stream's leader answered: a publish
			// expecting its view would fail, so ask again.
			return 0, 0, fmt.Errorf("shard log %s: a replica does not have message %d yet", a.stream, state.LastSeq)
		}
		return 0, state.LastSeq, nil // empty, or trimmed to nothing
	}
	if err != nil {
		return 0, 0, err
	}
	if n, err := recordsThrough(m); err == nil {
		return n, m.Sequence, nil
	}
	// A message from before records were counted: count from its own records.
	n, err := batchCount(m.Data)
	if err != nil {
		return 0, m.Sequence, nil
	}
	return int64(n), m.Sequence, nil
}

// recordsMsg is a record-batch message with its running record count.
func recordsMsg(subject string, data []byte, total int64) *nats.Msg {
	return &nats.Msg{Subject: subject, Data: data, Header: nats.Header{recordsHeader: []string{strconv.FormatInt(total, 10)}}}
}

// RecordsTotal returns how many records stream's shard has stored since it
// was created (trimmed ones included): two readings apart in time give its
// write rate. It is -1 when unknown (the last message was written by a
// Hydrant that did not count records yet).
func (s *Store) RecordsTotal(ctx context.Context, stream string, shard int) (int64, error) {
	js, err := s.js.Stream(ctx, jsStreamName(stream, shard))
	if err != nil {
		return 0, fmt.Errorf("records of %s shard %d: %w", stream, shard, err)
	}
	m, err := js.GetLastMsgForSubject(ctx, jsSubject(stream, shard))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("records of %s shard %d: %w", stream, shard, err)
	}
	n, err := recordsThrough(m)
	if err != nil {
		return -1, nil
	}
	return n, nil
}
