package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hydrant-dev/hydrant/cluster"
	"github.com/hydrant-dev/hydrant/pipeline"
)

// TestClusterStats: a delivery's status on a cluster sums every node's
// counts (the answering node's own as of now, the others' from their
// heartbeats), takes the latest flush and error, and marks a node not heard
// from for half the lease TTL stale.
func TestClusterStats(t *testing.T) {
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) *time.Time { t := now.Add(-ago); return &t }
	const ttl = 10 * time.Second
	members := []cluster.Member{
		{Name: "n1", Instance: "n1-1", Heartbeat: now.Add(-time.Second)},
		{Name: "n2", Instance: "n2-2", Heartbeat: now.Add(-2 * time.Second)},
		{Name: "n3", Instance: "n3-3", Heartbeat: now.Add(-6 * time.Second)},
	}
	reports := map[string]nodeReport{
		"n2-2": {Deliveries: map[string]pipeline.Stats{"archive": {DeliveredRecords: 300, ErrorOutputRecords: 2, LastFlush: at(time.Second),
			LastError: "newest", LastErrorAt: at(3 * time.Second), DestinationConnected: true}}},
		"n3-3": {Deliveries: map[string]pipeline.Stats{"archive": {DeliveredRecords: 50, LastError: "older", LastErrorAt: at(9 * time.Second)}}},
	}
	local := pipeline.Stats{DeliveredRecords: 200, LastFlush: at(4 * time.Second), DestinationConnected: true}
	tests := map[string]struct {
		delivery  string
		local     *pipeline.Stats
		want      pipeline.Stats
		nodes     []string // node names, "!" marks stale
		connected bool
	}{
		"every node runs it": {"archive", &local, pipeline.Stats{DeliveredRecords: 550, ErrorOutputRecords: 2, LastFlush: at(time.Second),
			LastError: "newest", LastErrorAt: at(3 * time.Second), DestinationConnected: true}, []string{"n1", "n2", "n3!"}, true},
		"not on the answering node": {"archive", nil, pipeline.Stats{DeliveredRecords: 350, ErrorOutputRecords: 2, LastFlush: at(time.Second),
			LastError: "newest", LastErrorAt: at(3 * time.Second), DestinationConnected: true}, []string{"n2", "n3!"}, true},
		"on the answering node only": {"clicks", &local, local, []string{"n1"}, true},
		"nowhere":                    {"clicks", nil, pipeline.Stats{}, nil, false},
	}
	for name, tt := range tests {
		ds := deliveryStatus{Name: tt.delivery}
		clusterStats(&ds, tt.local, "n1-1", members, reports, ttl, now)
		if got := ds.Stats; got.DeliveredRecords != tt.want.DeliveredRecords || got.ErrorOutputRecords != tt.want.ErrorOutputRecords ||
			!sameTime(got.LastFlush, tt.want.LastFlush) || got.LastError != tt.want.LastError || !sameTime(got.LastErrorAt, tt.want.LastErrorAt) ||
			got.DestinationConnected != tt.connected {
			t.Errorf("%s: stats %+v, want %+v", name, got, tt.want)
		}
		var nodes []string
		for _, n := range ds.Nodes {
			name := n.Node
			if n.Stale {
				name += "!"
			}
			nodes = append(nodes, name)
		}
		if !slices.Equal(nodes, tt.nodes) {
			t.Errorf("%s: nodes %v, want %v", name, nodes, tt.nodes)
		}
	}
}

func sameTime(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}

// TestEncodeReport: a heartbeat's report cuts each last error to
// reportErrorBytes, on a character boundary, and leaves out the deliveries
// past its limit, in name order, so that it always fits.
func TestEncodeReport(t *testing.T) {
	long := strings.Repeat("é", 1000) // 2 bytes each: a cut may fall inside one
	stats := map[string]pipeline.Stats{}
	for i := range 2000 {
		stats[fmt.Sprintf("d%04d", i)] = pipeline.Stats{DeliveredRecords: int64(i), LastError: long}
	}
	raw := encodeReport(stats, cluster.MaxReport)
	if len(raw) > cluster.MaxReport {
		t.Fatalf("report of %d bytes, over %d", len(raw), cluster.MaxReport)
	}
	var rep nodeReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if n := len(rep.Deliveries); n == 0 || n == len(stats) {
		t.Fatalf("%d of %d deliveries reported; want some left out", n, len(stats))
	}
	for i := range len(rep.Deliveries) {
		name := fmt.Sprintf("d%04d", i)
		s, ok := rep.Deliveries[name]
		switch {
		case !ok:
			t.Fatalf("%s left out, though a later one is in", name)
		case len(s.LastError) > reportErrorBytes || !utf8.ValidString(s.LastError) || !strings.HasSuffix(s.LastError, "…"):
			t.Fatalf("%s's last error is %d bytes %q; want it cut to %d, marked", name, len(s.LastError), s.LastError, reportErrorBytes)
		case s.DeliveredRecords != int64(i):
			t.Fatalf("%s delivered %d, want %d", name, s.DeliveredRecords, i)
		}
	}
	short := map[string]pipeline.Stats{"a": {LastError: "short"}}
	if err := json.Unmarshal(encodeReport(short, cluster.MaxReport), &rep); err != nil || rep.Deliveries["a"].LastError != "short" {
		t.Errorf("a short error reported as %q, %v", rep.Deliveries["a"].LastError, err)
	}
}
