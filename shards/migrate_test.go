package shards

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// untarFixture unpacks testdata/jetstream-store.tar.gz into a temporary
// directory: plain/ and sealed/ are data directories written by the
// embedded JetStream store of the version before the segment log (see
// testdata/jetstream-store.go.txt).
func untarFixture(t *testing.T) string {
	t.Helper()
	f, err := os.Open("testdata/jetstream-store.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return dir
		}
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(path, 0o755)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(path, b, 0o644)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

const fixtureKey = "fixture-key-0123456789"

// A data directory of the embedded JetStream store is carried over at Open:
// every kept message with its sequence (so checkpoints still point at the
// same records), the trimmed prefix trimmed, the catalog and checkpoints,
// the streams' shard counts; encrypted with the same key. It happens once:
// the old store is kept aside, and a second Open finds the segment log.
func TestMigrateJetStreamStore(t *testing.T) {
	for _, tc := range []struct{ name, key string }{{"plain", ""}, {"sealed", fixtureKey}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := filepath.Join(untarFixture(t), tc.name)
			open := func() *Store {
				t.Helper()
				s, err := Open(ctx, StoreConfig{DataDir: dir, SyncAlways: true, EncryptionKey: tc.key})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			s := open()
			for _, p := range []string{"log/segments", "log/hydrant.db", "jetstream.migrated"} {
				if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
					t.Errorf("after the migration: %v", err)
				}
			}
			for _, p := range []string{"jetstream", "log.migrating"} {
				if _, err := os.Stat(filepath.Join(dir, p)); !os.IsNotExist(err) {
					t.Errorf("after the migration %s is still there (%v)", p, err)
				}
			}
			checkMigrated(t, s)
			st, err := s.CreateStream(ctx, StreamSpec{Name: "clicks.v1", Shards: 3})
			if err != nil || st.OpenShards() != 2 || st.Configured() != 2 {
				t.Fatalf("opening clicks.v1 with 3 shards: %v, want its 2 shards kept", err)
			}
			seqs, err := st.Append(ctx, 0, []Record{{PartitionKey: "k", Data: []byte("after the migration")}})
			if err != nil || seqs[0] != MakeSequence(12, 0) {
				t.Fatalf("append after the migration: %v %v, want message 12 (11 was the last carried over)", seqs, err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			// Once: opened again, the log is the segment log as left.
			s = open()
			defer s.Close()
			checkMigrated(t, s)
			got := readAll(t, s, "clicks.v1", 0)
			if last := got[len(got)-1]; string(last.Data) != "after the migration" {
				t.Errorf("last record after reopening: %q", last.Data)
			}
		})
	}
}

// checkMigrated checks what the fixture holds (see
// testdata/jetstream-store.go.txt).
func checkMigrated(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	for shard, want := range []ShardInfo{
		{Messages: 8, First: MakeSequence(4, 0), LastMsg: 11}, // 1..3 delivered and trimmed
		{Messages: 6, First: MakeSequence(5, 0), LastMsg: 10},
	} {
		info, err := s.ShardInfo(ctx, "clicks.v1", shard)
		if err != nil {
			t.Fatal(err)
		}
		if info.First != want.First || info.LastMsg < want.LastMsg || info.Messages != want.Messages+info.LastMsg-want.LastMsg {
			t.Errorf("shard %d: %+v, want %+v", shard, info, want)
		}
		cp, err := s.Checkpoint(ctx, "archive", shard)
		if wantCP := []Sequence{MakeSequence(3, 2), MakeSequence(5, 1)}[shard]; err != nil || cp != wantCP {
			t.Errorf("shard %d checkpoint: %v %v, want %v", shard, cp, err, wantCP)
		}
		recs := readAll(t, s, "clicks.v1", shard)
		i := 0
		for m := uint64(want.First.Message()); m <= 10; m++ {
			for r := range int(m) {
				if i >= len(recs) {
					t.Fatalf("shard %d: %d records read, want message %d record %d", shard, len(recs), m, r)
				}
				if wantData := fmt.Sprintf("clicks.v1/%d/%d/%d", shard, m, r); recs[i].Sequence != MakeSequence(m, r) || string(recs[i].Data) != wantData {
					t.Fatalf("shard %d record %d: %v %q, want %v %q", shard, i, recs[i].Sequence, recs[i].Data, MakeSequence(m, r), wantData)
				}
				i++
			}
		}
		if shard == 0 && (i >= len(recs) || !strings.HasPrefix(string(recs[i].Data), "written at")) {
			t.Errorf("shard 0: the record of message 11 is missing")
		}
	}
	if info, err := s.ShardInfo(ctx, "empty", 0); err != nil || info.Messages != 0 {
		t.Errorf("stream empty: %+v %v", info, err)
	}
	meta, err := s.ListMeta(ctx, "streams/")
	if err != nil || string(meta["streams/api-made"]) != `{"name":"api-made","shards":1}` {
		t.Errorf("catalog: %q %v", meta, err)
	}
}

// A migration that a crash interrupted left DataDir/log.migrating: the
// next Open throws it away and migrates again; one that a crash stopped
// after the new log was in place but before the old store was set aside
// only sets it aside. A wrong key migrates nothing.
func TestMigrationInterrupted(t *testing.T) {
	ctx := context.Background()
	base := untarFixture(t)

	dir := filepath.Join(base, "sealed")
	if _, err := Open(ctx, StoreConfig{DataDir: dir, EncryptionKey: "another key"}); err == nil {
		t.Fatal("opened the sealed store with another key")
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		t.Fatalf("a refused open touched the old store: %v", err)
	}

	dir = filepath.Join(base, "plain")
	if err := os.MkdirAll(filepath.Join(dir, "log.migrating", "segments"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "log.migrating", "segments", "00000000000000000001.seg"), []byte("half a segment"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, StoreConfig{DataDir: dir, SyncAlways: true})
	if err != nil {
		t.Fatal(err)
	}
	checkMigrated(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// As if the crash came between the two renames.
	if err := os.Rename(filepath.Join(dir, "jetstream.migrated"), filepath.Join(dir, "jetstream")); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, StoreConfig{DataDir: dir, SyncAlways: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkMigrated(t, s)
	if _, err := os.Stat(filepath.Join(dir, "jetstream.migrated")); err != nil {
		t.Errorf("the old store was not set aside: %v", err)
	}
}
