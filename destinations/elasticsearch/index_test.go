package elasticsearch

import (
	"strings"
	"testing"
	"time"
)

func TestIndexName(t *testing.T) {
	at := time.Date(2026, 11, 25, 13, 47, 0, 0, time.UTC)
	tests := []struct {
		rotation string
		at       time.Time
		want     string
	}{
		{RotationNone, at, "idx"},
		{RotationHour, at, "idx-2026-11-25-13"},
		{RotationDay, at, "idx-2026-11-25"},
		{RotationWeek, at, "idx-2026-w47"},
		{RotationMonth, at, "idx-2026-11"},
		// Firehose's own examples.
		{RotationHour, time.Date(2016, 2, 25, 13, 0, 0, 0, time.UTC), "idx-2016-02-25-13"},
		{RotationWeek, time.Date(2016, 2, 25, 13, 0, 0, 0, time.UTC), "idx-2016-w08"},
		// Weeks start on Sunday; the days before the year's first Sunday are week 00.
		{RotationWeek, time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC), "idx-2026-w00"},   // Saturday
		{RotationWeek, time.Date(2026, 1, 4, 0, 0, 0, 0, time.UTC), "idx-2026-w01"},   // Sunday
		{RotationWeek, time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC), "idx-2026-w47"}, // Saturday
		{RotationWeek, time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), "idx-2026-w48"}, // Sunday
		{RotationWeek, time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), "idx-2026-w52"},
		// Arrival time is taken in UTC whatever its zone.
		{RotationDay, time.Date(2026, 11, 26, 1, 0, 0, 0, time.FixedZone("CET", 3600)), "idx-2026-11-26"},
		{RotationDay, time.Date(2026, 11, 26, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "idx-2026-11-25"},
	}
	for _, tt := range tests {
		if got := IndexName("idx", tt.rotation, tt.at); got != tt.want {
			t.Errorf("%s at %s: %q, want %q", tt.rotation, tt.at, got, tt.want)
		}
	}
}

func TestDocumentIDs(t *testing.T) {
	tests := []struct {
		mode, doc, want, err string
		sub                  uint32 // the record's sub-sequence (a KPL sub-record's)
	}{
		{mode: "auto", doc: `{}`, want: "d-shardId-000000000003-42"},
		{mode: "auto", doc: `{}`, sub: 3, want: "d-shardId-000000000003-42-3"},
		{mode: "/id", doc: `{"id":"order-7"}`, sub: 3, want: "order-7"},
		{mode: "", doc: `{}`, want: "d-shardId-000000000003-42"},
		{mode: "none", doc: `{"id":1}`, want: ""},
		{mode: "/id", doc: `{"id":"order-7"}`, want: "order-7"},
		{mode: "/meta/n", doc: `{"meta":{"n":12345678901234567890}}`, want: "12345678901234567890"},
		{mode: "/id", doc: `{"other":1}`, err: "no string, number or boolean"},
		{mode: "/id", doc: `{"id":{"a":1}}`, err: "no string, number or boolean"},
		{mode: "/id", doc: `{"id":"` + strings.Repeat("x", 513) + `"}`, err: "513 bytes"},
	}
	for _, tt := range tests {
		src, err := newIDSource(tt.mode)
		if err != nil {
			t.Fatalf("%q: %v", tt.mode, err)
		}
		got, err := src.id("d", "shardId-000000000003", 42, tt.sub, []byte(tt.doc))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s on %s: error %v, want one mentioning %q", tt.mode, tt.doc, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s on %s: %q, %v; want %q", tt.mode, tt.doc, got, err, tt.want)
		}
	}
	if _, err := newIDSource("id"); err == nil {
		t.Error(`document_id "id" was taken; it is neither a mode nor a pointer`)
	}
}
