package file

import (
	"context"
	"os"
	"path/filepath"
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
