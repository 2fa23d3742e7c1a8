package awsapi_test

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/hydrant-dev/hydrant/shards"
)

// producer puts records "key/n" of keys key-0…key-(keys−1) to orders, n
// counting each key's records from 0, and remembers the shard each went to
// (by its data) as PutRecords reported it.
type producer struct {
	e     *reshardEnv
	keys  int
	mu    sync.Mutex
	next  map[string]int
	shard map[string]string
}

func newProducer(e *reshardEnv, keys int) *producer {
	return &producer{e: e, keys: keys, next: map[string]int{}, shard: map[string]string{}}
}

// round puts one record of every key in one PutRecords call. Every record
// must be stored, and go to the open shard whose range holds its key's
// hash.
func (p *producer) round(t testing.TB) {
	p.mu.Lock()
	defer p.mu.Unlock()
	entries := make([]types.PutRecordsRequestEntry, p.keys)
	for k := range p.keys {
		key := fmt.Sprintf("key-%d", k)
		entries[k] = types.PutRecordsRequestEntry{PartitionKey: aws.String(key), Data: fmt.Appendf(nil, "%s/%d", key, p.next[key])}
		p.next[key]++
	}
	out, err := p.e.kin.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String("orders"), Records: entries})
	if err != nil {
		t.Error(err)
		return
	}
	if aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Errorf("PutRecords: %d records failed", aws.ToInt32(out.FailedRecordCount))
	}
	for i, r := range out.Records {
		p.shard[string(entries[i].Data)] = aws.ToString(r.ShardId)
	}
}

// kclRead reads a stream as the KCL does: the shards open at the trim
// horizon from TRIM_HORIZON, each to its end, then the children named by
// the last GetRecords of a closed shard, each once all its parents are
// read. It checks the end of every closed shard: no NextShardIterator,
// ChildShards that name their parents and ranges as ListShards does,
// MillisBehindLatest 0, and none of that before the end. It returns the
// records in the order read, and the shards read.
func kclRead(t *testing.T, e *reshardEnv) (map[string][]types.Record, []string) {
	t.Helper()
	ctx := context.Background()
	listed := map[string]types.Shard{}
	for _, s := range e.listAll(t, kinesis.ListShardsInput{StreamName: aws.String("orders")}) {
		listed[aws.ToString(s.ShardId)] = s
	}
	var todo []string
	for _, s := range e.listAll(t, kinesis.ListShardsInput{StreamName: aws.String("orders"),
		ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtTrimHorizon}}) {
		todo = append(todo, aws.ToString(s.ShardId))
	}
	parents := map[string][]string{}
	done := map[string]bool{}
	records := map[string][]types.Record{}
	var read []string
	for len(todo) > 0 {
		shard := todo[0]
		todo = todo[1:]
		if done[shard] || slices.ContainsFunc(parents[shard], func(p string) bool { return !done[p] }) {
			if !done[shard] {
				todo = append(todo, shard) // a parent is not read yet
			}
			continue
		}
		it, err := e.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("orders"),
			ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		next := it.ShardIterator
		for page := 0; ; page++ {
			if page > 1000 {
				t.Fatalf("%s: no end after 1000 pages", shard)
			}
			out, err := e.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: next, Limit: aws.Int32(7)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Records {
				records[aws.ToString(r.PartitionKey)] = append(records[aws.ToString(r.PartitionKey)], r)
			}
			if out.NextShardIterator != nil {
				if len(out.ChildShards) > 0 {
					t.Fatalf("%s: ChildShards before the end of the shard", shard)
				}
				if len(out.Records) == 0 && isOpen(listed[shard]) {
					break // the tip of an open shard
				}
				next = out.NextShardIterator
				continue
			}
			if isOpen(listed[shard]) || aws.ToInt64(out.MillisBehindLatest) != 0 {
				t.Fatalf("%s ended (open %v, %d ms behind)", shard, isOpen(listed[shard]), aws.ToInt64(out.MillisBehindLatest))
			}
			for _, c := range out.ChildShards {
				id := aws.ToString(c.ShardId)
				want := listed[id]
				wantParents := []string{aws.ToString(want.ParentShardId)}
				if want.AdjacentParentShardId != nil {
					wantParents = append(wantParents, aws.ToString(want.AdjacentParentShardId))
				}
				if !slices.Equal(c.ParentShards, wantParents) || !slices.Contains(c.ParentShards, shard) ||
					aws.ToString(c.HashKeyRange.StartingHashKey) != aws.ToString(want.HashKeyRange.StartingHashKey) ||
					aws.ToString(c.HashKeyRange.EndingHashKey) != aws.ToString(want.HashKeyRange.EndingHashKey) {
					t.Fatalf("%s: child %s = %v %+v; ListShards has %v %+v", shard, id, c.ParentShards, *c.HashKeyRange, wantParents, *want.HashKeyRange)
				}
				parents[id] = c.ParentShards
				todo = append(todo, id)
			}
			if len(out.ChildShards) == 0 {
				t.Fatalf("%s: closed shard ended without children", shard)
			}
			break
		}
		done[shard] = true
		read = append(read, shard)
	}
	return records, read
}

// checkReadOnceInOrder checks that every record p put was read exactly
// once, each key's in the order put.
func checkReadOnceInOrder(t *testing.T, p *producer, records map[string][]types.Record) {
	t.Helper()
	total := 0
	for k := range p.keys {
		key := fmt.Sprintf("key-%d", k)
		recs := records[key]
		if len(recs) != p.next[key] {
			t.Fatalf("%s: read %d records, put %d", key, len(recs), p.next[key])
		}
		for n, r := range recs {
			if data := fmt.Sprintf("%s/%d", key, n); string(r.Data) != data {
				t.Fatalf("%s: record %d read is %q, want %q", key, n, r.Data, data)
			}
		}
		total += len(recs)
	}
	if len(records) != p.keys {
		t.Fatalf("records of %d keys read, %d put", len(records), p.keys)
	}
	t.Logf("%d records of %d keys read once each, in order", total, p.keys)
}

// Records put before and after a split (of a shard whose child is split
// again before it takes a record) and a merge are read exactly once, each
// key's in order, by a reader that follows ChildShards from the shards
// open at the trim horizon; each from the shard PutRecords reported.
func TestGetRecordsFollowsChildShards(t *testing.T) {
	e := newReshardEnv(t, 0, nil)
	p := newProducer(e, 40)
	p.round(t)
	p.round(t)
	e.split(t, "orders", 0, middleOf(0)) // 0 → 4, 5
	upper := evenRange(4, 0)[1]
	e.split(t, "orders", 5, new(big.Int).Sub(bigOf(upper), big.NewInt(1000))) // 5 → 6, 7, with no record
	p.round(t)
	p.round(t)
	e.merge(t, "orders", 2, 3) // → 8
	p.round(t)
	checkLineage(t, e, "orders")

	records, read := kclRead(t, e)
	checkReadOnceInOrder(t, p, records)
	slices.Sort(read)
	if strings.Join(read, " ") != strings.Join(allShardIDs(9), " ") {
		t.Fatalf("read shards %v, want all nine", read)
	}
	checkShardsOfPuts(t, e, p)
}

// checkShardsOfPuts reads every shard on its own and checks that each
// record is where PutRecords said it went.
func checkShardsOfPuts(t *testing.T, e *reshardEnv, p *producer) {
	t.Helper()
	ctx := context.Background()
	for _, id := range allShardIDs(len(e.listAll(t, kinesis.ListShardsInput{StreamName: aws.String("orders")}))) {
		n, _ := shards.ParseShardID(id)
		res, err := e.store.Read(ctx, "orders", n, 0, 100000, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Records {
			if got := p.shard[string(r.Data)]; got != id {
				t.Fatalf("%q is in %s; PutRecords said %s", r.Data, id, got)
			}
		}
	}
}

func allShardIDs(n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = shards.ShardID(i)
	}
	return out
}

// A closed shard read from any position ends with its children: after its
// last record, at it, from LATEST, and, having taken none, at once.
func TestClosedShardIterators(t *testing.T) {
	e := newReshardEnv(t, 0, nil)
	ctx := context.Background()
	put, err := e.kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("orders"), Data: []byte("last"),
		PartitionKey: aws.String("k"), ExplicitHashKey: aws.String("5")})
	if err != nil || aws.ToString(put.ShardId) != "shardId-000000000000" {
		t.Fatalf("PutRecord: %v, %v", put, err)
	}
	e.split(t, "orders", 0, middleOf(0)) // 0 → 4, 5
	e.split(t, "orders", 4, big.NewInt(1000))
	after, err := e.kin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("orders"), Data: []byte("child"),
		PartitionKey: aws.String("k"), ExplicitHashKey: aws.String("5")})
	if err != nil || aws.ToString(after.ShardId) != "shardId-000000000006" {
		t.Fatalf("PutRecord after the splits went to %v (%v), want shardId-000000000006", aws.ToString(after.ShardId), err)
	}
	children := "shardId-000000000004 [shardId-000000000000], shardId-000000000005 [shardId-000000000000]"
	tests := []struct {
		name, shard string
		kind        types.ShardIteratorType
		seq         string
		records     string // data read, comma-separated
		children    string
	}{
		{"TRIM_HORIZON", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "", "last", children},
		{"AT_SEQUENCE_NUMBER of the last record", "shardId-000000000000", types.ShardIteratorTypeAtSequenceNumber, aws.ToString(put.SequenceNumber), "last", children},
		{"AFTER_SEQUENCE_NUMBER of the last record", "shardId-000000000000", types.ShardIteratorTypeAfterSequenceNumber, aws.ToString(put.SequenceNumber), "", children},
		{"LATEST", "shardId-000000000000", types.ShardIteratorTypeLatest, "", "", children},
		{"a shard that took no record", "shardId-000000000004", types.ShardIteratorTypeTrimHorizon, "",
			"", "shardId-000000000006 [shardId-000000000004], shardId-000000000007 [shardId-000000000004]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &kinesis.GetShardIteratorInput{StreamName: aws.String("orders"), ShardId: aws.String(tt.shard), ShardIteratorType: tt.kind}
			if tt.seq != "" {
				in.StartingSequenceNumber = aws.String(tt.seq)
			}
			it, err := e.kin.GetShardIterator(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := e.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
			if err != nil {
				t.Fatal(err)
			}
			var data, kids []string
			for _, r := range out.Records {
				data = append(data, string(r.Data))
			}
			for _, c := range out.ChildShards {
				kids = append(kids, fmt.Sprintf("%s %v", aws.ToString(c.ShardId), c.ParentShards))
			}
			if strings.Join(data, ",") != tt.records || strings.Join(kids, ", ") != tt.children || out.NextShardIterator != nil ||
				aws.ToInt64(out.MillisBehindLatest) != 0 {
				t.Fatalf("GetRecords: records %v, children %v, next %v, %d ms behind; want %q, %q, none, 0",
					data, kids, out.NextShardIterator, aws.ToInt64(out.MillisBehindLatest), tt.records, tt.children)
			}
		})
	}
}

// Records put by a producer while the stream is split, merged and scaled
// are each read exactly once, each key's in order: a reshard waits for the
// puts under way and the next ones go to the children.
func TestPutsDuringReshardsReadOnceInOrder(t *testing.T) {
	e := newReshardEnv(t, 0, nil)
	p := newProducer(e, 25)
	rounds := make(chan struct{}, 1000)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			p.round(t)
			e.clock.Add(time.Millisecond)
			select {
			case rounds <- struct{}{}:
			case <-stop:
				return
			}
		}
	})
	// wait lets the producer put a few more rounds between reshards.
	wait := func() {
		for range 3 {
			<-rounds
		}
	}
	wait()
	e.split(t, "orders", 1, middleOf(1))
	wait()
	e.merge(t, "orders", 2, 3)
	wait()
	e.updateShardCount(t, "orders", 6)
	wait()
	e.updateShardCount(t, "orders", 3)
	wait()
	close(stop)
	wg.Wait()
	checkLineage(t, e, "orders")
	records, _ := kclRead(t, e)
	checkReadOnceInOrder(t, p, records)
	checkShardsOfPuts(t, e, p)
}
