package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
)

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	destinationtest.TestObjectStore(t, s, func(_ context.Context, key string) ([]byte, destinations.ObjectMeta, error) {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
		return b, destinations.ObjectMeta{}, err
	}, destinationtest.Options{})
}

func TestKeysStayInsideDir(t *testing.T) {
	dir := t.TempDir()
	s, _ := New(filepath.Join(dir, "out"))
	err := s.Put(context.Background(), "../escape.jsonl", []byte("x"), destinations.ObjectMeta{})
	if err == nil || !destinations.IsPermanent(err) {
		t.Fatalf("err = %v, want a permanent error", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "escape.jsonl")); !os.IsNotExist(err) {
		t.Fatal("a key escaped the destination directory")
	}
}

func TestNoTemporaryFilesLeft(t *testing.T) {
	dir := t.TempDir()
	s, _ := New(dir)
	for range 3 {
		if err := s.Put(context.Background(), "a/b.jsonl", []byte("x\n"), destinations.ObjectMeta{}); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "a"))
	if len(entries) != 1 || entries[0].Name() != "b.jsonl" {
		t.Fatalf("directory holds %v, want only b.jsonl", entries)
	}
}

// A path the file system can never take is a permanent error, so the batch
// goes to the error output at once instead of holding its shard for
// retry.duration; a full disk or the like stays retryable.
func TestImpossiblePathsArePermanent(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), "taken/d-shardId-000000000000-1.jsonl", []byte("x"), destinations.ObjectMeta{}); err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]string{
		"segment over 255 bytes":  strings.Repeat("p", 300) + "/d-shardId-000000000000-1.jsonl",
		"NUL in a segment":        "p\x00q/d-shardId-000000000000-1.jsonl",
		"a file as a directory":   "taken/d-shardId-000000000000-1.jsonl/d-shardId-000000000000-2.jsonl",
		"a directory as the file": "taken",
	} {
		t.Run(name, func(t *testing.T) {
			err := s.Put(context.Background(), key, []byte("x"), destinations.ObjectMeta{})
			if err == nil || !destinations.IsPermanent(err) {
				t.Fatalf("err = %v, want a permanent error", err)
			}
		})
	}
}
