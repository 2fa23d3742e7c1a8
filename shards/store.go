package shards

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hydrant-dev/hydrant/internal/natsurl"
	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hydrant-dev/hydrant/shards/kv"
	"github.com/hydrant-dev/hydrant/shards/seglog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StoreConfig configures the shard log.
type StoreConfig struct {
	// DataDir holds the embedded log (DataDir/log: the segment log and the
	// bbolt store of checkpoints and catalog).
	DataDir string
	// SyncAlways makes the embedded log write every batch to disk (fsync)
	// before acknowledging it; concurrent puts of every shard share one
	// fsync. Without it the log fsyncs every SyncInterval. A cluster's
	// servers sync as their config says.
	SyncAlways   bool
	SyncInterval time.Duration
	// MaxRecordSize is the largest record a put may carry; the embedded
	// log's entries are sized so that one such record always fits, and a
	// cluster whose servers' limit is lower is refused.
	MaxRecordSize int
	// EncryptionKey, when set, encrypts the embedded log at rest: record
	// payloads and the buckets' values with AES-256-GCM under a key derived
	// from this one (HKDF-SHA256). Not with NATS: a cluster's servers
	// encrypt as they are configured to.
	EncryptionKey string
	// DiskBudget bounds what the log occupies on disk (its files' blocks;
	// one copy's worth on a cluster): at it, puts are refused with
	// ErrDiskBudget until trimming makes room. 0: no budget (the free
	// disk, MinFreeDisk, still bounds the embedded log; the account's
	// limits a cluster).
	DiskBudget int64
	// UsageInterval is how often the log's size is read for the budget,
	// and the embedded log's health checked; default 1 s.
	UsageInterval time.Duration
	// MinFreeDisk is the free space on the embedded log's filesystem below
	// which puts are refused with ErrUnavailable; 0: two of the largest
	// messages; negative: none (a full disk then fails a write, which
	// refuses the records it held; later writes succeed once there is
	// room).
	MinFreeDisk int64
	// Metrics counts throttled records, per shard (nil: not counted).
	Metrics *metrics.Store
	Logger  *slog.Logger
	// Now is the clock stamped on stored records as their arrival time.
	Now func() time.Time
	// NATS, when set, puts the log on an external NATS JetStream cluster
	// instead of the embedded server (nil: embedded, in DataDir). Several
	// Hydrant nodes may then share the log.
	NATS *NATSConfig
}

// Store is the durable shard log: every shard's record batches in the node's
// own segment log (the embedded default) or in a JetStream stream per shard
// on a NATS cluster, plus the checkpoint and catalog buckets.
type Store struct {
	cfg  StoreConfig
	log  logBackend
	nc   *nats.Conn // on a cluster
	js   jetstream.JetStream
	cps  bucket
	meta bucket
	// lineages holds each stream's lineage (streamRecord), by name.
	lineages bucket
	logger   *slog.Logger
	// maxPayload is the largest message the server takes; readers must be
	// able to pull at least one such message.
	maxPayload int
	// targetBytes is the size at which an appender stops coalescing puts
	// into one message: targetMessageBytes, or less when the servers'
	// max_payload is smaller.
	targetBytes int
	// replicas is the copies of each stream and bucket (1 when embedded).
	replicas int
	// drops signals the connection's drops to publishes in flight.
	drops *connDrops
	// seg and db are the embedded log's (nil on a cluster): the segment
	// log of every shard, opened with segOpts, and the bbolt store of the
	// buckets.
	seg     *segRef
	segOpts seglog.Options
	db      *kv.DB

	budget    *diskBudget
	health    *health
	stopUsage chan struct{}
	usageDone chan struct{}

	mu      sync.Mutex
	streams map[string]*Stream
	// open is len(streams), for puts to read without the lock.
	open   atomic.Int32
	nodes  atomic.Int32 // nodes sharing the quotas, see SetNodes
	closed bool
}

// targetMessageBytes is the size at which an appender stops coalescing puts
// into one record-batch message.
const targetMessageBytes = 1 << 20

const checkpointBucket = "hydrant-checkpoints"

// Open opens the shard log: with cfg.NATS nil the segment log in
// cfg.DataDir (carrying over a data directory of the embedded JetStream of
// earlier versions); with cfg.NATS set it connects to that cluster.
func Open(ctx context.Context, cfg StoreConfig) (*Store, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxRecordSize <= 0 {
		cfg.MaxRecordSize = 1000 << 10
	}
	if cfg.UsageInterval <= 0 {
		cfg.UsageInterval = time.Second
	}
	s := &Store{cfg: cfg, logger: cfg.Logger, streams: make(map[string]*Stream),
		budget: &diskBudget{limit: cfg.DiskBudget}, health: newHealth(), replicas: 1, targetBytes: targetMessageBytes, drops: newConnDrops()}
	s.nodes.Store(1)
	var at, where string // where the log is, for the log line
	if cfg.NATS == nil {
		if err := s.openEmbedded(ctx); err != nil {
			s.Close()
			return nil, err
		}
		at, where = "dir", filepath.Join(cfg.DataDir, logDir)
	} else {
		if err := s.openNATS(ctx); err != nil {
			s.Close()
			return nil, err
		}
		at, where = "nats", natsurl.Redact(cfg.NATS.URL)
	}
	if err := s.refreshUsage(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.stopUsage, s.usageDone = make(chan struct{}), make(chan struct{})
	go s.watchUsage(cfg.UsageInterval, s.stopUsage, s.usageDone)
	used, budget := s.DiskUsage()
	s.logger.Info("shard log open", at, where, "replicas", s.replicas, "sync_always", cfg.SyncAlways && cfg.NATS == nil,
		"bytes", used, "disk_budget", budget)
	return s, nil
}

// openNATS connects to the NATS cluster of cfg.NATS and opens the buckets
// there.
func (s *Store) openNATS(ctx context.Context) error {
	if err := s.connect(*s.cfg.NATS); err != nil {
		return err
	}
	js, err := jetstream.New(s.nc)
	if err != nil {
		return fmt.Errorf("shard log: %w", err)
	}
	s.js, s.log = js, jsBackend{s}
	for _, b := range []struct {
		name, desc string
		to         *bucket
	}{
		{checkpointBucket, "hydrant delivery checkpoints: last delivered sequence per delivery and shard", &s.cps},
		{metaBucket, "hydrant catalog: streams and deliveries created through the APIs", &s.meta},
		{streamsBucket, "hydrant streams: each stream's shards, open and closed", &s.lineages},
	} {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      b.name,
			Description: b.desc,
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    s.replicas,
		})
		if err != nil {
			return fmt.Errorf("shard log: cannot open the buckets on NATS at %s: %w", natsurl.Redact(s.cfg.NATS.URL), err)
		}
		*b.to = jsBucket{kv}
	}
	return nil
}

// Close stops the appenders, then the connection and the embedded server
// (a cluster's servers are not its to stop). Appends that were acknowledged
// are stored; Close is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	streams := s.streams
	s.mu.Unlock()
	if s.stopUsage != nil {
		close(s.stopUsage)
		<-s.usageDone
	}
	for _, st := range streams {
		st.closeAppenders()
	}
	var err error
	if s.nc != nil {
		s.nc.Close()
	}
	if s.seg != nil {
		err = s.seg.current().Close()
	}
	if s.db != nil {
		if cerr := s.db.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("shard log: close: %w", err)
	}
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// StreamSpec describes a stream to create.
type StreamSpec struct {
	Name      string
	Shards    int
	Retention time.Duration
	Limits    Limits
	// DiskBudget bounds the bytes this stream's shards may hold, so that
	// one stream nobody delivers cannot fill the log's budget and throttle
	// every other stream. 0: its fair share (the budget divided by the open
	// streams) once the log holds half its budget (none without a budget).
	DiskBudget int64
	// Capacity is a new stream's capacity mode (Provisioned, the default,
	// or OnDemand); an existing stream keeps its own (see SetCapacity).
	Capacity string
	// Existing opens only a stream some node created (its lineage is
	// stored), creating nothing, or fails with ErrStreamNotFound: a node
	// opening what another node created cannot create it again after
	// that node deleted it.
	Existing bool
}

// Stream is one stream's shards: its lineage, the routing of hash keys to
// its open shards, their quotas and appenders.
type Stream struct {
	store   *Store
	spec    StreamSpec
	created time.Time
	// lineage is every shard the stream has had; a reshard replaces it.
	lineage atomic.Pointer[Lineage]
	// mu is held shared by puts while they route and append, and alone by
	// a reshard while it closes shards and opens their children, so that
	// no put lands in a child before its parent's last one is stored.
	// route, quotas, appenders and throttled change under it; the last
	// three are indexed by shard ID, nil for a closed shard.
	mu        sync.RWMutex
	route     *routing
	quotas    []*Quota
	appenders []*appender
	// throttled counts refused records per shard, by reason (nil: not
	// counted).
	throttled []*throttleCounters
	// resharding is held through a reshard, and while a refresh adopts
	// another node's lineage; reshardBusy is set through a reshard, so
	// that a second is refused rather than queued.
	resharding  sync.Mutex
	reshardBusy atomic.Bool
	updating    atomic.Bool
	rev         uint64 // the revision of the stream's record; under resharding
	changedMu   sync.Mutex
	changed     chan struct{} // closed when the lineage changes

	budget *diskBudget
	// own counts the stream's bytes; what bounds them is ownLimit.
	own    *diskBudget
	open   *atomic.Int32 // the store's count of open streams
	health *health       // the store's: puts fail at once while it is down
}

// throttleCounters are one shard's counters of refused records.
type throttleCounters struct{ quota, budget prometheus.Counter }

// CreateStream creates (or opens) the logs of spec's shards and starts
// their appenders. A stream created before keeps its lineage, whatever
// spec.Shards says (see Stream.Configured and UpdateShardCount). Creating
// an open stream again with the same shard count is a no-op.
func (s *Store) CreateStream(ctx context.Context, spec StreamSpec) (*Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("shard log: store is closed")
	}
	if st, ok := s.streams[spec.Name]; ok {
		if n := st.Configured(); n != spec.Shards {
			return nil, fmt.Errorf("stream %q: already open with %d shards configured", spec.Name, n)
		}
		return st, nil
	}
	if spec.Limits == (Limits{}) {
		spec.Limits = DefaultLimits
	}
	created, lin, rev, err := s.openRecord(ctx, spec)
	if err != nil {
		return nil, err
	}
	var open []int
	for _, sh := range lin.Open() {
		open = append(open, sh.ID)
	}
	if !spec.Existing {
		if err := s.log.createShards(ctx, spec.Name, open); err != nil {
			return nil, err
		}
	}
	st := &Stream{store: s, spec: spec, budget: s.budget, own: &diskBudget{}, open: &s.open, health: s.health,
		created: created, rev: rev, changed: make(chan struct{})}
	st.install(lin)
	s.streams[spec.Name] = st
	s.open.Store(int32(len(s.streams)))
	s.logger.Info("stream open", "stream", spec.Name, "shards", len(open), "closed_shards", len(lin.Shards)-len(open))
	return st, nil
}

// install makes l the stream's lineage: it starts the appenders and quotas
// of its open shards and stops those of the shards it closed. st.mu is
// held (or st is not shared yet).
func (st *Stream) install(l *Lineage) {
	s := st.store
	for len(st.appenders) < len(l.Shards) {
		st.appenders = append(st.appenders, nil)
		st.quotas = append(st.quotas, nil)
		st.throttled = append(st.throttled, nil)
	}
	share := st.spec.Limits.share(int(s.nodes.Load()))
	for _, sh := range l.Shards {
		switch a := st.appenders[sh.ID]; {
		case sh.IsOpen() && a == nil:
			name, pub := s.log.publisher(st.spec.Name, sh.ID)
			a := newAppender(s, name, pub)
			a.own = st.own
			st.appenders[sh.ID], st.quotas[sh.ID] = a, NewQuota(share)
			if m := s.cfg.Metrics; m != nil {
				shard := strconv.Itoa(sh.ID)
				st.throttled[sh.ID] = &throttleCounters{
					quota:  m.ThrottledRecords.WithLabelValues(st.spec.Name, shard, metrics.ReasonQuota),
					budget: m.ThrottledRecords.WithLabelValues(st.spec.Name, shard, metrics.ReasonDiskBudget),
				}
			}
		case !sh.IsOpen() && a != nil:
			a.close()
			st.appenders[sh.ID], st.quotas[sh.ID] = nil, nil
		}
	}
	st.route = newRouting(l)
	st.lineage.Store(l)
	st.changedMu.Lock()
	close(st.changed)
	st.changed = make(chan struct{})
	st.changedMu.Unlock()
}

// Stream returns an open stream by name.
func (s *Store) Stream(name string) (*Stream, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.streams[name]
	return st, ok
}

// Name returns the stream's name.
func (st *Stream) Name() string { return st.spec.Name }

// Created returns when the stream was first created.
func (st *Stream) Created() time.Time { return st.created }

// Shards returns the number of shards the stream has had, open and closed:
// their IDs are 0…Shards()−1.
func (st *Stream) Shards() int { return len(st.lineage.Load().Shards) }

// Lineage returns the stream's shards as they are now; the value is not
// changed afterwards.
func (st *Stream) Lineage() *Lineage { return st.lineage.Load() }

// OpenShards returns the number of shards that take records.
func (st *Stream) OpenShards() int { return len(st.lineage.Load().Open()) }

// Configured returns the shard count the stream's definition last asked
// for.
func (st *Stream) Configured() int { return st.lineage.Load().Configured }

// Updating reports whether a reshard is under way (Kinesis' UPDATING).
func (st *Stream) Updating() bool { return st.updating.Load() }

// Changed returns a channel closed when the lineage next changes.
func (st *Stream) Changed() <-chan struct{} {
	st.changedMu.Lock()
	defer st.changedMu.Unlock()
	return st.changed
}

// Quota returns the write quota of shard i: this node's share of the
// stream's limits (see SetNodes); nil when the shard is closed.
func (st *Stream) Quota(i int) *Quota {
	st.mu.RLock()
	defer st.mu.RUnlock()
	if i < 0 || i >= len(st.quotas) {
		return nil
	}
	return st.quotas[i]
}

// Append stores recs on shard i, in order, and returns their sequences once
// the log has them (on disk before the ack when the store syncs always).
// Concurrent appends to one shard are coalesced into one message. ctx
// bounds only the wait for the shard's appender to take the records; once
// taken, Append returns when they are stored or have failed, and never
// while the appender may still read recs, so the caller may reuse their
// memory. On error, seqs holds the sequences of the records that were stored — a
// prefix of recs — and the rest were not. A closed shard refuses them
// (ErrShardClosed).
func (st *Stream) Append(ctx context.Context, shard int, recs []Record) (seqs []Sequence, err error) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.appendLocked(ctx, shard, recs)
}

func (st *Stream) appendLocked(ctx context.Context, shard int, recs []Record) (seqs []Sequence, err error) {
	if shard < 0 || shard >= len(st.appenders) || st.appenders[shard] == nil {
		return nil, fmt.Errorf("stream %s shard %s: %w", st.spec.Name, ShardID(shard), ErrShardClosed)
	}
	return st.appenders[shard].append(ctx, recs)
}

// ErrShardClosed is the error of an append to a shard a reshard closed:
// put the records again, they go to its children.
var ErrShardClosed = errors.New("shard is closed")

// jsStreamName is the JetStream stream of one shard. Stream names may
// contain '.', which JetStream forbids, so names are escaped reversibly:
// '_' becomes "__" and '.' becomes "_d".
func jsStreamName(stream string, shard int) string {
	return "hydrant-" + escapeName(stream) + "-" + strconv.Itoa(shard)
}

func jsSubject(stream string, shard int) string {
	return "hydrant." + escapeName(stream) + "." + strconv.Itoa(shard)
}

func escapeName(name string) string {
	if !strings.ContainsAny(name, "_.") {
		return name
	}
	return strings.NewReplacer("_", "__", ".", "_d").Replace(name)
}

// ShardInfo describes what one shard's log holds.
type ShardInfo struct {
	Messages uint64 // record-batch messages
	Bytes    uint64
	First    Sequence // first record kept; 0 when empty
	LastMsg  uint64   // sequence of the last message; 0 when empty
}

// ShardInfo returns what shard i of stream holds now.
func (s *Store) ShardInfo(ctx context.Context, stream string, shard int) (ShardInfo, error) {
	l, err := s.log.openShard(ctx, stream, shard)
	if err != nil {
		return ShardInfo{}, fmt.Errorf("stream %q shard %d: %w", stream, shard, err)
	}
	st := l.state()
	info := ShardInfo{Messages: st.Msgs, Bytes: st.Bytes, LastMsg: st.Last}
	if st.Msgs > 0 {
		info.First = MakeSequence(st.First, 0)
	}
	return info, nil
}
