package main

import (
	"os"
	"runtime/debug"
	"strconv"
)

// defaultGCPercent is the Go collector's GOGC for `hydrant serve` unless
// the environment sets GOGC. Under load the shard log waits on fsync, not
// on the CPU (make bench: 1.2–1.4 of 2 cores busy at full speed), while the
// heap turns over several times a second: collecting at 75% growth instead
// of Go's 100% spends some idle CPU to keep the heap nearer what is live.
// (50 kept it lower still, but cost the CPU-bound AWS API rows a tenth of
// their throughput in make bench.)
const defaultGCPercent = 75

// tuneGC sets the collector's target unless GOGC is in the environment;
// it returns the GOGC in effect.
func tuneGC() string {
	if v := os.Getenv("GOGC"); v != "" {
		return v
	}
	debug.SetGCPercent(defaultGCPercent)
	return strconv.Itoa(defaultGCPercent)
}
