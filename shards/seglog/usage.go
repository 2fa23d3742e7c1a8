package seglog

import (
	"fmt"
	"os"
)

// blockSize is the filesystem block the running count rounds new files up
// to (the common 4 KiB); DiskUsage reads the real allocation.
const blockSize = 4 << 10

// roundBlock rounds n up to whole blocks.
func roundBlock(n int64) int64 { return (n + blockSize - 1) &^ (blockSize - 1) }

// EntryOverhead is what the log stores for an entry besides its payload:
// its frame's head and fields in the segment, and its record in the
// segment's index. A caller counting what its appends occupy before the
// log has written them adds it to each entry's payload.
const EntryOverhead = frameHead + entryFixed + IndexRecordBytes

// IndexRecordBytes is what an entry's record takes in its segment's index
// (KeyInfo.Bytes counts its frame in the segment, not this).
const IndexRecordBytes = idxRecSize

// Size returns the bytes the log's files occupy on disk, as of the last
// DiskUsage plus what the log has written and deleted since (new files
// counted in whole blocks). It costs one atomic load.
func (l *Log) Size() int64 { return l.diskBytes.Load() }

// DiskUsage reads what the log's directory occupies on disk — every file
// in it (segments, indexes, the state file, the lock, files set aside) in
// its allocated blocks, and the directory itself — and makes it the base
// of Size. It stats every file: call it on an interval, not per append.
// An error is an I/O error reading the directory; Size is then unchanged,
// and calling again later may succeed.
func (l *Log) DiskUsage() (int64, error) {
	l.usageMu.Lock()
	defer l.usageMu.Unlock()
	before := l.diskBytes.Load()
	n, err := dirDiskBytes(l.o.Dir)
	if err != nil {
		return before, fmt.Errorf("seglog: disk usage of %s: %w", l.o.Dir, err)
	}
	// What was written while the files were read may be counted twice
	// until the next call; it is never missed.
	return l.diskBytes.Add(n - before), nil
}

// dirDiskBytes returns what dir and the files directly in it occupy on
// disk. A file removed while it is read is skipped.
func dirDiskBytes(dir string) (int64, error) {
	d, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	fi, err := d.Stat()
	if err != nil {
		return 0, err
	}
	n := DiskBytes(fi)
	entries, err := d.ReadDir(-1)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		n += DiskBytes(fi)
	}
	return n, nil
}
