// Package destinationtest is the conformance suite every object store
// behind a destination passes: what a put writes is what a reader gets,
// a second put to the same key replaces the object whole, metadata
// round-trips where the store keeps it, and a cancelled context is honoured.
package destinationtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hydrant-dev/hydrant/destinations"
)

// Getter reads back an object the way a user of the store would.
type Getter func(ctx context.Context, key string) (body []byte, meta destinations.ObjectMeta, err error)

// Options say what a store keeps.
type Options struct {
	KeepsMeta bool // Content-Type and Content-Encoding round-trip
}

// TestObjectStore runs the conformance suite against store.
func TestObjectStore(t *testing.T, store destinations.ObjectStore, get Getter, opts Options) {
	ctx := context.Background()
	t.Run("put then get", func(t *testing.T) {
		body := []byte("{\"a\":1}\n{\"b\":2}\n")
		meta := destinations.ObjectMeta{ContentType: "application/x-ndjson", ContentEncoding: "gzip"}
		if err := store.Put(ctx, "conformance/2026/11/25/13/d-shardId-000000000000-00000000000001048576.jsonl", body, meta); err != nil {
			t.Fatal(err)
		}
		got, gotMeta, err := get(ctx, "conformance/2026/11/25/13/d-shardId-000000000000-00000000000001048576.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("read %q, want %q", got, body)
		}
		if opts.KeepsMeta && gotMeta != meta {
			t.Fatalf("meta = %+v, want %+v", gotMeta, meta)
		}
	})
	t.Run("a second put replaces the object", func(t *testing.T) {
		key := "conformance/replace.jsonl"
		if err := store.Put(ctx, key, bytes.Repeat([]byte("old\n"), 1000), destinations.ObjectMeta{}); err != nil {
			t.Fatal(err)
		}
		if err := store.Put(ctx, key, []byte("new\n"), destinations.ObjectMeta{}); err != nil {
			t.Fatal(err)
		}
		got, _, err := get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "new\n" {
			t.Fatalf("after the second put the object holds %d bytes, want the 4 of the second", len(got))
		}
	})
	t.Run("the store keeps no reference to the body", func(t *testing.T) {
		body := []byte("original\n")
		if err := store.Put(ctx, "conformance/alias.jsonl", body, destinations.ObjectMeta{}); err != nil {
			t.Fatal(err)
		}
		copy(body, "XXXXXXXX")
		got, _, err := get(ctx, "conformance/alias.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "original\n" {
			t.Fatalf("object changed with the caller's buffer: %q", got)
		}
	})
	t.Run("a cancelled context fails the put", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := store.Put(cctx, "conformance/cancelled.jsonl", []byte("x\n"), destinations.ObjectMeta{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

// DeliveredLines returns the lines of every file under root, keyed by path,
// skipping the temporary files of writes in progress.
func DeliveredLines(t testing.TB, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".tmp") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return nil // renamed or replaced while walking
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			out[path] = append(out[path], sc.Text())
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		return nil
	})
	return out
}

// CountLines returns the number of lines in m.
func CountLines(m map[string][]string) int {
	n := 0
	for _, l := range m {
		n += len(l)
	}
	return n
}
