package seglog

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// DiskBytes counts what a file occupies, not its size: a byte takes a
// whole block, a hole none.
func TestDiskBytes(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("block counts are checked on Linux; elsewhere DiskBytes may round sizes")
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name      string
		write     func(f *os.File) error
		least     int64
		most      int64
		sizeBytes int64
	}{
		{"empty", func(*os.File) error { return nil }, 0, 0, 0},
		{"one byte", func(f *os.File) error { _, err := f.Write([]byte{1}); return err }, 512, 64 << 10, 1},
		{"a 1 MiB hole", func(f *os.File) error { return f.Truncate(1 << 20) }, 0, 64 << 10, 1 << 20},
		{"100 KiB written", func(f *os.File) error { _, err := f.Write(make([]byte, 100<<10)); return err }, 100 << 10, 100<<10 + 64<<10, 100 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(dir, tc.name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := tc.write(f); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			fi, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			if got := DiskBytes(fi); fi.Size() != tc.sizeBytes || got < tc.least || got > tc.most {
				t.Errorf("DiskBytes = %d of a file of %d bytes, want %d..%d", got, fi.Size(), tc.least, tc.most)
			}
		})
	}
}
