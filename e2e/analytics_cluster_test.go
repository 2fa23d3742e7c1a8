package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/internal/testnats"
)

func analyticsClusterConfig(natsURL, node string) string {
	return fmt.Sprintf(`server: {listen: "{{LISTEN}}"}
storage:
  data_dir: "{{DIR}}/data"
  nats: {url: %q, replicas: 3, node_name: %s, lease_ttl: %s}
streams:
  - name: trades
    shards: 2
    partition_key_field: /ticker
    shard_limits: {bytes_per_second: 64MiB, records_per_second: 100000}
  - {name: ticker-stats, shard_limits: {records_per_second: 100000}}
analytics:
%s
`, natsURL, node, clusterLeaseTTL, perTickerApp)
}

// A SQL application on a cluster of two nodes runs on one of them, under
// a lease; killed with -9, its node's application moves to the other
// within the lease TTL and goes on from the window it had open: the output
// stream holds exactly the results of the trades stored, each once.
func TestAnalyticsOnAClusterMovesOnNodeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster and two hydrant processes")
	}
	nats := testnats.StartCluster(t, 3)
	names := []string{"n1", "n2"}
	nodes := map[string]*hydrant{}
	for _, name := range names {
		nodes[name] = startHydrant(t, t.TempDir(), freeAddr(t), analyticsClusterConfig(nats.URL(), name))
	}
	// owner is the node the application runs on, as both nodes report it
	// ("" until they agree and its holder says it runs it).
	owner := func(alive ...string) string {
		var o string
		for i, n := range alive {
			st, ok := analyticsStatus(t, nodes[n])["per-ticker"]
			if !ok || st.Owner == "" || (i > 0 && st.Owner != o) {
				return ""
			}
			o = st.Owner
		}
		if st := analyticsStatus(t, nodes[o])["per-ticker"]; !st.Running {
			return ""
		}
		return o
	}
	var first string
	await.Cond(t, 30*time.Second, "the application running on one node", func() bool { first = owner(names...); return first != "" })
	for _, n := range names {
		if st := analyticsStatus(t, nodes[n])["per-ticker"]; st.Running != (n == first) {
			t.Fatalf("node %s: running %v; the application's lease is %s's", n, st.Running, first)
		}
	}
	other := names[0]
	if other == first {
		other = names[1]
	}

	// Producers put through the node that stays.
	trades := startTrades(nodes[other].url, 2, []string{"AMZN", "MSFT", "GOOG", "AAPL"})
	emittedOn := func(n string) *time.Time { return analyticsStatus(t, nodes[n])["per-ticker"].EmittedThrough }
	await.Cond(t, 60*time.Second, "a window emitted on "+first, func() bool { return emittedOn(first) != nil })
	before := *emittedOn(first)
	await.Cond(t, 30*time.Second, "another window emitted on "+first, func() bool {
		e := emittedOn(first)
		return e != nil && e.After(before)
	})
	killed := time.Now()
	nodes[first].kill() // a window is open: producers are putting
	await.Cond(t, clusterLeaseTTL+20*time.Second, "the application running on "+other, func() bool { return owner(other) == other })
	t.Logf("the application moved from %s to %s %v after SIGKILL (lease TTL %v)", first, other, time.Since(killed).Round(10*time.Millisecond), clusterLeaseTTL)
	moved := time.Now()
	await.Cond(t, 60*time.Second, "windows emitted on "+other, func() bool {
		e := emittedOn(other)
		return e != nil && e.After(moved)
	})
	trades.stop()

	kin := kinesis.New(kinesis.Options{BaseEndpoint: aws.String(nodes[other].url), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("any", "any", "")})
	want := expectedResults("", readTrades(t, kin))["ticker-stats"]
	var got []string
	if !await.Within(60*time.Second, func() bool {
		got = normalize(t, "ticker-stats", readStream(t, kin, "ticker-stats"))
		return slices.Equal(got, want)
	}) {
		t.Fatalf("the output stream: %d rows, want %d; first differences:\n%s", len(got), len(want), diffRows(got, want))
	}
	t.Logf("%d results, each once, across the move", len(want))
}
