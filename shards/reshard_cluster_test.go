package shards

import (
	"context"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/internal/testnats"
)

// On a cluster, one node reshards while producers put through two: the
// other node learns the lineage from the streams bucket and follows it,
// and no record of a key lands in a child before the parent's last one —
// a put the other node still sends to a closed parent fails (the producer
// puts it again, to the child).
func TestClusterReshardKeepsKeyOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := testnats.StartCluster(t, 3)
	var nodes [2]*Store
	var streams [2]*Stream
	for i := range nodes {
		s, err := Open(ctx, StoreConfig{NATS: &NATSConfig{URL: c.URL(), Replicas: 3, Name: fmt.Sprintf("node-%d", i)},
			UsageInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		nodes[i] = s
		if streams[i], err = s.CreateStream(ctx, StreamSpec{Name: "grow", Shards: 2, Limits: Limits{BytesPerSecond: 1 << 30, RecordsPerSecond: 1 << 20}}); err != nil {
			t.Fatal(err)
		}
	}
	const producers, keysEach = 4, 10
	stop := make(chan struct{})
	acked := make([]map[string]int, producers)
	var wg sync.WaitGroup
	for p := range producers {
		acked[p] = map[string]int{}
		wg.Go(func() {
			st := streams[p%2]
			for {
				select {
				case <-stop:
					return
				default:
				}
				var recs []Record
				for k := range keysEach {
					key := "p" + strconv.Itoa(p) + "k" + strconv.Itoa(k)
					recs = append(recs, Record{PartitionKey: key, Data: []byte(key + "/" + strconv.Itoa(acked[p][key]))})
				}
				// A record that fails is put again before the key's next one.
				for i, r := range st.Put(ctx, time.Now(), recs) {
					if r.Err == nil {
						acked[p][recs[i].PartitionKey]++
					}
				}
				if ctx.Err() != nil {
					return
				}
			}
		})
	}
	total := func() int64 {
		var n int64
		for id := range streams[0].Shards() {
			c, err := nodes[0].RecordsTotal(ctx, "grow", id)
			if err != nil {
				t.Fatal(err)
			}
			n += c
		}
		return n
	}
	quarter := hashKeyFromBig(new(big.Int).Lsh(big.NewInt(1), 126))
	for i, step := range []func() error{
		func() error { return nodes[0].SplitShard(ctx, "grow", 0, quarter) },
		func() error { return nodes[0].UpdateShardCount(ctx, "grow", 4, false) },
		func() error {
			o := streams[0].Lineage().Open()
			return nodes[0].MergeShards(ctx, "grow", o[0].ID, o[1].ID)
		},
	} {
		want := total() + 300
		await.Cond(t, 30*time.Second, "300 more records between reshards", func() bool { return total() >= want })
		if err := step(); err != nil {
			t.Fatalf("reshard %d: %v", i, err)
		}
		lin := streams[0].Lineage()
		await.Cond(t, 10*time.Second, "the other node follows the lineage", func() bool {
			return len(streams[1].Lineage().Shards) == len(lin.Shards)
		})
	}
	want := total() + 300
	await.Cond(t, 30*time.Second, "300 more records after the last reshard", func() bool { return total() >= want })
	close(stop)
	wg.Wait()

	// Shards in ID order: parents before their children.
	seen := map[string]int{}
	for id := range streams[0].Shards() {
		for _, r := range readPages(t, nodes[0], "grow", id) {
			key, ns, _ := strings.Cut(string(r.Data), "/")
			n, _ := strconv.Atoi(ns)
			// A put that failed may have been stored all the same (the
			// producer was told to retry): a repeat, never a step back.
			if last, ok := seen[key]; (ok && n != last && n != last+1) || (!ok && n != 0) {
				t.Fatalf("shard %d: key %s record %d after %d", id, key, n, seen[key])
			}
			seen[key] = n
		}
	}
	for p := range producers {
		for key, n := range acked[p] {
			if seen[key] < n-1 {
				t.Errorf("key %s: read up to record %d, %d acknowledged", key, seen[key], n)
			}
		}
	}
	if open := streams[1].OpenShards(); open != 3 {
		t.Errorf("the other node sees %d open shards, want 3", open)
	}
}
