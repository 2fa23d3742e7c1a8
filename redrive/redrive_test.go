package redrive_test

import (
	"bytes"
	"context"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/destinations/file"
	"github.com/hydrant-dev/hydrant/redrive"
	"github.com/hydrant-dev/hydrant/transform"
)

var arrival = time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)

// setup returns a file destination (also its error output) over a temp dir
// with one processing-failed error object of the given records.
func setup(t *testing.T, compression string, data ...string) (string, *destinations.Objects, redrive.Place) {
	t.Helper()
	dir := t.TempDir()
	fs, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := destinations.NewObjects(fs, destinations.ObjectsConfig{Prefix: "data/", ErrorPrefix: config.DefaultErrorPrefix, Compression: compression})
	if err != nil {
		t.Fatal(err)
	}
	eb := &destinations.ErrorBatch{Delivery: "orders", ShardID: "shardId-000000000001", Type: destinations.ErrorTypeProcessingFailed}
	for i, d := range data {
		eb.Records = append(eb.Records, destinations.ErrorRecord{
			Record:    buffer.Record{Data: []byte(d), Sequence: uint64(100 + i), Arrival: arrival, PartitionKey: "k"},
			ErrorCode: "Transform.JQError", ErrorMessage: "bad", AttemptsMade: 1, AttemptEnding: arrival,
		})
	}
	if err := objs.WriteErrors(context.Background(), eb); err != nil {
		t.Fatal(err)
	}
	return dir, objs, redrive.NewDir(dir, fs)
}

// failing fails records that contain "bad".
func failing(r buffer.Record) transform.Output {
	if bytes.Contains(r.Data, []byte("bad")) {
		return transform.Output{Result: transform.ProcessingFailed, ErrorCode: "Test.Bad", ErrorMessage: "still bad"}
	}
	return transform.Output{Result: transform.Ok, Data: r.Data}
}

// fixing turns "bad" into "good".
func fixing(r buffer.Record) transform.Output {
	return transform.Output{Result: transform.Ok, Data: bytes.ReplaceAll(r.Data, []byte("bad"), []byte("good"))}
}

// delivered reads every record of the data objects under dir.
func delivered(t *testing.T, dir, compression string) []string {
	t.Helper()
	var lines []string
	filepath.WalkDir(filepath.Join(dir, "data"), func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := uncompress(compression, raw)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		lines = append(lines, strings.Fields(string(b))...)
		return nil
	})
	slices.Sort(lines)
	return lines
}

func TestRedriveLandsEachRecordOnce(t *testing.T) {
	for _, compression := range []string{"none", "gzip", "zstd", "snappy"} {
		t.Run(compression, func(t *testing.T) {
			ctx := context.Background()
			dir, objs, place := setup(t, compression, `{"id":1}`, `{"id":2,"v":"bad"}`, `{"id":3}`)
			d := redrive.Delivery{Name: "orders", Transform: transform.Func(failing), Destination: objs, Errors: objs,
				Place: place, Prefix: redrive.StaticPrefix(config.DefaultErrorPrefix)}
			now := func() time.Time { return arrival.Add(time.Hour) }

			// The error output fails after the records were delivered: the
			// object stays planned, and the redrive says to run it again.
			blocked := filepath.Join(t.TempDir(), "not-a-dir")
			if err := os.WriteFile(blocked, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			bfs, _ := file.New(blocked)
			broken, err := destinations.NewObjects(bfs, destinations.ObjectsConfig{ErrorPrefix: config.DefaultErrorPrefix})
			if err != nil {
				t.Fatal(err)
			}
			d.Errors = broken
			if _, err := redrive.Run(ctx, d, redrive.Filter{}, now); err == nil {
				t.Fatal("redrive with a broken error output: no error")
			}
			entries, _, err := redrive.Entries(ctx, place, d.Prefix, "orders", redrive.Filter{}, 0)
			if err != nil || len(entries) != 3 || entries[0].RedriveState != redrive.StatePlanned {
				t.Fatalf("after a redrive cut short: %+v, %v; want 3 records planned", entries, err)
			}

			// Run again, with the transform fixed meanwhile: the plan is
			// replayed, so record 2 fails again rather than land beside its
			// planned failure.
			d.Errors, d.Transform = objs, transform.Func(fixing)
			res, err := redrive.Run(ctx, d, redrive.Filter{}, now)
			if err != nil {
				t.Fatal(err)
			}
			if want := (redrive.Result{Objects: 1, Records: 3, Delivered: 2, Failed: 1}); res != want {
				t.Fatalf("redrive run again: %+v, want %+v", res, want)
			}
			// The record that failed again is a new error object, listed beside the first.
			if entries, _, err = redrive.Entries(ctx, place, d.Prefix, "orders", redrive.Filter{}, 0); err != nil {
				t.Fatal(err)
			}
			states := map[string]int{}
			for _, e := range entries {
				if strings.HasPrefix(e.ShardID, "redrive-") {
					if e.ErrorCode != "Test.Bad" || e.SequenceNumber != "2" || e.DataPreview != `{"id":2,"v":"bad"}` {
						t.Errorf("the record that failed again: %+v", e)
					}
				}
				states[e.ShardID[:7]+"/"+e.RedriveState]++
			}
			if want := map[string]int{"shardId/done": 3, "redrive/": 1}; !maps.Equal(states, want) {
				t.Fatalf("entries by shard and state: %v, want %v", states, want)
			}

			// The next redrive takes only the new error object.
			if res, err = redrive.Run(ctx, d, redrive.Filter{}, now); err != nil {
				t.Fatal(err)
			}
			if want := (redrive.Result{Objects: 1, Records: 1, Delivered: 1, Skipped: 1}); res != want {
				t.Fatalf("second redrive: %+v, want %+v", res, want)
			}
			if res, err = redrive.Run(ctx, d, redrive.Filter{}, now); err != nil || res != (redrive.Result{Skipped: 2}) {
				t.Fatalf("third redrive: %+v, %v; want only skipped objects", res, err)
			}
			want := []string{`{"id":1}`, `{"id":2,"v":"good"}`, `{"id":3}`}
			if got := delivered(t, dir, compression); !slices.Equal(got, want) {
				t.Fatalf("delivered %q, want %q", got, want)
			}
		})
	}
}

func TestFilter(t *testing.T) {
	ctx := context.Background()
	_, _, place := setup(t, "none", `{"id":1}`)
	prefix := redrive.StaticPrefix(config.DefaultErrorPrefix)
	tests := map[string]struct {
		filter redrive.Filter
		want   int
	}{
		"all":           {redrive.Filter{}, 1},
		"type":          {redrive.Filter{Type: "processing-failed"}, 1},
		"other type":    {redrive.Filter{Type: "postgres-failed"}, 0},
		"from before":   {redrive.Filter{From: arrival.Add(-time.Minute)}, 1},
		"from at":       {redrive.Filter{From: arrival}, 1},
		"from after":    {redrive.Filter{From: arrival.Add(time.Minute)}, 0},
		"to after":      {redrive.Filter{To: arrival.Add(time.Minute)}, 1},
		"to at":         {redrive.Filter{To: arrival}, 0},
		"within bounds": {redrive.Filter{From: arrival.Add(-time.Hour), To: arrival.Add(time.Hour)}, 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			objs, _, err := redrive.List(ctx, place, prefix, "orders", tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != tc.want {
				t.Fatalf("%d objects, want %d", len(objs), tc.want)
			}
		})
	}
}

func TestListKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fs, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	doc := []byte(`{"attemptsMade":1,"arrivalTimestamp":1764585000000,"errorCode":"x","errorMessage":"y","rawData":"e30=","deliveryStreamName":"orders","shardId":"shardId-000000000000","sequenceNumber":"1","partitionKey":"k"}` + "\n")
	keys := map[string]bool{
		"errors/postgres-failed/2026/12/01/10/orders-shardId-000000000000-00000000000000000001-postgres-failed.jsonl":        true,
		"errors/errors/postgres-failed/2026/12/01/10/orders-shardId-000000000000-00000000000000000002-postgres-failed.jsonl": true, // today's data dir layout
		"postgres-failed/orders-shardId-000000000000-00000000000000000003-2-postgres-failed.jsonl":                           true, // a sub-record first
		"errors/processing-failed/orders-redrive-0123456789abcdef-00000000000000000001-processing-failed.jsonl":              true,
		"errors/processing-failed/orders.replay12-shardId-000000000000-00000000000000000001-processing-failed.jsonl":         true, // a reset's replay
		"errors/processing-failed/orders.replay-shardId-000000000000-00000000000000000001-processing-failed.jsonl":           false,
		"errors/processing-failed/orders.v2-shardId-000000000000-00000000000000000001-processing-failed.jsonl":               false, // delivery orders.v2
		"errors/processing-failed/orders-eu-shardId-000000000000-00000000000000000001-processing-failed.jsonl":               false, // delivery orders-eu
		"data/orders-shardId-000000000000-00000000000000000001.jsonl":                                                        false,
		"errors/processing-failed/orders-shardId-000000000000-00000000000000000001-processing-failed.jsonl.redrive.json":     false,
		"errors/analytics-late/orders-shardId-000000000000-00000000000000000001-analytics-late.jsonl":                        false,
	}
	for k := range keys {
		if err := fs.Put(ctx, k, doc, destinations.ObjectMeta{}); err != nil {
			t.Fatal(err)
		}
	}
	objs, _, err := redrive.List(ctx, redrive.NewDir(dir, fs), "", "orders", redrive.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, o := range objs {
		got[o.Key] = true
	}
	for k, want := range keys {
		if got[k] != want {
			t.Errorf("%s: listed %v, want %v", k, got[k], want)
		}
	}
}

func TestRedriveShardIsDeterministic(t *testing.T) {
	a, b := redrive.RedriveShard("errors/x.jsonl"), redrive.RedriveShard("errors/y.jsonl")
	if a != redrive.RedriveShard("errors/x.jsonl") || a == b || len(a) != len("redrive-")+16 {
		t.Fatalf("RedriveShard: %q, %q", a, b)
	}
}

func TestStaticPrefix(t *testing.T) {
	for in, want := range map[string]string{
		config.DefaultErrorPrefix:                       "errors/",
		"!{firehose:error-output-type}/":                "",
		"failed/":                                       "failed/",
		"a/!{timestamp:yyyy}/!{firehose:random-string}": "a/",
	} {
		if got := redrive.StaticPrefix(in); got != want {
			t.Errorf("StaticPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func uncompress(compression string, raw []byte) ([]byte, error) {
	switch compression {
	case "gzip":
		r, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	case "zstd":
		d, err := zstd.NewReader(nil)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return d.DecodeAll(raw, nil)
	case "snappy":
		return io.ReadAll(snappy.NewReader(bytes.NewReader(raw)))
	}
	return raw, nil
}

func TestEntries(t *testing.T) {
	ctx := context.Background()
	long := `{"id":3,"s":"` + strings.Repeat("é", 200) + `"}`
	_, _, place := setup(t, "gzip", `{"id":1}`, `{"id":2}`, long)
	prefix := redrive.StaticPrefix(config.DefaultErrorPrefix)
	tests := map[string]struct {
		filter    redrive.Filter
		limit     int
		want      int
		truncated bool
	}{
		"all":         {redrive.Filter{}, 0, 3, false},
		"limit":       {redrive.Filter{}, 2, 2, true},
		"limit exact": {redrive.Filter{}, 3, 3, false},
		"other type":  {redrive.Filter{Type: "postgres-failed"}, 0, 0, false},
		"from after":  {redrive.Filter{From: arrival.Add(time.Second)}, 0, 0, false},
		"to after":    {redrive.Filter{To: arrival.Add(time.Second)}, 0, 3, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, truncated, err := redrive.Entries(ctx, place, prefix, "orders", tc.filter, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want || truncated != tc.truncated {
				t.Fatalf("%d entries (truncated %v), want %d (%v)", len(got), truncated, tc.want, tc.truncated)
			}
		})
	}
	got, _, err := redrive.Entries(ctx, place, prefix, "orders", redrive.Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := got[2]
	if e.Line != 3 || e.SequenceNumber != "102" || e.ShardID != "shardId-000000000001" || e.Type != "processing-failed" ||
		e.DataSize != len(long) || len(e.DataPreview) > redrive.PreviewBytes || !utf8.ValidString(e.DataPreview) ||
		!strings.HasPrefix(long, e.DataPreview) {
		t.Fatalf("entry of a long record: %+v", e)
	}
}
