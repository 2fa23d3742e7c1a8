package shards

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With an encryption key the log's files hold no plaintext; the same key
// reads the records back, and a wrong key does not.
func TestEncryptionAtRest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func(key string) (*Store, error) {
		return Open(ctx, StoreConfig{DataDir: dir, SyncAlways: true, EncryptionKey: key})
	}
	s, err := open("the right key")
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.CreateStream(ctx, StreamSpec{Name: "sealed", Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("card=4111111111111111")
	seqs, err := st.Append(ctx, 0, []Record{{PartitionKey: "k", Data: secret}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetCheckpoint(ctx, "archive", 0, seqs[0]); err != nil {
		t.Fatal(err)
	}
	// The catalog holds API-created deliveries, with their destinations.
	catalogSecret := []byte(`{"secret_key":"hunter2-catalog"}`)
	if err := s.PutMeta(ctx, "deliveries/d", catalogSecret); err != nil {
		t.Fatal(err)
	}
	s.Close()

	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			if bytes.Contains(b, secret) {
				t.Errorf("%s holds the record in plaintext", path)
			}
			if bytes.Contains(b, []byte("hunter2-catalog")) {
				t.Errorf("%s holds the catalog in plaintext", path)
			}
		}
		return nil
	})

	s, err = open("the right key")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateStream(ctx, StreamSpec{Name: "sealed", Shards: 1}); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, s, "sealed", 0, 0, 1); !bytes.Equal(got[0].Data, secret) {
		t.Fatalf("read back %q", got[0].Data)
	}
	if m, err := s.ListMeta(ctx, "deliveries/"); err != nil || !bytes.Equal(m["deliveries/d"], catalogSecret) {
		t.Fatalf("catalog read back: %q %v", m, err)
	}
	s.Close()

	// A wrong key fails at open, saying so, and harms nothing.
	if s, err := open("a wrong key"); err == nil {
		s.Close()
		t.Fatal("the store opened with a wrong key")
	} else if !strings.Contains(err.Error(), "encryption_key") {
		t.Fatalf("wrong key: %v; want the error to point at the key", err)
	}
	// No key at all for an encrypted store fails too.
	if s, err := open(""); err == nil {
		s.Close()
		t.Fatal("the encrypted store opened without a key")
	} else if !strings.Contains(err.Error(), "encryption_key") {
		t.Fatalf("no key: %v; want the error to point at the key", err)
	}
	s, err = open("the right key")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateStream(ctx, StreamSpec{Name: "sealed", Shards: 1}); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, s, "sealed", 0, 0, 1); !bytes.Equal(got[0].Data, secret) {
		t.Fatalf("after a wrong key, read back %q", got[0].Data)
	}
	if cp, err := s.Checkpoint(ctx, "archive", 0); err != nil || cp != seqs[0] {
		t.Fatalf("after failed opens the checkpoint is %v, %v; want %v", cp, err, seqs[0])
	}
}

func TestEncryptionCannotBeTurnedOnLater(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(context.Background(), StoreConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(context.Background(), StoreConfig{DataDir: dir, EncryptionKey: "late"}); err == nil {
		s.Close()
		t.Fatal("an unencrypted store opened with a key")
	} else if !strings.Contains(err.Error(), "not encrypted") {
		t.Fatalf("err = %v", err)
	}
}
