package shards

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hydrant-dev/hydrant/shards/kv"
	"github.com/hydrant-dev/hydrant/shards/seglog"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

// Data directories of earlier versions hold the embedded JetStream's store
// in DataDir/jetstream. Open carries it over to the segment log once: every
// shard's messages with their sequences and times (so checkpoints and
// iterators stay valid), the checkpoint and catalog buckets. The new log is
// built in DataDir/log.migrating and renamed to DataDir/log when complete,
// so a crash during the migration leaves the old store as it was and the
// next start migrates again. The old store is then renamed to
// DataDir/jetstream.migrated, kept for a downgrade until the operator
// removes it.
const (
	jetstreamDir    = "jetstream"
	migratingSuffix = ".migrating"
	migratedSuffix  = ".migrated"
)

// migrateJetStream carries DataDir/jetstream over to the segment log in dir
// when dir does not exist yet.
func (s *Store) migrateJetStream(ctx context.Context, dir string, aead cipher.AEAD) error {
	old := filepath.Join(s.cfg.DataDir, jetstreamDir)
	if _, err := os.Stat(dir); err == nil {
		return s.retireJetStream(old) // migrated; a crash may have come before the rename
	}
	if entries, err := os.ReadDir(old); err != nil || len(entries) == 0 {
		return nil // a new data directory
	}
	start := time.Now()
	s.logger.Warn("shard log: carrying the embedded JetStream store of an earlier version over to the segment log; this runs once, and needs as much free disk as the store holds",
		"from", old, "to", dir)
	tmp := dir + migratingSuffix
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("shard log: migrate: %w", err)
	}
	n, err := s.copyJetStream(ctx, tmp, aead)
	if err != nil {
		return fmt.Errorf("shard log: migrate the JetStream store in %s (nothing changed; fix the cause and start again): %w", old, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("shard log: migrate: %w", err)
	}
	if err := seglog.SyncDir(s.cfg.DataDir); err != nil {
		return fmt.Errorf("shard log: migrate: %w", err)
	}
	s.logger.Warn("shard log: JetStream store carried over", "shards", n.shards, "messages", n.msgs, "took", time.Since(start).Round(time.Millisecond))
	return s.retireJetStream(old)
}

// retireJetStream renames a migrated JetStream store out of the way.
func (s *Store) retireJetStream(old string) error {
	if _, err := os.Stat(old); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.Rename(old, old+migratedSuffix); err != nil {
		return fmt.Errorf("shard log: migrate: %w", err)
	}
	s.logger.Warn("shard log: the old JetStream store is kept for a downgrade; remove it once this version runs well", "path", old+migratedSuffix)
	return seglog.SyncDir(s.cfg.DataDir)
}

type migrated struct{ shards, msgs int }

// copyJetStream starts the old store's embedded JetStream and copies it
// into a new embedded log in dir.
func (s *Store) copyJetStream(ctx context.Context, dir string, aead cipher.AEAD) (migrated, error) {
	srv, nc, err := startOldJetStream(s.cfg, s.maxPayload)
	if err != nil {
		return migrated{}, err
	}
	defer func() {
		nc.Close()
		srv.Shutdown()
		srv.WaitForShutdown()
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return migrated{}, err
	}
	l, err := seglog.Open(seglog.Options{Dir: filepath.Join(dir, segmentsDir), AEAD: aead, Logger: s.logger})
	if err != nil {
		return migrated{}, err
	}
	db, err := kv.Open(filepath.Join(dir, dbFile), kv.Options{Logger: s.logger})
	if err != nil {
		l.Close()
		return migrated{}, err
	}
	n, err := copyStreams(ctx, js, l, db)
	if err == nil {
		err = copyBuckets(ctx, js, db, aead)
	}
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = seglog.SyncDir(dir)
	}
	return n, err
}

// copyStreams copies every shard's stream, several shards at once.
func copyStreams(ctx context.Context, js jetstream.JetStream, l *seglog.Log, db *kv.DB) (migrated, error) {
	streams, err := db.Bucket(streamsBucket)
	if err != nil {
		return migrated{}, err
	}
	var shards []*jetstream.StreamInfo
	lister := js.ListStreams(ctx)
	for info := range lister.Info() {
		md := info.Config.Metadata
		if md["hydrant_stream"] == "" {
			continue // a bucket's
		}
		shards = append(shards, info)
		if md["hydrant_shard"] != "0" {
			continue
		}
		count, err := strconv.Atoi(md["hydrant_shards"])
		if err != nil {
			return migrated{}, fmt.Errorf("stream %s: shard count %q", info.Config.Name, md["hydrant_shards"])
		}
		v := fmt.Appendf(nil, `{"shards":%d,"created":%q}`, count, info.Created.UTC().Format(time.RFC3339Nano))
		if _, err := streams.Put(ctx, md["hydrant_stream"], v); err != nil {
			return migrated{}, err
		}
	}
	if err := lister.Err(); err != nil {
		return migrated{}, fmt.Errorf("list the streams: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	msgs := make([]int, len(shards))
	for i, info := range shards {
		g.Go(func() (err error) {
			msgs[i], err = copyShard(gctx, js, l, info)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return migrated{}, err
	}
	n := migrated{shards: len(shards)}
	for _, m := range msgs {
		n.msgs += m
	}
	return n, nil
}

// copyShard copies one shard's messages, keeping their sequences: a
// trimmed prefix stays trimmed, and the shard's next sequence is the
// stream's.
func copyShard(ctx context.Context, js jetstream.JetStream, l *seglog.Log, info *jetstream.StreamInfo) (int, error) {
	md := info.Config.Metadata
	shard, err := strconv.Atoi(md["hydrant_shard"])
	if err != nil {
		return 0, fmt.Errorf("stream %s: shard %q", info.Config.Name, md["hydrant_shard"])
	}
	key := segKey(md["hydrant_stream"], shard)
	st := info.State
	first := st.FirstSeq
	if st.Msgs == 0 {
		first = st.LastSeq + 1
	}
	if first > 1 {
		if err := l.Trim(key, first); err != nil {
			return 0, err
		}
	}
	if st.Msgs == 0 {
		return 0, nil
	}
	str, err := js.Stream(ctx, info.Config.Name)
	if err != nil {
		return 0, err
	}
	n := 0
	for seq := st.FirstSeq; seq <= st.LastSeq; seq++ {
		m, err := str.GetMsg(ctx, seq)
		if err != nil {
			return n, fmt.Errorf("stream %s message %d: %w (a message missing inside a stream cannot be carried over with its sequences)", info.Config.Name, seq, err)
		}
		recs, err := batchCount(m.Data)
		if err != nil {
			recs = 0 // a corrupt message is carried over as it is: readers skip it
		}
		got, err := l.Append(ctx, key, seglog.Entry{Time: m.Time.UnixNano(), Records: uint32(recs), Payload: m.Data})
		if err != nil {
			return n, err
		}
		if got != seq {
			return n, fmt.Errorf("stream %s: message %d was stored as %d", info.Config.Name, seq, got)
		}
		n++
	}
	return n, nil
}

// copyBuckets copies the checkpoint and catalog buckets.
func copyBuckets(ctx context.Context, js jetstream.JetStream, db *kv.DB, aead cipher.AEAD) error {
	for _, name := range []string{checkpointBucket, metaBucket} {
		src, err := js.KeyValue(ctx, name)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("bucket %s: %w", name, err)
		}
		b, err := db.Bucket(name)
		if err != nil {
			return err
		}
		dst := newKVBucket(b, aead)
		keys, err := src.ListKeys(ctx)
		if err != nil {
			return fmt.Errorf("bucket %s: %w", name, err)
		}
		for key := range keys.Keys() {
			e, err := src.Get(ctx, key)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("bucket %s key %s: %w", name, key, err)
			}
			if _, err := dst.Put(ctx, key, e.Value()); err != nil {
				return fmt.Errorf("bucket %s key %s: %w", name, key, err)
			}
		}
	}
	return nil
}

// startOldJetStream starts the embedded JetStream of earlier versions on
// cfg.DataDir/jetstream, listening on no port, and connects to it.
func startOldJetStream(cfg StoreConfig, maxPayload int) (*server.Server, *nats.Conn, error) {
	srv, err := server.NewServer(&server.Options{
		ServerName:         "hydrant",
		DontListen:         true,
		JetStream:          true,
		StoreDir:           filepath.Join(cfg.DataDir, jetstreamDir),
		MaxPayload:         int32(maxPayload),
		NoSigs:             true,
		NoLog:              true,
		JetStreamMaxMemory: 64 << 20,
		JetStreamKey:       cfg.EncryptionKey,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("configure the embedded JetStream: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, nil, errors.New("the embedded JetStream did not start within 30s")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv), nats.Name("hydrant migration"))
	if err != nil {
		srv.Shutdown()
		return nil, nil, fmt.Errorf("connect in-process: %w", err)
	}
	return srv, nc, nil
}
