package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/cluster"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/internal/testnats"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// clusterLeaseTTL is the nodes' lease TTL in the cluster tests: short, so
// that takeovers fit the test's time.
const clusterLeaseTTL = 3 * time.Second

const clusterShards = 6

// clusterConfig is one node's config: the same stream and delivery on every
// node, a node name of its own, files written to the node's own directory
// (so the test can tell which node delivered what).
func clusterConfig(natsURL, node string) string {
	return fmt.Sprintf(`server: {listen: "{{LISTEN}}"}
storage:
  data_dir: "{{DIR}}/data"
  nats: {url: %q, replicas: 3, node_name: %s, lease_ttl: %s}
streams:
  - name: events
    shards: %d
    partition_key_field: /id
    shard_limits: {bytes_per_second: 64MiB, records_per_second: 100000}
deliveries:
  - name: archive
    source: events
    buffer: {size: 1MiB, interval: 1s}
    destination: {file: {dir: "{{DIR}}/out"}}
`, natsURL, node, clusterLeaseTTL, clusterShards)
}

// clusterStatus is the part of GET /v1/status the cluster tests read.
type clusterStatus struct {
	Cluster *struct {
		Node  string `json:"node"`
		Nodes []struct {
			Name   string `json:"name"`
			Leases int    `json:"leases"`
		} `json:"nodes"`
	} `json:"cluster"`
	Deliveries []struct {
		Name   string `json:"name"`
		Shards []struct {
			ShardID string `json:"shard_id"`
			Owner   string `json:"owner"`
		} `json:"shards"`
	} `json:"deliveries"`
}

// owners returns the owner of each shard of the archive delivery, as the
// node at url reports them ("" for a shard nobody holds).
func owners(url string) (map[string]string, error) {
	resp, err := http.Get(url + "/v1/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st clusterStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, err
	}
	if st.Cluster == nil {
		return nil, fmt.Errorf("status has no cluster section")
	}
	out := map[string]string{}
	for _, d := range st.Deliveries {
		if d.Name == "archive" {
			for _, s := range d.Shards {
				out[s.ShardID] = s.Owner
			}
		}
	}
	return out, nil
}

// spread reports whether every shard has an owner among nodes, and each of
// nodes owns its even share.
func spread(own map[string]string, nodes ...string) bool {
	if len(own) != clusterShards {
		return false
	}
	counts := map[string]int{}
	for _, o := range own {
		if !slices.Contains(nodes, o) {
			return false
		}
		counts[o]++
	}
	for _, n := range nodes {
		if counts[n] != clusterShards/len(nodes) {
			return false
		}
	}
	return true
}

// deliveredObject is one file a node's delivery wrote.
type deliveredObject struct {
	node, shard, path string
	ids               []string
}

var objectFile = regexp.MustCompile(`^archive-(shardId-\d{12})-\d{20}\.jsonl$`)

// readDelivered reads every object the nodes wrote, by node name.
func readDelivered(outDirs map[string]string) ([]deliveredObject, error) {
	var objs []deliveredObject
	for node, dir := range outDirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			m := objectFile.FindStringSubmatch(d.Name())
			if m == nil {
				return nil
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			obj := deliveredObject{node: node, shard: m[1], path: path}
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
			for sc.Scan() {
				var r struct{ ID string }
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.ID == "" {
					return fmt.Errorf("%s: record %q has no id: %v", path, sc.Bytes(), err)
				}
				obj.ids = append(obj.ids, r.ID)
			}
			objs = append(objs, obj)
			return sc.Err()
		})
		if err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// TestClusterSurvivesLosingANodeAndAServer runs three hydrant nodes on a
// three-server NATS cluster with replicas 3, loads all three, kills one
// node with SIGKILL, then kills the NATS server that leads the leases
// bucket, and checks what users rely on: the dead node's shards move to the
// others within the lease TTL, puts go on while a server is down, every
// acknowledged record is delivered, in order within its shard, and two live
// nodes never deliver a shard at once (a batch may be delivered again, from
// the checkpoint, under the same object name).
func TestClusterSurvivesLosingANodeAndAServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster and three hydrant processes")
	}
	nats := testnats.StartCluster(t, 3)
	names := []string{"n1", "n2", "n3"}
	nodes := make([]*hydrant, len(names))
	outDirs := map[string]string{}
	for i, name := range names {
		dir := t.TempDir()
		outDirs[name] = filepath.Join(dir, "out")
		nodes[i] = startHydrant(t, dir, freeAddr(t), clusterConfig(nats.URL(), name))
	}
	await.Cond(t, 30*time.Second, "the 6 shards spread 2 per node", func() bool {
		own, err := owners(nodes[0].url)
		return err == nil && spread(own, names...)
	})

	loads := make([]*faultLoad, len(nodes))
	for i, n := range nodes {
		loads[i] = newFaultLoad(t, n.url, "events", "cluster-"+names[i])
		loads[i].pace = 10 * time.Millisecond
		loads[i].start(2)
	}
	acked := func() int { return loads[0].ackedCount() + loads[1].ackedCount() + loads[2].ackedCount() }
	await.Cond(t, 60*time.Second, "3,000 records acknowledged through the three nodes", func() bool { return acked() >= 3000 })

	// Lose a node: its shards move to the two others.
	killed := time.Now()
	nodes[2].kill()
	loads[2].stopAndWait()
	await.Cond(t, clusterLeaseTTL+20*time.Second, "n3's shards taken over by n1 and n2", func() bool {
		own, err := owners(nodes[0].url)
		return err == nil && spread(own, "n1", "n2")
	})
	takeover := time.Since(killed)
	t.Logf("n3's shards moved %v after SIGKILL (lease TTL %v)", takeover.Round(10*time.Millisecond), clusterLeaseTTL)
	// The servers expire a lease at most a TTL after its last renewal (at a
	// 250 ms granularity); the rest is the watch, the Create and this poll.
	if takeover > clusterLeaseTTL+2*time.Second {
		t.Errorf("takeover took %v, more than the lease TTL and 2 s", takeover)
	}

	// Lose a NATS server (its routes cut, then gone): with 3 replicas, puts
	// go on once the streams it led have elected new leaders. The one lost
	// leads the leases bucket, the hardest case: no lease can be renewed
	// until the bucket's election (4 to 9 s) ends, longer than the nodes
	// wait (3/4 TTL) before they give their leases up, so every shard stops
	// and is taken again, by whichever node gets it first.
	lost := streamLeader(t, nats, "KV_"+cluster.LeasesBucket)
	t.Logf("killing NATS server %s, the leader of the leases bucket", nats.Name(lost))
	before := loads[0].ackedCount() + loads[1].ackedCount()
	nats.Kill(lost) // as a crash: the others get no notice
	await.Cond(t, 60*time.Second, "2,000 more records acknowledged with a NATS server down", func() bool {
		return loads[0].ackedCount()+loads[1].ackedCount() >= before+2000
	})
	loads[0].stopAndWait()
	loads[1].stopAndWait()

	want := map[string]ackedPut{}
	for _, l := range loads {
		for id, p := range l.ackedSnapshot() {
			want[id] = p
		}
	}
	// Every acknowledged record is delivered with the server still down. In
	// a CI run loaded with race-detector tests (the NATS servers run in this
	// test process, under the race detector too), streams once stayed
	// without a leader for over a minute; the server is then brought back,
	// and what counts is still that nothing acknowledged is lost.
	objs, missing := awaitDelivered(outDirs, want, 60*time.Second)
	if missing > 0 {
		t.Logf("%d of %d acknowledged records not delivered 60 s after the NATS server was lost; restarting it", missing, len(want))
		nats.Restart(lost)
		objs, missing = awaitDelivered(outDirs, want, 90*time.Second)
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged records never delivered", missing, len(want))
	}
	checkClusterDeliveries(t, objs, want, "n3")
}

// streamLeader returns the index of the server that leads stream.
func streamLeader(t *testing.T, c *testnats.Cluster, stream string) int {
	t.Helper()
	nc, err := nats.Connect(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	i := c.Index(s.CachedInfo().Cluster.Leader)
	if i < 0 {
		t.Fatalf("stream %s led by %q, not a server of the cluster", stream, s.CachedInfo().Cluster.Leader)
	}
	return i
}

// awaitDelivered reads the nodes' objects until every record of want is in
// one, or timeout passes; it returns the objects and how many records of
// want they miss.
func awaitDelivered(outDirs map[string]string, want map[string]ackedPut, timeout time.Duration) ([]deliveredObject, int) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		objs, err := readDelivered(outDirs)
		missing := len(want)
		if err == nil {
			seen := map[string]bool{}
			for _, o := range objs {
				for _, id := range o.ids {
					seen[id] = true
				}
			}
			missing = 0
			for id := range want {
				if !seen[id] {
					missing++
				}
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return objs, missing
		}
		<-tick.C
	}
}

// checkClusterDeliveries checks each object holds records of its own shard
// in the order they were stored, and that objects of the same shard written
// by two nodes cover the same records only as a batch delivered again from
// the shard's checkpoint: by the successor of the killed node, whose last
// batches it never checkpointed, or by the node that took a shard over
// from one that gave its lease up with a batch delivered but its
// checkpoint not stored (the leases bucket was leaderless). A batch
// delivered again from the checkpoint starts where the first did, so it has
// the first's object name and replaces it in a shared bucket; any other
// overlap is two nodes delivering the shard at once.
func checkClusterDeliveries(t *testing.T, objs []deliveredObject, want map[string]ackedPut, killed string) {
	t.Helper()
	type span struct {
		node, path  string
		first, last uint64
	}
	spans := map[string][]span{}
	redelivered, retaken := 0, 0
	for _, o := range objs {
		var seqs []uint64
		for _, id := range o.ids {
			p, ok := want[id]
			if !ok {
				continue // from a put that was not acknowledged
			}
			if p.shard != o.shard {
				t.Fatalf("%s (%s) holds record %s of %s", o.path, o.shard, id, p.shard)
			}
			seqs = append(seqs, p.seq)
		}
		if len(seqs) == 0 {
			continue
		}
		if !slices.IsSorted(seqs) {
			t.Errorf("%s: records out of their shard's order", o.path)
		}
		spans[o.shard] = append(spans[o.shard], span{node: o.node, path: o.path, first: seqs[0], last: seqs[len(seqs)-1]})
	}
	for shard, ss := range spans {
		for i, a := range ss {
			for _, b := range ss[i+1:] {
				if a.node == b.node || a.last < b.first || b.last < a.first {
					continue
				}
				if a.node == killed || b.node == killed {
					redelivered++
					continue
				}
				if filepath.Base(a.path) == filepath.Base(b.path) {
					retaken++
					continue
				}
				t.Errorf("%s: %s and %s delivered the same records in different batches (%s: %d..%d, %s: %d..%d)",
					shard, a.node, b.node, a.path, a.first, a.last, b.path, b.first, b.last)
			}
		}
	}
	t.Logf("%d objects over %d shards; %d batches delivered again after the killed node %s, %d by a live node after a lost lease",
		len(objs), len(spans), redelivered, killed, retaken)
}
