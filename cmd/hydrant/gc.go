package main

import (
	"os"
	"runtime/debug"
)

// defaultGCPercent is the Go collector's GOGC for `hydrant serve` unless
// the environment sets GOGC. Under load the shard log waits on fsync, not
// on the CPU (make bench: 1.2–1.4 of 2 cores busy at full speed), while the
// heap turns over several times a second: collecting at 50% growth instead
// of Go's 100% spends idle CPU to keep the heap at about 1.5 times what is
// live rather than twice.
const defaultGCPercent = 50

// tuneGC sets the collector's target unless GOGC is in the environment;
// it returns the GOGC in effect.
func tuneGC() string {
	if v := os.Getenv("GOGC"); v != "" {
		return v
	}
	debug.SetGCPercent(defaultGCPercent)
	return "50"
}
