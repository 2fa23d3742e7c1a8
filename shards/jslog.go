package shards

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// jsShard is a shard's log in JetStream: one stream per shard, one message
// per record batch, its running record count in a header.
type jsShard struct{ js jetstream.Stream }

// openShard opens shard i of stream's log for one operation.
func (s *Store) openShard(ctx context.Context, stream string, shard int) (shardLog, error) {
	js, err := s.js.Stream(ctx, jsStreamName(stream, shard))
	if err != nil {
		return nil, err
	}
	return jsShard{js}, nil
}

func (l jsShard) state() logState {
	info := l.js.CachedInfo()
	st := info.State
	ls := logState{Msgs: st.Msgs, Bytes: st.Bytes, First: st.FirstSeq, Last: st.LastSeq, LastTime: st.LastTime, Created: info.Created}
	if st.Msgs == 0 {
		ls.First = st.LastSeq + 1
	}
	return ls
}

func (l jsShard) get(ctx context.Context, seq uint64) (logMsg, error) {
	m, err := l.js.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return logMsg{}, fmt.Errorf("%w: %w", errMsgNotFound, err)
	}
	if err != nil {
		return logMsg{}, err
	}
	return logMsg{Seq: m.Sequence, Time: m.Time, Data: m.Data, Total: recordsThrough(m.Header)}, nil
}

func (l jsShard) purge(ctx context.Context, before uint64) error {
	return l.js.Purge(ctx, jetstream.WithPurgeSequence(before))
}

// recordsHeader is the header on every record-batch message that counts
// the records of its shard up to and including that message, so that how
// many records lie between two positions is known without reading them.
const recordsHeader = "Hydrant-Records"

// recordsThrough reads a message's running record count: -1 when it has
// none (written by a Hydrant that did not count records yet).
func recordsThrough(h nats.Header) int64 {
	n, err := strconv.ParseInt(h.Get(recordsHeader), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// recordsMsg is a record-batch message with its running record count.
func recordsMsg(subject string, data []byte, total int64) *nats.Msg {
	return &nats.Msg{Subject: subject, Data: data, Header: nats.Header{recordsHeader: []string{strconv.FormatInt(total, 10)}}}
}
