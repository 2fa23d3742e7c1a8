//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package seglog

import (
	"io/fs"
	"syscall"
)

// DiskBytes returns the bytes fi occupies on disk: its allocated blocks
// (st_blocks, in 512-byte units), which count the filesystem's rounding
// up to whole blocks and any space it preallocated, and leave out holes.
func DiskBytes(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return roundBlock(fi.Size())
}
