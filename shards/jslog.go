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

// jsShard is a shard's log in JetStream: one stream per shard, one message
// per record batch, its running record count in a header.
type jsShard struct{ js jetstream.Stream }

// jsBackend keeps every shard's log in a JetStream stream of its own.
type jsBackend struct{ s *Store }

func (b jsBackend) openShard(ctx context.Context, stream string, shard int) (shardLog, error) {
	js, err := b.s.js.Stream(ctx, jsStreamName(stream, shard))
	if err != nil {
		return nil, err
	}
	return jsShard{js}, nil
}

func (b jsBackend) createShards(ctx context.Context, stream string, ids []int) error {
	s := b.s
	for _, i := range ids {
		_, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:        jsStreamName(stream, i),
			Description: fmt.Sprintf("hydrant stream %s shard %d", stream, i),
			Subjects:    []string{jsSubject(stream, i)},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardNew,
			Duplicates:  clusterDuplicates,
			AllowDirect: s.allowDirect(),
			Replicas:    s.replicas,
			Metadata: map[string]string{
				"hydrant_stream": stream,
				"hydrant_shard":  strconv.Itoa(i),
			},
		})
		if err != nil {
			return fmt.Errorf("stream %q shard %d: %w", stream, i, err)
		}
	}
	return nil
}

// closeShard moves the shard's stream to a subject nobody publishes to:
// from then on every node's appends to it fail (no stream answers), and
// what it holds stays readable and trimmable (a sealed stream could not be
// trimmed).
func (b jsBackend) closeShard(ctx context.Context, stream string, shard int) error {
	return b.setSubject(ctx, stream, shard, "hydrant-closed."+escapeName(stream)+"."+strconv.Itoa(shard))
}

func (b jsBackend) reopenShard(ctx context.Context, stream string, shard int) error {
	return b.setSubject(ctx, stream, shard, jsSubject(stream, shard))
}

func (b jsBackend) setSubject(ctx context.Context, stream string, shard int, subject string) error {
	js, err := b.s.js.Stream(ctx, jsStreamName(stream, shard))
	if err != nil {
		return fmt.Errorf("stream %q shard %d: %w", stream, shard, err)
	}
	cfg := js.CachedInfo().Config
	cfg.Subjects = []string{subject}
	if _, err := b.s.js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("stream %q shard %d: %w", stream, shard, err)
	}
	return nil
}

// legacyShards reads the shard count that versions before lineages wrote
// in the metadata of a stream's shard 0.
func (b jsBackend) legacyShards(ctx context.Context, stream string) (int, time.Time, error) {
	existing, err := b.s.js.Stream(ctx, jsStreamName(stream, 0))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("stream %q: %w", stream, err)
	}
	info := existing.CachedInfo()
	n, err := strconv.Atoi(info.Config.Metadata["hydrant_shards"])
	if err != nil {
		return 0, time.Time{}, nil // made by this version, its record lost with a bucket: start over
	}
	return n, info.Created.UTC(), nil
}

func (b jsBackend) deleteShards(ctx context.Context, stream string, shards int) error {
	for i := range shards {
		if err := b.s.js.DeleteStream(ctx, jsStreamName(stream, i)); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("delete stream %q shard %d: %w", stream, i, err)
		}
	}
	return nil
}

func (b jsBackend) publisher(stream string, shard int) (string, publisher) {
	name := jsStreamName(stream, shard)
	return name, newJSPublisher(b.s, name, jsSubject(stream, shard))
}

func (b jsBackend) iterate(ctx context.Context, stream string, shard int, from uint64) (msgIter, error) {
	name := jsStreamName(stream, shard)
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if from != 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	cons, err := b.s.js.OrderedConsumer(ctx, name, cfg)
	if err != nil {
		return nil, fmt.Errorf("shard log %s: open reader: %w", name, err)
	}
	iter, err := cons.Messages(jetstream.PullMaxBytes(max(readAheadBytes, 2*b.s.maxPayload)))
	if err != nil {
		return nil, fmt.Errorf("shard log %s: open reader: %w", name, err)
	}
	return jsIter{name: name, iter: iter}, nil
}

// usage reads the log's size from the account, and each stream's from one
// listing of the JetStream streams (a request per 256 of them) rather than
// a request per shard.
func (b jsBackend) usage(ctx context.Context, streams map[string]int) (logUsage, error) {
	s := b.s
	info, err := s.js.AccountInfo(ctx)
	if err != nil {
		return logUsage{}, fmt.Errorf("shard log: read disk usage: %w", err)
	}
	total := int64(info.Store) / int64(s.replicas)
	if len(streams) == 0 {
		return logUsage{total: total}, nil
	}
	byShard := make(map[string]string) // JetStream stream name → its stream
	for name, shards := range streams {
		for i := range shards {
			byShard[jsStreamName(name, i)] = name
		}
	}
	bytes := make(map[string]int64, len(streams))
	lister := s.js.ListStreams(ctx)
	for info := range lister.Info() {
		if name, ok := byShard[info.Config.Name]; ok {
			bytes[name] += int64(info.State.Bytes)
		}
	}
	if err := lister.Err(); err != nil {
		return logUsage{}, fmt.Errorf("shard log: read the streams' disk usage: %w", err)
	}
	return logUsage{total: total, streams: bytes}, nil
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
