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

// arrivalOf returns when the shard log stored the record of each user.
func arrivalOf(t *testing.T, e *env) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	for _, sh := range e.stream.Lineage().Shards {
		res, err := e.store.Read(context.Background(), "events", sh.ID, 0, 1<<20, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Records {
			_, v, _ := strings.Cut(string(r.Data), `"user":"`)
			v, _, _ = strings.Cut(v, `"`)
			out[v] = r.Arrival
		}
	}
	return out
}

// firstArrival returns the earliest arrival of the users from..to.
func firstArrival(t *testing.T, e *env, from, to int) time.Time {
	t.Helper()
	arrivals := arrivalOf(t, e)
	var at time.Time
	for _, u := range want(from, to) {
		if a, ok := arrivals[u]; !ok {
			t.Fatalf("%s is not stored", u)
		} else if at.IsZero() || a.Before(at) {
			at = a
		}
	}
	return at
}

// A delivery with start timestamp delivers exactly the records that
// arrived at or after it, on every shard; once it has checkpointed, a
// restart goes on from the checkpoint.
func TestStartAtTimestamp(t *testing.T) {
	e := newEnv(t, 2)
	putUsers(t, e, 0, 20)
	putUsers(t, e, 20, 40) // stored after every record of the first put
	at := firstArrival(t, e, 20, 40)
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

// usersOn returns n users whose records go to shard of a stream of
// shardCount shards.
func usersOn(shard, shardCount, n int) []string {
	var out []string
	m := shards.NewShardMap(shardCount)
	for i := 0; len(out) < n; i++ {
		if u := fmt.Sprintf("u%03d", i); m.Shard(shards.HashPartitionKey(u)) == shard {
			out = append(out, u)
		}
	}
	return out
}

func putUser(t *testing.T, e *env, u string) { t.Helper(); e.put(t, fmt.Sprintf("{\"user\":%q}\n", u)) }

// Start sequence starts each shard at the record with that number or at
// the first record put after the delivery first started, whichever comes
// first: a sequence taken from one shard skips nothing put later on a
// quieter one, nor on the shards a reshard opens. The start is pinned at
// the first start: a start changed later applies to nothing.
func TestStartAtSequence(t *testing.T) {
	e := newEnv(t, 2)
	on0, on1 := usersOn(0, 2, 4), usersOn(1, 2, 2)
	for _, u := range on0[:3] {
		putUser(t, e, u) // messages 1, 2 and 3 of shard 0; shard 1 holds nothing
	}
	out := t.TempDir()
	seq := pipeline.StartPosition{At: pipeline.StartSequence, Sequence: shards.MakeSequence(2, 0)}
	stop := startAt(t, e, "seq", out, seq)
	await.Cond(t, 5*time.Second, "the start checkpoints", func() bool {
		cp0, _ := e.store.Checkpoint(context.Background(), "seq", 0)
		cp1, _ := e.store.Checkpoint(context.Background(), "seq", 1)
		return cp0 != 0 && cp1 != 0
	})
	putUser(t, e, on1[0]) // messages 1 and 2 of shard 1, put after the start
	putUser(t, e, on1[1])
	putUser(t, e, on0[3])
	wantUsers := append([]string{on0[1], on0[2], on0[3]}, on1...)
	slices.Sort(wantUsers)
	await.Cond(t, 10*time.Second, "records from the sequence", func() bool { return len(users(t, out)) >= len(wantUsers) })
	stop()
	if got := users(t, out); !slices.Equal(got, wantUsers) {
		t.Fatalf("delivered %v, want %v: shard 0 from message 2, shard 1 whole (put after the start)", got, wantUsers)
	}

	// A reshard opens shards the delivery has no checkpoint of: they hold
	// only records put after its first start, and are read whole, even
	// when its start is changed to a time none of them reaches.
	if err := e.store.UpdateShardCount(context.Background(), "events", 4, false); err != nil {
		t.Fatal(err)
	}
	later := want(100, 120)
	putUsers(t, e, 100, 120)
	stop = startAt(t, e, "seq", out, pipeline.StartPosition{At: pipeline.StartTimestamp, Time: time.Now().Add(24 * time.Hour)})
	await.Cond(t, 10*time.Second, "the children's records", func() bool { return len(users(t, out)) >= len(wantUsers)+len(later) })
	stop()
	wantUsers = append(wantUsers, later...)
	slices.Sort(wantUsers)
	if got := users(t, out); !slices.Equal(got, wantUsers) {
		t.Fatalf("after a reshard delivered %v, want %v", got, wantUsers)
	}
	if p, ok, err := pipeline.PinnedStart(context.Background(), e.store, "seq"); err != nil || !ok || p != seq {
		t.Fatalf("pinned start %v %v %v, want %v", p, ok, err, seq)
	}
}

// PlanReset and WriteCheckpoints make a delivery deliver again what
// arrived since a time.
func TestResetCheckpoints(t *testing.T) {
	e := newEnv(t, 2)
	putUsers(t, e, 0, 10)
	putUsers(t, e, 10, 20)
	at := firstArrival(t, e, 10, 20)
	out := t.TempDir()
	stop := startAt(t, e, "archive", out, pipeline.StartPosition{})
	await.Cond(t, 10*time.Second, "everything", func() bool { return len(users(t, out)) >= 20 })
	stop()
	ctx := context.Background()
	plan, err := pipeline.PlanReset(ctx, e.store, "events", pipeline.StartPosition{At: pipeline.StartTimestamp, Time: at})
	if err != nil {
		t.Fatal(err)
	}
	if err := pipeline.WriteCheckpoints(ctx, e.store, "archive", plan); err != nil {
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
