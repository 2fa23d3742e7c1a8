package analytics

import (
	"fmt"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestWindowsOf(t *testing.T) {
	for _, tt := range []struct {
		name string
		w    Windows
		t    string
		want string
	}{
		{"tumbling, inside", Windows{Size: time.Minute}, "2026-12-05T12:00:30Z", "[2026-12-05T12:00:00Z/2026-12-05T12:01:00Z]"},
		{"tumbling, on a boundary: the window it starts", Windows{Size: time.Minute}, "2026-12-05T12:01:00Z", "[2026-12-05T12:01:00Z/2026-12-05T12:02:00Z]"},
		{"tumbling, every = size", Windows{Size: 10 * time.Second, Every: 10 * time.Second}, "2026-12-05T12:00:09.999Z", "[2026-12-05T12:00:00Z/2026-12-05T12:00:10Z]"},
		{"sliding 5m every 1m: five windows", Windows{Size: 5 * time.Minute, Every: time.Minute}, "2026-12-05T12:02:30Z",
			"[2026-12-05T11:58:00Z/2026-12-05T12:03:00Z 2026-12-05T11:59:00Z/2026-12-05T12:04:00Z 2026-12-05T12:00:00Z/2026-12-05T12:05:00Z 2026-12-05T12:01:00Z/2026-12-05T12:06:00Z 2026-12-05T12:02:00Z/2026-12-05T12:07:00Z]"},
		{"continuous: the micro-batch's second", Windows{}, "2026-12-05T12:00:00.5Z", "[2026-12-05T12:00:00Z/2026-12-05T12:00:01Z]"},
		{"before the epoch", Windows{Size: time.Minute}, "1969-12-31T23:59:30Z", "[1969-12-31T23:59:00Z/1970-01-01T00:00:00Z]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(tt.w.Of(at(tt.t))); got != tt.want {
				t.Errorf("Of(%s) = %s, want %s", tt.t, got, tt.want)
			}
		})
	}
}

// Every record is in the windows Closed reports once its time has passed
// them, each window reported once across successive watermarks.
func TestWindowsClosedCoverEachWindowOnce(t *testing.T) {
	for _, w := range []Windows{{Size: time.Minute}, {Size: 5 * time.Minute, Every: time.Minute}, {}} {
		start := at("2026-12-05T12:00:00Z")
		seen := map[Window]int{}
		after := start
		for wm := start; wm.Before(start.Add(20 * time.Minute)); wm = wm.Add(7 * time.Second) {
			for _, win := range w.Closed(after, wm) {
				seen[win]++
			}
			after = wm
		}
		for ts := start.Add(5 * time.Minute); ts.Before(start.Add(15 * time.Minute)); ts = ts.Add(13 * time.Second) {
			for _, win := range w.Of(ts) {
				if seen[win] != 1 {
					t.Fatalf("%+v: window %v of a record at %v reported %d times", w, win, ts, seen[win])
				}
			}
		}
	}
}

func TestWindowsValidate(t *testing.T) {
	for _, tt := range []struct {
		w  Windows
		ok bool
	}{
		{Windows{}, true},
		{Windows{Size: time.Minute}, true},
		{Windows{Size: 5 * time.Minute, Every: time.Minute}, true},
		{Windows{Size: 5 * time.Minute, Every: 2 * time.Minute}, false},
		{Windows{Every: time.Minute}, false},
		{Windows{Size: time.Minute, Every: 2 * time.Minute}, false},
		{Windows{Size: time.Hour, Every: time.Second}, false},
		{Windows{Size: -time.Second}, false},
	} {
		if err := tt.w.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: Validate() = %v, want ok %v", tt.w, err, tt.ok)
		}
	}
}
