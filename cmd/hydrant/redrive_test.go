package main

import (
	"io"
	"testing"
	"time"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		in   string
		want time.Time
		ok   bool
	}{
		"empty is no bound": {"", time.Time{}, true},
		"RFC 3339":          {"2026-12-01T00:00:00Z", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), true},
		"duration ago":      {"90m", now.Add(-90 * time.Minute), true},
		"negative duration": {"-1h", time.Time{}, false},
		"a date alone":      {"2026-12-01", time.Time{}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseWhen(tc.in, now)
			if (err == nil) != tc.ok || !got.Equal(tc.want) {
				t.Fatalf("parseWhen(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestRedriveCmdUsage(t *testing.T) {
	tests := map[string][]string{
		"no delivery":    {},
		"two deliveries": {"a", "b"},
		"bad -from":      {"orders", "-from", "yesterday"},
		"bad -output":    {"orders", "-output", "yaml"},
		"unknown flag":   {"orders", "-since", "1h"},
		"flags then two": {"-type", "processing-failed", "a", "b"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			if code := redriveCmd(args, io.Discard, io.Discard); code != 2 {
				t.Fatalf("redrive %q: exit %d, want 2", args, code)
			}
		})
	}
	if code := redriveCmd([]string{"-h"}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("redrive -h: exit %d, want 0", code)
	}
}
