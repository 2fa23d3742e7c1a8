package pipeline_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations/file"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/redrive"
	"github.com/hydrant-dev/hydrant/transform"
)

// A replay (hydrant deliveries reset: the same shard and sequence numbers
// again, under the batch name archive.replay1) whose record fails again
// writes an error object of its own, which a redrive takes although the
// first run's error object was redriven already.
func TestReplayFailuresAreNewErrorObjects(t *testing.T) {
	out := t.TempDir()
	fs, err := file.New(out)
	if err != nil {
		t.Fatal(err)
	}
	place := redrive.NewDir(out, fs)
	failing := transform.Func(func(r buffer.Record) transform.Output {
		if bytes.Contains(r.Data, []byte("bad")) {
			return transform.Output{Result: transform.ProcessingFailed, ErrorCode: "Bad", ErrorMessage: "bad record"}
		}
		return transform.Output{Result: transform.Ok, Data: r.Data}
	})
	fixing := transform.Func(func(r buffer.Record) transform.Output {
		return transform.Output{Result: transform.Ok, Data: bytes.ReplaceAll(r.Data, []byte("bad"), []byte("good"))}
	})
	d := redrive.Delivery{Name: "archive", Transform: fixing, Destination: fileObjects(t, out), Errors: fileObjects(t, out),
		Place: place, Prefix: "errors/"}
	tests := []struct {
		batchName string
		want      redrive.Result
	}{
		{"", redrive.Result{Objects: 1, Records: 1, Delivered: 1}},
		{"archive.replay1", redrive.Result{Objects: 1, Records: 1, Delivered: 1, Skipped: 1}},
	}
	for i, tc := range tests {
		// Each run reads a fresh stream with the same record at the same
		// shard and sequence, as a reset replays it.
		e := newEnv(t, 1)
		_, stop := start(t, e, pipeline.Config{Name: "archive", BatchName: tc.batchName,
			Buffer:    buffer.Config{Size: 1 << 20, Interval: 50 * time.Millisecond},
			Transform: failing, Destination: fileObjects(t, out), Errors: fileObjects(t, out)})
		e.put(t, "{\"user\":\"bad\"}\n")
		await.Cond(t, 10*time.Second, "the failed record in the error output", func() bool {
			return errorObjects(t, out) == i+1
		})
		stop()
		res, err := redrive.Run(context.Background(), d, redrive.Filter{}, time.Now)
		if err != nil || res != tc.want {
			t.Fatalf("redrive after run %d (batch name %q): %+v, %v; want %+v", i+1, tc.batchName, res, err, tc.want)
		}
	}
}

// errorObjects counts the error objects under dir/errors.
func errorObjects(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(filepath.Join(dir, "errors"), func(path string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(path, "-failed.jsonl") {
			n++
		}
		return nil
	})
	return n
}
