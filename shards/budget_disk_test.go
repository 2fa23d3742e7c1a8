package shards

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/shards/seglog"
)

// The disk budget bounds what the log occupies on disk — its files'
// allocated blocks, indexes and store included — not only the records'
// bytes, however large the puts are against it and however many producers
// put at once: producers put until refused, the usage is read from the
// disk, and they put again, three times over. The log's directory then
// occupies at most the budget plus 2% (a check racing another may let one
// put through), and at least three quarters of it (it stops about a put
// short). On the old main the budget was checked before a put and the put
// counted once stored, without its framing, index and blocks: the
// directory reached 5.9% over an 8 MiB budget with one producer of
// 500 KiB puts, 12-24% with four, 11% over 16 MiB with four, 3.7% with
// two producers of 8 KiB puts; a stream 19% over its own 2 MiB with one
// producer of 400 KiB puts, 59-78% with four. Now: -0.3%, -0.4..-6.6%,
// -0.9%, -0.1%, -0.8% and -1.2%.
func TestDiskBudgetBoundsDisk(t *testing.T) {
	const tolerance = 0.02
	for _, tc := range []struct {
		name       string
		budget     int64 // storage.disk_budget
		own        int64 // the stream's disk_budget (0: none)
		producers  int
		recs, size int // per put, bytes per record
	}{
		{"log 8MiB, 1 producer of 500 KiB puts", 8 << 20, 0, 1, 500, 1 << 10},
		{"log 8MiB, 4 producers of 500 KiB puts", 8 << 20, 0, 4, 500, 1 << 10},
		{"log 16MiB, 4 producers of 500 KiB puts", 16 << 20, 0, 4, 500, 1 << 10},
		{"log 8MiB, 2 producers of 8 KiB puts", 8 << 20, 0, 2, 40, 200},
		{"stream 2MiB, 1 producer of 400 KiB puts", 8 << 20, 2 << 20, 1, 100, 4 << 10},
		{"stream 2MiB, 4 producers of 400 KiB puts", 8 << 20, 2 << 20, 4, 100, 4 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			s, err := Open(ctx, StoreConfig{DataDir: dir, SyncAlways: true, DiskBudget: tc.budget, UsageInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			st, err := s.CreateStream(ctx, StreamSpec{Name: "logs", Shards: 2, DiskBudget: tc.own,
				Limits: Limits{BytesPerSecond: 1 << 30, RecordsPerSecond: 1 << 20}})
			if err != nil {
				t.Fatal(err)
			}
			recs := make([]Record, tc.recs)
			for i := range recs {
				recs[i] = Record{PartitionKey: fmt.Sprint("k", i), Data: bytes.Repeat([]byte("x"), tc.size)}
			}
			// What is bounded: the log's directory, or the segments (one
			// stream writes them) against the stream's own budget.
			limit, bounded := tc.budget, filepath.Join(dir, logDir)
			if tc.own > 0 {
				limit, bounded = tc.own, filepath.Join(dir, logDir, segmentsDir)
			}
			var most int64
			for round := range 3 {
				var wg sync.WaitGroup
				for range tc.producers {
					wg.Go(func() {
						for i := 0; ; i++ {
							if i > 10000 {
								t.Error("10,000 puts taken")
								return
							}
							res := st.Put(ctx, time.Now(), recs)
							if err := res[0].Err; err != nil {
								if !errors.Is(err, ErrDiskBudget) {
									t.Errorf("refused with %v, want ErrDiskBudget", err)
								}
								return
							}
						}
					})
				}
				wg.Wait()
				onDisk := diskBytesUnder(t, bounded)
				most = max(most, onDisk)
				used, _ := s.DiskUsage()
				own, _ := s.StreamDiskUsage("logs")
				t.Logf("round %d: %d bytes on disk, %+.1f%% of %d; counted: log %d, stream %d",
					round, onDisk, 100*float64(onDisk-limit)/float64(limit), limit, used, own)
				if err := s.refreshUsage(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if most > limit+int64(tolerance*float64(limit)) || most < limit*3/4 {
				t.Errorf("the log occupied up to %d bytes on disk (%+.1f%%) with a budget of %d, want %d..%d",
					most, 100*float64(most-limit)/float64(limit), limit, limit*3/4, limit+int64(tolerance*float64(limit)))
			}
		})
	}
}

// diskBytesUnder returns what dir and everything under it occupy on disk.
func diskBytesUnder(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += seglog.DiskBytes(fi)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
