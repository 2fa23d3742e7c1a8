package shards

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
)

// mountSmallDisk mounts a tmpfs of size bytes and unmounts it when the test
// ends; it skips the test when not root, since only root may mount.
func mountSmallDisk(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs (mount -t tmpfs); CI runs as root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the filesystem has at most leave
// bytes free (0: until it is full), and returns its path.
func fillDisk(t *testing.T, dir string, leave int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for {
		free, err := diskFree(dir)
		if err != nil {
			t.Fatal(err)
		}
		if free <= leave {
			return path
		}
		if _, err := f.Write(make([]byte, min(1<<20, max(4<<10, free-leave)))); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill the disk: %v", err)
			}
			return path
		}
	}
}

// A disk filled by another file makes puts fail at once with ErrUnavailable
// (never acknowledged, never a 30 s hang) and the store not Writable; once
// the space is freed the store takes puts again by itself, and every record
// it acknowledged is in the log. With the default reserve the store sees
// the disk filling before a write fails; with none, a write fails, is
// undone, and puts are refused until the store finds room again. (Before:
// puts hung 30 s, then failed for good.)
func TestDiskFullRecovers(t *testing.T) {
	for _, tc := range []struct {
		name        string
		minFreeDisk int64
		leave       int64 // bytes left free
	}{
		{"under the reserve", 0, 4 << 20},
		{"write fails", -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := mountSmallDisk(t, 64<<20)
			s, err := Open(ctx, StoreConfig{DataDir: dir, SyncAlways: true, MinFreeDisk: tc.minFreeDisk, UsageInterval: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			st, err := s.CreateStream(ctx, StreamSpec{Name: "logs", Shards: 1, Limits: Limits{BytesPerSecond: 1 << 30, RecordsPerSecond: 1 << 20}})
			if err != nil {
				t.Fatal(err)
			}
			var acked []Sequence
			n := 0
			put := func() (time.Duration, error) {
				n++
				start := time.Now()
				res := st.Put(ctx, time.Now(), []Record{{PartitionKey: "k", Data: fmt.Appendf(nil, "record %d %s", n, bytes.Repeat([]byte("x"), 4<<10))}})
				if res[0].Err == nil {
					acked = append(acked, res[0].Sequence)
				}
				return time.Since(start), res[0].Err
			}
			for range 10 {
				if _, err := put(); err != nil {
					t.Fatal(err)
				}
			}

			filler := fillDisk(t, dir, tc.leave)
			await.Cond(t, 10*time.Second, "the store to see its disk full", func() bool {
				took, err := put()
				if took > 5*time.Second {
					t.Fatalf("a put on a full disk took %v", took)
				}
				if err != nil && !errors.Is(err, ErrUnavailable) {
					t.Fatalf("a put on a full disk failed with %v, want ErrUnavailable", err)
				}
				return !s.Writable()
			})
			for range 20 {
				took, err := put()
				if !errors.Is(err, ErrUnavailable) || took > 100*time.Millisecond {
					t.Fatalf("a put while the disk is full: %v after %v, want ErrUnavailable at once", err, took)
				}
			}

			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			await.Cond(t, 30*time.Second, "the store to take puts again", func() bool {
				_, err := put()
				if err != nil && !errors.Is(err, ErrUnavailable) {
					t.Fatalf("a put after the disk was freed failed with %v", err)
				}
				return err == nil && s.Writable()
			})
			for range 10 {
				if _, err := put(); err != nil {
					t.Fatalf("a put after recovery: %v", err)
				}
			}

			r, err := s.OpenReader(ctx, "logs", 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			// The log may also hold a record whose put was refused (stored
			// while the answer was lost): its client retries it. It must
			// hold every acknowledged one.
			missing := make(map[Sequence]bool)
			for _, seq := range acked {
				missing[seq] = true
			}
			read := 0
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			for len(missing) > 0 {
				recs, err := r.Next(rctx)
				if err != nil {
					t.Fatalf("read back: %v (%d records read, %d of %d acknowledged ones missing: %v)",
						err, read, len(missing), len(acked), slices.Sorted(maps.Keys(missing)))
				}
				for _, rec := range recs {
					delete(missing, rec.Sequence)
				}
				read += len(recs)
			}
			t.Logf("%d records acknowledged and read back among %d read", len(acked), read)
		})
	}
}
