package main

import (
	"runtime/debug"
	"testing"
)

// hydrant serve collects at GOGC 75 unless the environment says otherwise.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	if got := tuneGC(); got != "75" {
		t.Errorf("tuneGC() = %q without GOGC, want 75", got)
	}
	if prev := debug.SetGCPercent(100); prev != defaultGCPercent {
		t.Errorf("GC percent %d, want %d", prev, defaultGCPercent)
	}
	t.Setenv("GOGC", "200")
	if got := tuneGC(); got != "200" {
		t.Errorf("tuneGC() = %q with GOGC=200, want 200", got)
	}
	if prev := debug.SetGCPercent(100); prev != 100 {
		t.Errorf("GC percent %d with GOGC set, want it left alone (100)", prev)
	}
}
