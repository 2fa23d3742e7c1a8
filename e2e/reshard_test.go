package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/hydrant-dev/hydrant/e2e/postgres"
	"github.com/hydrant-dev/hydrant/internal/await"
)

const reshardConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data", fsync: always}
streams:
  - name: orders
    shards: 4
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
deliveries:
  - name: orders-files
    source: orders
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/out", prefix: "orders/"}
  - name: orders-db
    source: orders
    buffer: {size: 1MiB, interval: 1s}
    retry: {duration: 3600s}
    destination:
      postgres:
        dsn: "${PG_DSN}"
        table: public.reshard_orders
        columns:
          - {name: id, type: text}
          - {name: key, type: text}
          - {name: n, type: bigint}
`

// reshardOrder is one record the producers put: the n-th record of key,
// put for the attempt-th time (a put that failed may have been stored all
// the same, and is put again with the next attempt).
type reshardOrder struct {
	ID      string `json:"id"`
	Key     string `json:"key"`
	N       int    `json:"n"`
	Attempt int    `json:"attempt"`
}

// Eight producers put keyed records (1,000 keys) while the stream goes
// 4 → 8 → 4 → 3 → 6 shards by UpdateShardCount, MergeShards and SplitShard,
// with a kill -9 in the middle of one reshard. Every acknowledged record
// reaches the files and Postgres exactly once, and for every key in the
// order it was put; a GetRecords reader that follows ChildShards reads
// each exactly once in per-key order too.
func TestReshardUnderLoadKeepsKeyOrder(t *testing.T) {
	pg := postgres.Start(t)
	conn := pgConnect(t, pg.DSN)
	ctx := context.Background()
	// pos numbers the rows in the order they were loaded (COPY does not
	// name it).
	if _, err := conn.Exec(ctx, `CREATE TABLE public.reshard_orders (pos bigserial, id text, key text, n bigint)`); err != nil {
		t.Fatal(err)
	}
	dir, listen := t.TempDir(), freeAddr(t)
	env := []string{"PG_DSN=" + pg.DSN}
	h := startHydrant(t, dir, listen, reshardConfig, env...)
	kin := kinesis.New(kinesis.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("any", "any", "")})

	load := newKeyedLoad(kin, "orders", 8, 1000)
	load.start()
	more := func(what string) {
		t.Helper()
		before := load.count()
		await.Cond(t, 60*time.Second, what, func() bool { return load.count() >= before+5000 })
	}
	openShards := func() []types.Shard {
		t.Helper()
		out, err := kin.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("orders"),
			ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(out.Shards, func(a, b types.Shard) int {
			return bigKey(a.HashKeyRange.StartingHashKey).Cmp(bigKey(b.HashKeyRange.StartingHashKey))
		})
		return out.Shards
	}
	updateShardCount := func(n int32) error {
		_, err := kin.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("orders"),
			TargetShardCount: aws.Int32(n), ScalingType: types.ScalingTypeUniformScaling})
		return err
	}

	more("5,000 records acknowledged on 4 shards")
	if err := updateShardCount(8); err != nil {
		t.Fatal(err)
	}
	more("5,000 records acknowledged on 8 shards")
	// kill -9 while UpdateShardCount is under way, flipping between 8 and
	// 4 shards: at the moment the request is written (the reshard has not
	// begun, or has), or the moment the log says the stream was resharded
	// (the lineage is stored; the answer may be on its way), until kills have landed
	// both before a reshard took effect and after. The lineage after each
	// restart is whole, and the load goes on.
	var before, after int
	for attempt := 0; attempt < 12 && (before == 0 || after == 0); attempt++ {
		target := int32(4)
		if len(openShards()) == 4 {
			target = 8
		}
		resharded := strings.Count(readLog(t, h), `msg="stream resharded"`)
		running, rctx := h, ctx
		if attempt%2 == 0 {
			rctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { running.kill() }})
		}
		done := make(chan error, 1)
		go func() {
			_, err := kin.UpdateShardCount(rctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("orders"),
				TargetShardCount: aws.Int32(target), ScalingType: types.ScalingTypeUniformScaling},
				func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
			done <- err
		}()
		moment := "the request written"
		if attempt%2 == 1 {
			moment = "the lineage stored"
			await.Cond(t, 30*time.Second, "the log says the stream was resharded", func() bool {
				return strings.Count(readLog(t, h), `msg="stream resharded"`) > resharded
			})
			running.kill()
		}
		err := <-done
		running.kill() // already, unless the request was never written
		h = startHydrant(t, dir, listen, reshardConfig, env...)
		checkLineage(t, kin, "orders")
		took := int32(len(openShards())) == target
		if took {
			after++
		} else {
			before++
		}
		t.Logf("kill at %s of UpdateShardCount(%d): took effect %v (%v)", moment, target, took, err)
		more(fmt.Sprintf("5,000 records acknowledged after kill %d", attempt+1))
	}
	if before == 0 || after == 0 {
		t.Errorf("kills landed %d times before a reshard took effect and %d after; want both", before, after)
	}
	if len(openShards()) != 4 {
		if err := updateShardCount(4); err != nil {
			t.Fatal(err)
		}
	}
	more("5,000 records acknowledged on 4 shards after the restart")
	open := openShards()
	if _, err := kin.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("orders"),
		ShardToMerge: open[1].ShardId, AdjacentShardToMerge: open[2].ShardId}); err != nil {
		t.Fatal(err)
	}
	more("5,000 records acknowledged on 3 shards")
	for _, s := range openShards() {
		mid := new(big.Int).Add(bigKey(s.HashKeyRange.StartingHashKey), bigKey(s.HashKeyRange.EndingHashKey))
		mid.Add(mid, big.NewInt(1)).Rsh(mid, 1)
		if _, err := kin.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("orders"),
			ShardToSplit: s.ShardId, NewStartingHashKey: aws.String(mid.String())}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(openShards()); n != 6 {
		t.Fatalf("%d open shards after splitting 3, want 6", n)
	}
	more("5,000 records acknowledged on 6 shards")
	load.stop()
	checkLineage(t, kin, "orders")
	acked := load.acked()
	t.Logf("%d records acknowledged over %d keys", len(acked), 1000)

	// Postgres, in load order.
	var rows []reshardOrder
	await.Cond(t, 2*time.Minute, "every acknowledged record in Postgres", func() bool {
		rows = rows[:0]
		r, err := conn.Query(ctx, "SELECT id, key, n FROM public.reshard_orders ORDER BY pos")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for r.Next() {
			var o reshardOrder
			if err := r.Scan(&o.ID, &o.Key, &o.N); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, o)
		}
		return countAcked(rows, acked) == len(acked)
	})
	checkKeyOrder(t, "postgres", rows, acked)

	// Files, in the order they were written.
	var lines []reshardOrder
	await.Cond(t, 2*time.Minute, "every acknowledged record in the files", func() bool {
		lines = readFilesInOrder(t, filepath.Join(dir, "out"))
		return countAcked(lines, acked) == len(acked)
	})
	checkKeyOrder(t, "files", lines, acked)

	// A Kinesis reader that follows the lineage.
	checkKeyOrder(t, "GetRecords", readLineage(t, kin, "orders"), acked)
}

// keyedLoad is producers putting numbered records of their own keys with
// PutRecords: a record that fails is put again before its key's next one.
type keyedLoad struct {
	kin    *kinesis.Client
	stream string
	keys   [][]string // per producer
	mu     sync.Mutex
	ok     map[string]bool // ids acknowledged
	quit   chan struct{}
	wg     sync.WaitGroup
}

func newKeyedLoad(kin *kinesis.Client, stream string, producers, keys int) *keyedLoad {
	l := &keyedLoad{kin: kin, stream: stream, keys: make([][]string, producers), ok: map[string]bool{}, quit: make(chan struct{})}
	for k := range keys {
		l.keys[k%producers] = append(l.keys[k%producers], fmt.Sprintf("key-%04d", k))
	}
	return l
}

func (l *keyedLoad) start() {
	for _, keys := range l.keys {
		l.wg.Go(func() { l.produce(keys) })
	}
}

func (l *keyedLoad) produce(keys []string) {
	next := map[string]int{}    // the key's next record
	attempt := map[string]int{} // its attempts so far
	for {
		select {
		case <-l.quit:
			return
		default:
		}
		var entries []types.PutRecordsRequestEntry
		var ids []string
		for _, k := range keys {
			attempt[k]++
			o := reshardOrder{ID: fmt.Sprintf("%s/%d/%d", k, next[k], attempt[k]), Key: k, N: next[k], Attempt: attempt[k]}
			data, _ := json.Marshal(o)
			entries = append(entries, types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(k)})
			ids = append(ids, o.ID)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		// No retries by the SDK: a retry of a put whose answer was lost
		// (at a kill) would store the same ids twice; the next round puts
		// them again under new attempt numbers instead.
		out, err := l.kin.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(l.stream), Records: entries},
			func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
		cancel()
		if err != nil {
			select { // down (killed): try again in a moment
			case <-l.quit:
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		l.mu.Lock()
		for i, r := range out.Records {
			if r.ErrorCode == nil {
				l.ok[ids[i]] = true
				next[keys[i]]++
				attempt[keys[i]] = 0
			}
		}
		l.mu.Unlock()
	}
}

func (l *keyedLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ok)
}

func (l *keyedLoad) stop() {
	close(l.quit)
	l.wg.Wait()
}

func (l *keyedLoad) acked() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]bool, len(l.ok))
	for id := range l.ok {
		out[id] = true
	}
	return out
}

func countAcked(got []reshardOrder, acked map[string]bool) int {
	seen := map[string]bool{}
	for _, o := range got {
		if acked[o.ID] {
			seen[o.ID] = true
		}
	}
	return len(seen)
}

// checkKeyOrder asserts every acknowledged record is in got exactly once
// and each key's records come in the order they were put: never an older
// record after a newer one. (A put that failed but was stored all the same
// is a record of its own; it may come, but only in its place.)
func checkKeyOrder(t *testing.T, where string, got []reshardOrder, acked map[string]bool) {
	t.Helper()
	times := map[string]int{}
	last := map[string]int{}
	for i, o := range got {
		times[o.ID]++
		if n, ok := last[o.Key]; ok && o.N < n {
			t.Errorf("%s: key %s: record %d comes after record %d (position %d)", where, o.Key, o.N, n, i)
			return
		}
		last[o.Key] = o.N
	}
	lost, twice := 0, 0
	for id := range acked {
		switch times[id] {
		case 0:
			lost++
		case 1:
		default:
			twice++
		}
	}
	if lost > 0 || twice > 0 {
		t.Errorf("%s: of %d acknowledged records, %d missing and %d more than once", where, len(acked), lost, twice)
	}
}

// readFilesInOrder reads the records of every file under root, files in
// the order they were written.
func readFilesInOrder(t *testing.T, root string) []reshardOrder {
	t.Helper()
	type file struct {
		path string
		mod  time.Time
	}
	var files []file
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".jsonl") {
			return nil
		}
		if info, err := d.Info(); err == nil {
			files = append(files, file{path, info.ModTime()})
		}
		return nil
	})
	slices.SortFunc(files, func(a, b file) int { return a.mod.Compare(b.mod) })
	var out []reshardOrder
	for _, f := range files {
		b, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			var o reshardOrder
			if err := json.Unmarshal([]byte(line), &o); err != nil {
				t.Fatalf("%s: %q: %v", f.path, line, err)
			}
			out = append(out, o)
		}
	}
	return out
}

// checkLineage asserts the stream's lineage is whole: the open shards cover
// the hash-key space exactly once, and every parent is closed.
func checkLineage(t *testing.T, kin *kinesis.Client, stream string) {
	t.Helper()
	shards := listAllShards(t, kin, stream)
	byID := map[string]types.Shard{}
	for _, s := range shards {
		byID[aws.ToString(s.ShardId)] = s
	}
	var open []types.Shard
	for _, s := range shards {
		if s.SequenceNumberRange.EndingSequenceNumber == nil {
			open = append(open, s)
		}
		for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
			if p == nil {
				continue
			}
			if parent, ok := byID[*p]; !ok || parent.SequenceNumberRange.EndingSequenceNumber == nil {
				t.Fatalf("shard %s: parent %s missing or open", aws.ToString(s.ShardId), *p)
			}
		}
	}
	slices.SortFunc(open, func(a, b types.Shard) int {
		return bigKey(a.HashKeyRange.StartingHashKey).Cmp(bigKey(b.HashKeyRange.StartingHashKey))
	})
	next := big.NewInt(0)
	for _, s := range open {
		if bigKey(s.HashKeyRange.StartingHashKey).Cmp(next) != 0 {
			t.Fatalf("open shard %s starts at %s, want %s", aws.ToString(s.ShardId), aws.ToString(s.HashKeyRange.StartingHashKey), next)
		}
		next = new(big.Int).Add(bigKey(s.HashKeyRange.EndingHashKey), big.NewInt(1))
	}
	if next.Cmp(new(big.Int).Lsh(big.NewInt(1), 128)) != 0 {
		t.Fatalf("open shards end at %s, want 2^128", next)
	}
}

func listAllShards(t *testing.T, kin *kinesis.Client, stream string) []types.Shard {
	t.Helper()
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		out, err := kin.ListShards(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			return shards
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

func bigKey(s *string) *big.Int {
	n, _ := new(big.Int).SetString(aws.ToString(s), 10)
	if n == nil {
		return new(big.Int)
	}
	return n
}

// readLineage reads the stream as KCL does: the shards without parents from
// TRIM_HORIZON, each to its end, and a child once all its parents are read
// (from the ChildShards of their last GetRecords); an open shard until it
// is caught up.
func readLineage(t *testing.T, kin *kinesis.Client, stream string) []reshardOrder {
	t.Helper()
	ctx := context.Background()
	parents := map[string][]string{}
	var queue []string
	for _, s := range listAllShards(t, kin, stream) {
		if s.ParentShardId == nil && s.AdjacentParentShardId == nil {
			queue = append(queue, aws.ToString(s.ShardId))
		}
	}
	done := map[string]bool{}
	queued := map[string]bool{}
	for _, id := range queue {
		queued[id] = true
	}
	var out []reshardOrder
	for len(queue) > 0 {
		shard := queue[0]
		queue = queue[1:]
		it, err := kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream),
			ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		var children []types.ChildShard
		for iter != nil {
			res, err := kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			var throttled *types.ProvisionedThroughputExceededException
			if errors.As(err, &throttled) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Records {
				var o reshardOrder
				if err := json.Unmarshal(r.Data, &o); err != nil {
					t.Fatal(err)
				}
				out = append(out, o)
			}
			children = res.ChildShards
			if res.NextShardIterator == nil {
				break // the end of a closed shard
			}
			if len(res.Records) == 0 && aws.ToInt64(res.MillisBehindLatest) == 0 {
				break // an open shard, caught up: nothing is being put
			}
			iter = res.NextShardIterator
		}
		done[shard] = true
		for _, c := range children {
			id := aws.ToString(c.ShardId)
			parents[id] = c.ParentShards
			ready := true
			for _, p := range c.ParentShards {
				ready = ready && done[p]
			}
			if ready && !queued[id] {
				queued[id] = true
				queue = append(queue, id)
			}
		}
	}
	if len(done) != len(listAllShards(t, kin, stream)) {
		t.Errorf("GetRecords reached %d shards following ChildShards, the stream has %d", len(done), len(listAllShards(t, kin, stream)))
	}
	return out
}

// readLog returns what the running hydrant has logged so far.
func readLog(t *testing.T, h *hydrant) string {
	t.Helper()
	b, err := os.ReadFile(h.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
