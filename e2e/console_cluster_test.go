package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/internal/testnats"
)

// consoleClusterConfig is one node of a two-node cluster, without
// credentials.
func consoleClusterConfig(natsURL, node string) string {
	return fmt.Sprintf(`server: {listen: "{{LISTEN}}"}
storage:
  data_dir: "{{DIR}}/data"
  nats: {url: %q, replicas: 1, node_name: %s, lease_ttl: 3s}
streams:
  - {name: events, shards: %d}
deliveries:
  - name: archive
    source: events
    buffer: {size: 1MiB, interval: 1s}
    destination: {file: {dir: "{{DIR}}/out"}}
`, natsURL, node, clusterShards)
}

// The console of a cluster node shows the Cluster page: both nodes, and
// which of them holds the lease of each of the delivery's shards.
func TestConsoleCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS, two hydrant processes and a browser")
	}
	b := openBrowser(t, "console-cluster")
	nats := testnats.StartCluster(t, 3)
	var first *hydrant
	for _, name := range []string{"n1", "n2"} {
		h := startHydrant(t, t.TempDir(), freeAddr(t), consoleClusterConfig(nats.URL(), name))
		if first == nil {
			first = h
		}
	}
	await.Cond(t, 30*time.Second, "the 6 shards spread 3 per node", func() bool {
		own, err := owners(first.url)
		return err == nil && spread(own, "n1", "n2")
	})

	b.run("cluster page", chromedp.Navigate(first.url+"/console/#/cluster"))
	b.waitFor("the nav link to Cluster", `!document.querySelector("#nav-cluster").hidden`, 15*time.Second)
	b.waitFor("the nodes and the lease owners", `document.querySelectorAll("main table").length === 2 &&
		document.querySelectorAll("main table")[1].querySelectorAll("tbody tr").length === 6`, 15*time.Second)
	nodes := b.eval(`document.querySelectorAll("main table")[0].innerText`)
	leases := b.eval(`document.querySelectorAll("main table")[1].innerText`)
	for _, want := range []string{"Nodes (this is n1", "n1\t", "n2\t"} {
		if !strings.Contains(nodes, want) {
			t.Errorf("nodes table lacks %q:\n%s", want, nodes)
		}
	}
	if strings.Count(leases, "\tn1") != 3 || strings.Count(leases, "\tn2") != 3 {
		t.Errorf("lease owners, want 3 shards each:\n%s", leases)
	}
	t.Logf("nodes:\n%s\nleases:\n%s", nodes, leases)
	b.screenshot("cluster")
}
