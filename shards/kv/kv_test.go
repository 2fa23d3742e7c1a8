package kv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(crashChild(path)) // a child of TestCrashKeepsAcknowledgedWrites
	}
	goleak.VerifyTestMain(m)
}

func openTemp(t testing.TB, opts Options) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "kv.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func bucket(t testing.TB, db *DB, name string) *Bucket {
	t.Helper()
	b, err := db.Bucket(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// step is one operation of TestOperations and what it must answer.
type step struct {
	op      string // get, put, create, update, delete
	key     string
	value   string // written; or, for get, expected
	last    uint64 // for update
	wantRev uint64 // for writes and get
	wantErr error
}

func TestOperations(t *testing.T) {
	ctx := context.Background()
	long := strings.Repeat("k", MaxKeyLen+1)
	cases := map[string][]step{
		"get absent": {
			{op: "get", key: "a", wantErr: ErrKeyNotFound},
		},
		"put then get": {
			{op: "put", key: "a", value: "1", wantRev: 1},
			{op: "get", key: "a", value: "1", wantRev: 1},
		},
		"put overwrites": {
			{op: "put", key: "a", value: "1", wantRev: 1},
			{op: "put", key: "a", value: "2", wantRev: 2},
			{op: "get", key: "a", value: "2", wantRev: 2},
		},
		"empty value": {
			{op: "put", key: "a", value: "", wantRev: 1},
			{op: "get", key: "a", value: "", wantRev: 1},
		},
		"revisions count across keys": {
			{op: "put", key: "a", value: "1", wantRev: 1},
			{op: "create", key: "b", value: "1", wantRev: 2},
			{op: "update", key: "a", value: "2", last: 1, wantRev: 3},
			{op: "get", key: "b", value: "1", wantRev: 2},
		},
		"create absent": {
			{op: "create", key: "a", value: "1", wantRev: 1},
			{op: "get", key: "a", value: "1", wantRev: 1},
		},
		"create present fails and keeps the value": {
			{op: "put", key: "a", value: "1", wantRev: 1},
			{op: "create", key: "a", value: "2", wantErr: ErrKeyExists},
			{op: "get", key: "a", value: "1", wantRev: 1},
		},
		"update at the current revision": {
			{op: "put", key: "a", value: "1", wantRev: 1},
			{op: "update", key: "a", value: "2", last: 1, wantRev: 2},
			{op: "update", key: "a", value: "3", last: 2, wantRev: 3},
			{op: "get", key: "a", value: "3", wantRev: 3},
		},
		"update at a stale revision fails and changes nothing": {
			{op: "put", key: "a", value: "1", wantRev: 1},
			{op: "put", key: "a", value: "2", wantRev: 2},
			{op: "update", key: "a", value: "3", last: 1, wantErr: ErrRevisionMismatch},
			{op: "get", key: "a", value: "2", wantRev: 2},
		},
		"update at another key's revision fails": {
			{op: "put", key: "a", value: "1", wantRev: 1},
			{op: "put", key: "b", value: "1", wantRev: 2},
			{op: "update", key: "a", value: "2", last: 2, wantErr: ErrRevisionMismatch},
			{op: "get", key: "a", value: "1", wantRev: 1},
		},
		"update of an absent key fails, at 0 too": {
			{op: "update", key: "a", value: "1", last: 0, wantErr: ErrRevisionMismatch},
			{op: "update", key: "a", value: "1", last: 1, wantErr: ErrRevisionMismatch},
			{op: "get", key: "a", wantErr: ErrKeyNotFound},
		},
		"delete": {
			{op: "put", key: "a", value: "1", wantRev: 1},
			{op: "delete", key: "a"},
			{op: "get", key: "a", wantErr: ErrKeyNotFound},
			{op: "delete", key: "a", wantErr: ErrKeyNotFound},
		},
		"delete absent": {
			{op: "delete", key: "a", wantErr: ErrKeyNotFound},
		},
		"update after delete fails": {
			{op: "put", key: "a", value: "1", wantRev: 1},
			{op: "delete", key: "a"},
			{op: "update", key: "a", value: "2", last: 1, wantErr: ErrRevisionMismatch},
			{op: "get", key: "a", wantErr: ErrKeyNotFound},
		},
		"create after delete gets a larger revision": {
			{op: "put", key: "a", value: "1", wantRev: 1},
			{op: "put", key: "b", value: "1", wantRev: 2},
			{op: "delete", key: "b"},
			{op: "delete", key: "a"},
			{op: "create", key: "a", value: "2", wantRev: 3},
			{op: "get", key: "a", value: "2", wantRev: 3},
		},
		"invalid keys": {
			{op: "put", key: "", value: "1", wantErr: ErrInvalidKey},
			{op: "create", key: long, value: "1", wantErr: ErrInvalidKey},
			{op: "update", key: "", value: "1", wantErr: ErrInvalidKey},
			{op: "get", key: "", wantErr: ErrInvalidKey},
			{op: "delete", key: long, wantErr: ErrInvalidKey},
			{op: "put", key: strings.Repeat("k", MaxKeyLen), value: "1", wantRev: 1},
		},
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			b := bucket(t, openTemp(t, Options{NoSync: true}), "b")
			for i, s := range steps {
				var rev uint64
				var err error
				switch s.op {
				case "get":
					var e Entry
					e, err = b.Get(ctx, s.key)
					if err == nil && (string(e.Value) != s.value || e.Key != s.key) {
						t.Fatalf("step %d: get %q = %q, %q; want %q", i, s.key, e.Key, e.Value, s.value)
					}
					rev = e.Revision
				case "put":
					rev, err = b.Put(ctx, s.key, []byte(s.value))
				case "create":
					rev, err = b.Create(ctx, s.key, []byte(s.value))
				case "update":
					rev, err = b.Update(ctx, s.key, []byte(s.value), s.last)
				case "delete":
					err = b.Delete(ctx, s.key)
				default:
					t.Fatalf("step %d: unknown op %q", i, s.op)
				}
				if !errors.Is(err, s.wantErr) || (err != nil) != (s.wantErr != nil) {
					t.Fatalf("step %d: %s %q: error %v, want %v", i, s.op, s.key, err, s.wantErr)
				}
				if rev != s.wantRev {
					t.Fatalf("step %d: %s %q: revision %d, want %d", i, s.op, s.key, rev, s.wantRev)
				}
			}
		})
	}
}

func TestConflictErrors(t *testing.T) {
	for _, err := range []error{ErrKeyExists, ErrRevisionMismatch} {
		if !errors.Is(err, ErrConflict) {
			t.Errorf("%v is not ErrConflict", err)
		}
	}
	if errors.Is(ErrKeyExists, ErrRevisionMismatch) || errors.Is(ErrRevisionMismatch, ErrKeyExists) {
		t.Error("ErrKeyExists and ErrRevisionMismatch must be told apart")
	}
}

func TestKeysAndList(t *testing.T) {
	ctx := context.Background()
	b := bucket(t, openTemp(t, Options{NoSync: true}), "b")
	other := bucket(t, b.db, "other")
	// Written out of order; "a.1" deleted.
	for _, k := range []string{"b.2", "a.2", "b.10", "a.1", "ab", "b.1", "c"} {
		if _, err := b.Put(ctx, k, []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete(ctx, "a.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Put(ctx, "a.3", []byte("elsewhere")); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		prefix string
		want   []string
	}{
		"all":            {"", []string{"a.2", "ab", "b.1", "b.10", "b.2", "c"}},
		"prefix":         {"b.", []string{"b.1", "b.10", "b.2"}},
		"prefix is key":  {"b.1", []string{"b.1", "b.10"}},
		"shorter prefix": {"a", []string{"a.2", "ab"}},
		"none":           {"d", nil},
		"past the end":   {"zz", nil},
		"deleted only":   {"a.1", nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			keys, err := b.Keys(ctx, c.prefix)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(keys, c.want) {
				t.Errorf("Keys(%q) = %q, want %q", c.prefix, keys, c.want)
			}
			entries, err := b.List(ctx, c.prefix)
			if err != nil {
				t.Fatal(err)
			}
			var listed []string
			for _, e := range entries {
				listed = append(listed, e.Key)
				got, err := b.Get(ctx, e.Key)
				if err != nil {
					t.Fatal(err)
				}
				if string(e.Value) != "v"+e.Key || e.Revision != got.Revision {
					t.Errorf("List(%q) has %q = %q at %d, want %q at %d", c.prefix, e.Key, e.Value, e.Revision, "v"+e.Key, got.Revision)
				}
			}
			if !slices.Equal(listed, c.want) {
				t.Errorf("List(%q) keys = %q, want %q", c.prefix, listed, c.want)
			}
		})
	}
}

func TestBucketsAreSeparate(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t, Options{NoSync: true})
	a, b := bucket(t, db, "a"), bucket(t, db, "b")
	if rev, err := a.Put(ctx, "k", []byte("in a")); err != nil || rev != 1 {
		t.Fatalf("put in a: %d, %v", rev, err)
	}
	if rev, err := a.Put(ctx, "k", []byte("in a again")); err != nil || rev != 2 {
		t.Fatalf("put in a: %d, %v", rev, err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("get from b: %v, want ErrKeyNotFound", err)
	}
	if rev, err := b.Create(ctx, "k", []byte("in b")); err != nil || rev != 1 {
		t.Fatalf("create in b: %d, %v (each bucket counts its own revisions)", rev, err)
	}
	again := bucket(t, db, "a") // an existing bucket, not a new one
	if e, err := again.Get(ctx, "k"); err != nil || string(e.Value) != "in a again" {
		t.Fatalf("get from a: %q, %v", e.Value, err)
	}
	if _, err := db.Bucket(""); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("bucket named \"\": %v, want ErrInvalidKey", err)
	}
}

func TestReopenKeepsEverythingAndRevisionsGoOn(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kv.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]Entry{"cps": {}, "meta": {}}
	var maxRev uint64
	for name := range want {
		b := bucket(t, db, name)
		for i := range 20 {
			k := fmt.Sprintf("%s.%02d", name, i)
			rev, err := b.Put(ctx, k, []byte(strconv.Itoa(i)))
			if err != nil {
				t.Fatal(err)
			}
			want[name][k] = Entry{Key: k, Value: []byte(strconv.Itoa(i)), Revision: rev}
			if name == "cps" {
				maxRev = max(maxRev, rev)
			}
		}
	}
	// The newest key of cps deleted: its revision is the largest given and
	// must not be given again.
	if err := bucket(t, db, "cps").Delete(ctx, "cps.19"); err != nil {
		t.Fatal(err)
	}
	delete(want["cps"], "cps.19")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for name, entries := range want {
		got, err := bucket(t, db, name).List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(entries) {
			t.Errorf("bucket %s has %d keys after reopen, want %d", name, len(got), len(entries))
		}
		for _, e := range got {
			w := entries[e.Key]
			if !bytes.Equal(e.Value, w.Value) || e.Revision != w.Revision {
				t.Errorf("bucket %s key %s after reopen: %q at %d, want %q at %d", name, e.Key, e.Value, e.Revision, w.Value, w.Revision)
			}
		}
	}
	rev, err := bucket(t, db, "cps").Create(ctx, "cps.19", []byte("again"))
	if err != nil {
		t.Fatal(err)
	}
	if rev <= maxRev {
		t.Errorf("create after delete and reopen got revision %d, want more than %d", rev, maxRev)
	}
	if size, err := db.Size(); err != nil || size <= 0 {
		t.Errorf("Size() = %d, %v", size, err)
	}
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
}

func TestSecondOpenFailsNamingThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const timeout = 200 * time.Millisecond
	start := time.Now()
	second, err := Open(path, Options{LockTimeout: timeout})
	took := time.Since(start)
	if err == nil {
		second.Close()
		t.Fatal("second Open of an open file succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Errorf("second Open: %v; want ErrLocked naming %s", err, path)
	}
	if took > timeout+2*time.Second {
		t.Errorf("second Open took %s with a lock timeout of %s", took, timeout)
	}
	// Once the first is closed the file opens.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	third, err := Open(path, Options{LockTimeout: timeout})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	third.Close()
}

func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	b, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err }); err != nil {
		t.Fatal(err)
	}
	b.Close()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("x"), 1<<14), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		path string
		opts Options
	}{
		"another program's bbolt file": {foreign, Options{}},
		"not a bbolt file":             {garbage, Options{}},
		"missing directory":            {filepath.Join(dir, "none", "kv.db"), Options{}},
		"negative lock timeout":        {filepath.Join(dir, "kv.db"), Options{LockTimeout: -time.Second}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			db, err := Open(c.path, c.opts)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), c.path) {
				t.Errorf("error %q does not name %s", err, c.path)
			}
		})
	}
}

func TestValuesAreCopies(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kv.db")
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	b := bucket(t, db, "b")
	// Enough for the bucket to have pages of its own: bbolt copies a small
	// bucket kept inline in its parent out of the map when it is unaligned.
	for i := range 100 {
		if _, err := b.Put(ctx, fmt.Sprintf("filler%03d", i), bytes.Repeat([]byte{'f'}, 100)); err != nil {
			t.Fatal(err)
		}
	}
	in := []byte("value")
	if _, err := b.Put(ctx, "k", in); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X' // the caller's slice is not kept
	got, err := b.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	got.Value[0] = 'Y' // nor is a returned one shared
	again, err := b.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Value) != "value" {
		t.Fatalf("stored value changed to %q through a caller's slice", again.Value)
	}
	listed, err := b.List(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// The file is unmapped now: a slice into the map would fault here.
	if string(again.Value) != "value" || string(listed[0].Value) != "value" || listed[0].Key != "k" {
		t.Fatalf("after Close: %q, %q %q", again.Value, listed[0].Key, listed[0].Value)
	}
}

func TestContextStopsWritesBeforeTheyStart(t *testing.T) {
	b := bucket(t, openTemp(t, Options{NoSync: true}), "b")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	writes := map[string]func(ctx context.Context) error{
		"put":    func(ctx context.Context) error { _, err := b.Put(ctx, "k", []byte("v")); return err },
		"create": func(ctx context.Context) error { _, err := b.Create(ctx, "k", []byte("v")); return err },
		"update": func(ctx context.Context) error { _, err := b.Update(ctx, "k", []byte("v"), 1); return err },
		"delete": func(ctx context.Context) error { return b.Delete(ctx, "k") },
		"get":    func(ctx context.Context) error { _, err := b.Get(ctx, "k"); return err },
		"keys":   func(ctx context.Context) error { _, err := b.Keys(ctx, ""); return err },
	}
	for name, write := range writes {
		t.Run(name+" with a done context", func(t *testing.T) {
			if err := write(canceled); !errors.Is(err, context.Canceled) {
				t.Fatalf("%s: %v, want context.Canceled", name, err)
			}
		})
	}
	if _, err := b.Get(context.Background(), "k"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("a canceled write wrote: %v", err)
	}

	t.Run("waiting for another write", func(t *testing.T) {
		b.db.writer <- struct{}{} // a write in progress
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() { _, err := b.Put(ctx, "k", []byte("v")); res <- err }()
		cancel()
		var err error
		timedOut := false
		select {
		case err = <-res:
		case <-time.After(10 * time.Second):
			timedOut = true
		}
		<-b.db.writer
		if timedOut {
			<-res
			t.Fatal("a write waiting for another did not give up when its context was canceled")
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("put: %v, want context.Canceled", err)
		}
	})
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t, Options{NoSync: true})
	b := bucket(t, db, "b")
	if _, err := b.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ops := map[string]func() error{
		"get":    func() error { _, err := b.Get(ctx, "k"); return err },
		"put":    func() error { _, err := b.Put(ctx, "k", nil); return err },
		"update": func() error { _, err := b.Update(ctx, "k", nil, 1); return err },
		"delete": func() error { return b.Delete(ctx, "k") },
		"list":   func() error { _, err := b.List(ctx, ""); return err },
		"bucket": func() error { _, err := db.Bucket("c"); return err },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
