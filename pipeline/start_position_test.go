package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/shards"
)

// users returns the sorted "user" values delivered to out.
func users(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for _, ls := range lines(t, out, "data") {
		for _, l := range ls {
			_, v, _ := strings.Cut(l, `"user":"`)
			v, _, _ = strings.Cut(v, `"`)
			got = append(got, v)
		}
	}
	slices.Sort(got)
	return got
}

func putUsers(t *testing.T, e *env, from, to int) {
	t.Helper()
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "{\"user\":\"u%03d\"}\n", i)
	}
	e.put(t, b.String())
}

func want(from, to int) []string {
	var w []string
	for i := from; i < to; i++ {
		w = append(w, fmt.Sprintf("u%03d", i))
	}
	return w
}

func startAt(t *testing.T, e *env, name, out string, at pipeline.StartPosition) func() {
	t.Helper()
	_, stop := start(t, e, pipeline.Config{Name: name, Buffer: buffer.Config{Size: 1 << 20, Interval: 20 * time.Millisecond},
		Destination: fileObjects(t, out), Errors: fileObjects(t, out), StartAt: at})
	return stop
}

// A delivery with start timestamp delivers exactly the records that
// arrived at or after it, on every shard; once it has checkpointed, a
// restart goes on from the checkpoint.
func TestStartAtTimestamp(t *testing.T) {
	e := newEnv(t, 2)
	putUsers(t, e, 0, 20)
	time.Sleep(20 * time.Millisecond)
	at := time.Now()
	time.Sleep(20 * time.Millisecond)
	putUsers(t, e, 20, 40)
	out := t.TempDir()
	stop := startAt(t, e, "shadow", out, pipeline.StartPosition{At: pipeline.StartTimestamp, Time: at})
	await.Cond(t, 10*time.Second, "records since the timestamp", func() bool { return len(users(t, out)) >= 20 })
	stop()
	if got := users(t, out); !slices.Equal(got, want(20, 40)) {
		t.Fatalf("delivered %v, want u020..u039", got)
	}
	// Started again (same position): it reads on from its checkpoints.
	putUsers(t, e, 40, 45)
	stop = startAt(t, e, "shadow", out, pipeline.StartPosition{At: pipeline.StartTimestamp, Time: at})
	await.Cond(t, 10*time.Second, "the new records", func() bool { return len(users(t, out)) >= 25 })
	stop()
	if got := users(t, out); !slices.Equal(got, want(20, 45)) {
		t.Fatalf("after a restart delivered %v, want u020..u044 once", got)
	}
}

// Start latest skips what was put before the delivery first started,
// and keeps that across restarts.
func TestStartAtLatest(t *testing.T) {
	e := newEnv(t, 1)
	putUsers(t, e, 0, 10)
	time.Sleep(10 * time.Millisecond)
	out := t.TempDir()
	stop := startAt(t, e, "tail", out, pipeline.StartPosition{At: pipeline.StartLatest})
	await.Cond(t, 5*time.Second, "the start checkpoint", func() bool {
		cp, _ := e.store.Checkpoint(context.Background(), "tail", 0)
		return cp != 0
	})
	putUsers(t, e, 10, 15)
	await.Cond(t, 10*time.Second, "new records", func() bool { return len(users(t, out)) >= 5 })
	stop()
	if got := users(t, out); !slices.Equal(got, want(10, 15)) {
		t.Fatalf("delivered %v, want u010..u014", got)
	}
}

// Start sequence starts each shard at the record with that number.
func TestStartAtSequence(t *testing.T) {
	e := newEnv(t, 1)
	putUsers(t, e, 0, 5)  // message 1
	putUsers(t, e, 5, 10) // message 2
	out := t.TempDir()
	stop := startAt(t, e, "seq", out, pipeline.StartPosition{At: pipeline.StartSequence, Sequence: shards.MakeSequence(2, 2)})
	await.Cond(t, 10*time.Second, "records from the sequence", func() bool { return len(users(t, out)) >= 3 })
	stop()
	if got := users(t, out); !slices.Equal(got, want(7, 10)) {
		t.Fatalf("delivered %v, want u007..u009", got)
	}
}

// ResetCheckpoints makes a delivery deliver again what arrived since a
// time.
func TestResetCheckpoints(t *testing.T) {
	e := newEnv(t, 2)
	putUsers(t, e, 0, 10)
	time.Sleep(20 * time.Millisecond)
	at := time.Now()
	time.Sleep(20 * time.Millisecond)
	putUsers(t, e, 10, 20)
	out := t.TempDir()
	stop := startAt(t, e, "archive", out, pipeline.StartPosition{})
	await.Cond(t, 10*time.Second, "everything", func() bool { return len(users(t, out)) >= 20 })
	stop()
	if _, err := pipeline.ResetCheckpoints(context.Background(), e.store, "archive", "events",
		pipeline.StartPosition{At: pipeline.StartTimestamp, Time: at}); err != nil {
		t.Fatal(err)
	}
	out2 := t.TempDir()
	stop = startAt(t, e, "archive", out2, pipeline.StartPosition{})
	await.Cond(t, 10*time.Second, "the replay", func() bool { return len(users(t, out2)) >= 10 })
	stop()
	if got := users(t, out2); !slices.Equal(got, want(10, 20)) {
		t.Fatalf("replayed %v, want u010..u019", got)
	}
}
