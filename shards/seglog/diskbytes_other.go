//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package seglog

import "io/fs"

// DiskBytes returns the bytes fi occupies on disk where the system does not
// say how many blocks a file has: its size rounded up to whole 4 KiB
// blocks.
func DiskBytes(fi fs.FileInfo) int64 { return roundBlock(fi.Size()) }
