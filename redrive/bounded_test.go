package redrive_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/destinations/file"
	"github.com/hydrant-dev/hydrant/redrive"
	"github.com/hydrant-dev/hydrant/transform"
)

// countingPlace counts the error objects (not markers) read through the
// Place it delegates to.
type countingPlace struct {
	redrive.Place
	mu   sync.Mutex
	gets map[string]int
}

func (c *countingPlace) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	if !strings.HasSuffix(key, ".redrive.json") {
		c.mu.Lock()
		c.gets[key]++
		c.mu.Unlock()
	}
	return c.Place.Get(ctx, key, max)
}

// reads returns and resets the count of objects read.
func (c *countingPlace) reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.gets {
		n += v
	}
	c.gets = map[string]int{}
	return n
}

// manyObjects writes hours×perHour error objects of one record each, the
// records of hour h arriving h hours after arrival, under the default
// error prefix (…/yyyy/MM/dd/HH/).
func manyObjects(t *testing.T, hours, perHour int) (*destinations.Objects, *countingPlace) {
	t.Helper()
	dir := t.TempDir()
	fs, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := destinations.NewObjects(fs, destinations.ObjectsConfig{Prefix: "data/", ErrorPrefix: config.DefaultErrorPrefix})
	if err != nil {
		t.Fatal(err)
	}
	for h := range hours {
		for i := range perHour {
			at := arrival.Add(time.Duration(h) * time.Hour)
			eb := &destinations.ErrorBatch{Delivery: "orders", ShardID: fmt.Sprintf("shardId-%012d", i), Type: destinations.ErrorTypeProcessingFailed,
				Records: []destinations.ErrorRecord{{Record: buffer.Record{Data: []byte(`{"v":"bad"}`), Sequence: uint64(h + 1), Arrival: at},
					ErrorCode: "x", ErrorMessage: "bad", AttemptsMade: 1, AttemptEnding: at}}}
			if err := objs.WriteErrors(context.Background(), eb); err != nil {
				t.Fatal(err)
			}
		}
	}
	return objs, &countingPlace{Place: redrive.NewDir(dir, fs), gets: map[string]int{}}
}

// The listing and a redrive read only the error objects they need: the
// listing stops at its limit, the hour of an object's path leaves it out
// of a time filter unread, and a done object is not read again.
func TestReadsAreBounded(t *testing.T) {
	ctx := context.Background()
	const hours, perHour = 4, 25
	objs, place := manyObjects(t, hours, perHour)
	prefix := redrive.StaticPrefix(config.DefaultErrorPrefix)
	hour := func(h int) time.Time { return arrival.Add(time.Duration(h) * time.Hour).Truncate(time.Hour) }
	entries := []struct {
		name      string
		filter    redrive.Filter
		limit     int
		want      int
		wantReads int
	}{
		{"limit 1", redrive.Filter{}, 1, 1, 2}, // the second object tells that more are left
		{"limit 30", redrive.Filter{}, 30, 30, 31},
		{"other type", redrive.Filter{Type: "postgres-failed"}, 10, 0, 0},
		{"hour 3 only", redrive.Filter{From: hour(3)}, 0, perHour, hours * perHour}, // later records could be in any object
		{"before hour 1", redrive.Filter{To: hour(1)}, 0, perHour, perHour},
	}
	for _, tc := range entries {
		t.Run("entries/"+tc.name, func(t *testing.T) {
			got, _, err := redrive.Entries(ctx, place, prefix, "orders", tc.filter, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.want {
				t.Fatalf("%d entries, want %d", len(got), tc.want)
			}
			if n := place.reads(); n != tc.wantReads {
				t.Fatalf("%d error objects read, want %d", n, tc.wantReads)
			}
		})
	}
	d := redrive.Delivery{Name: "orders", Transform: transform.Func(fixing), Destination: objs, Errors: objs,
		Place: place, Prefix: prefix}
	now := func() time.Time { return arrival.Add(24 * time.Hour) }
	runs := []struct {
		name      string
		filter    redrive.Filter
		want      redrive.Result
		wantReads int
	}{
		{"hour 2", redrive.Filter{From: hour(2), To: hour(3)}, redrive.Result{Objects: perHour, Records: perHour, Delivered: perHour}, perHour},
		{"hours 2 and 3", redrive.Filter{From: hour(2)}, redrive.Result{Objects: perHour, Records: perHour, Delivered: perHour, Skipped: perHour}, perHour},
		{"all", redrive.Filter{}, redrive.Result{Objects: 2 * perHour, Records: 2 * perHour, Delivered: 2 * perHour, Skipped: 2 * perHour}, 2 * perHour},
		{"again", redrive.Filter{}, redrive.Result{Skipped: hours * perHour}, 0},
	}
	for _, tc := range runs {
		t.Run("run/"+tc.name, func(t *testing.T) {
			res, err := redrive.Run(ctx, d, tc.filter, now)
			if err != nil || res != tc.want {
				t.Fatalf("redrive: %+v, %v; want %+v", res, err, tc.want)
			}
			if n := place.reads(); n != tc.wantReads {
				t.Fatalf("%d error objects read, want %d", n, tc.wantReads)
			}
		})
	}
}

// An error object that decompresses to more than MaxObjectBytes is refused,
// not read whole, with an error that says a retry does not help.
func TestDecompressionBombRefused(t *testing.T) {
	ctx := context.Background()
	_, place := manyObjects(t, 0, 0)
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write(bytes.Repeat([]byte(" "), 64<<20)) // 64 MiB of blanks, 64 KiB gzipped
	zw.Close()
	key := "errors/processing-failed/2026/12/01/10/orders-shardId-000000000000-00000000000000000001-processing-failed.jsonl.gz"
	if err := place.Put(ctx, key, bomb.Bytes()); err != nil {
		t.Fatal(err)
	}
	filter := redrive.Filter{MaxObjectBytes: 1 << 20}
	_, _, err := redrive.Entries(ctx, place, "errors/", "orders", filter, 10)
	if !errors.Is(err, redrive.ErrObjectTooLarge) || !destinations.IsPermanent(err) || !strings.Contains(err.Error(), key) {
		t.Fatalf("listing a decompression bomb: %v; want ErrObjectTooLarge, permanent, naming the object", err)
	}
	filter.MaxObjectBytes = 32 << 10 // smaller than the object itself
	if _, _, err := redrive.Entries(ctx, place, "errors/", "orders", filter, 10); !errors.Is(err, redrive.ErrObjectTooLarge) {
		t.Fatalf("listing an object over the bound compressed: %v; want ErrObjectTooLarge", err)
	}
}
