package seglog

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a fake clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testFile counts the writes and syncs of the files the log writes, and
// fails them on demand.
type testFile struct {
	*os.File
	fs *testFS
}

type testFS struct {
	writes, syncs atomic.Int64
	// failWrite and failSync, when set, decide whether a write or sync of
	// the file named fails, and with what.
	failWrite, failSync atomic.Pointer[func(name string) error]
	// onSync runs before each sync of a segment.
	onSync atomic.Pointer[func()]
}

func (fs *testFS) wrap(f *os.File) file { return &testFile{File: f, fs: fs} }

func (f *testFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.writes.Add(1)
	if fail := f.fs.failWrite.Load(); fail != nil {
		if err := (*fail)(f.Name()); err != nil {
			n, _ := f.File.WriteAt(p[:len(p)/2], off) // a short write, as a full disk leaves
			return n, err
		}
	}
	return f.File.WriteAt(p, off)
}

func (f *testFile) Sync() error {
	f.fs.syncs.Add(1)
	if hook := f.fs.onSync.Load(); hook != nil && isSegment(f.Name()) {
		(*hook)()
	}
	if fail := f.fs.failSync.Load(); fail != nil {
		if err := (*fail)(f.Name()); err != nil {
			return err
		}
	}
	return f.File.Sync()
}

// isSegment reports whether the file the log opened as name is a segment
// (it keeps the name it was created under, NNN.seg.tmp).
func isSegment(name string) bool { return strings.Contains(filepath.Base(name), ".seg") }

func (fs *testFS) setFailWrite(fn func(name string) error) { fs.failWrite.Store(&fn) }
func (fs *testFS) setFailSync(fn func(name string) error)  { fs.failSync.Store(&fn) }

// testOptions returns options for a log in dir with small segments, the
// fake clock c and files through fs.
func testOptions(dir string, c *clock, fs *testFS) Options {
	return Options{Dir: dir, SegmentBytes: 1024, SyncInterval: time.Hour, Now: c.Now, wrapFile: fs.wrap}
}

func mustOpen(t testing.TB, o Options) *Log {
	t.Helper()
	l, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func mustClose(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// payload returns the payload the tests append as entry seq of key.
func payload(key string, seq uint64, size int) []byte {
	p := fmt.Appendf(nil, "%s#%d:", key, seq)
	for len(p) < size {
		p = append(p, byte('a'+len(p)%26))
	}
	return p
}

func mustAppend(t testing.TB, l *Log, key string, e Entry) uint64 {
	t.Helper()
	seq, err := l.Append(context.Background(), key, e)
	if err != nil {
		t.Fatalf("Append(%q): %v", key, err)
	}
	return seq
}

// appendN appends n entries to key, of payload(key, seq, size) and 2
// records each, and checks their sequences follow from want.
func appendN(t testing.TB, l *Log, key string, want uint64, n, size int) {
	t.Helper()
	for i := range n {
		seq := mustAppend(t, l, key, Entry{Records: 2, Payload: payload(key, want+uint64(i), size)})
		if seq != want+uint64(i) {
			t.Fatalf("Append(%q) = %d, want %d", key, seq, want+uint64(i))
		}
	}
}

// readAll reads every kept entry of key, from from on.
func readAll(t testing.TB, l *Log, key string, from uint64) []Stored {
	t.Helper()
	var all []Stored
	for {
		got, err := l.Read(key, from, 4096)
		if err != nil {
			t.Fatalf("Read(%q, %d): %v", key, from, err)
		}
		if len(got) == 0 {
			return all
		}
		all = append(all, got...)
		from = got[len(got)-1].Seq + 1
	}
}

// checkEntries checks that got are entries first..last of key as appendN
// made them, each of size bytes and 2 records.
func checkEntries(t testing.TB, key string, got []Stored, first, last uint64, size int) {
	t.Helper()
	if want := int(last - first + 1); len(got) != want {
		t.Fatalf("%q: %d entries, want %d (%d..%d)", key, len(got), want, first, last)
	}
	for i, e := range got {
		seq := first + uint64(i)
		if e.Seq != seq || string(e.Payload) != string(payload(key, seq, size)) || e.Records != 2 || e.Total != 2*seq {
			t.Fatalf("%q entry %d: seq %d, records %d, total %d, payload %.20q", key, seq, e.Seq, e.Records, e.Total, e.Payload)
		}
	}
}

// segFiles returns the segment numbers in dir.
func segFiles(t testing.TB, dir string, ext string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// copyDir copies the regular files of src into a new directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "LOCK" {
			continue
		}
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// onDisk returns what dir and its files occupy on disk, read here rather
// than by the log, and how many files it holds.
func onDisk(t testing.TB, dir string) (bytes int64, files int) {
	t.Helper()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	bytes = DiskBytes(fi)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		bytes += DiskBytes(fi)
	}
	return bytes, len(entries)
}

func mustDiskUsage(t testing.TB, l *Log) int64 {
	t.Helper()
	n, err := l.DiskUsage()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
