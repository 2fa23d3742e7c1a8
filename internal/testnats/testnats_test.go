package testnats

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func connect(t *testing.T, url string, opts ...nats.Option) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// A replicated stream keeps its data and takes writes with a server
// stopped, and the server comes back on its ports and store.
func TestClusterStopRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := StartCluster(t, 3)
	if got := strings.Count(c.URL(), ","); got != 2 {
		t.Fatalf("URL() = %q, want 3 comma-separated URLs", c.URL())
	}
	js := connect(t, c.URL())
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "s", Subjects: []string{"s"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "s", []byte("one")); err != nil {
		t.Fatal(err)
	}
	leader := c.Index(s.CachedInfo().Cluster.Leader)
	if leader < 0 {
		t.Fatalf("stream leader %q is not a server of the cluster", s.CachedInfo().Cluster.Leader)
	}
	c.Stop(leader)
	if c.Server(leader) != nil {
		t.Fatal("a stopped server is still returned")
	}
	// The others elect a new leader: publishing works again.
	await.Cond(t, 20*time.Second, "a publish with one server stopped", func() bool {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		defer pcancel()
		_, err := js.Publish(pctx, "s", []byte("two"))
		return err == nil
	})
	c.Restart(leader)
	// The restarted server catches up from the others.
	await.Cond(t, 20*time.Second, "the restarted server to hold both messages", func() bool {
		jsz, err := c.Server(leader).Jsz(&server.JSzOptions{Streams: true})
		return err == nil && jsz.Messages >= 2
	})
}

func TestStartOneWithToken(t *testing.T) {
	c := StartOne(t, Configure(func(o *server.Options) { o.Authorization = "s3cr3t" }, nats.Token("s3cr3t")))
	if c.Size() != 1 || c.Name(0) != "n1" {
		t.Fatalf("Size, Name = %d, %s", c.Size(), c.Name(0))
	}
	if _, err := nats.Connect(c.URL()); err == nil {
		t.Fatal("connected without the token")
	}
	js := connect(t, c.URL(), nats.Token("s3cr3t"))
	if _, err := js.AccountInfo(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Every route goes through the proxies that Kill cuts: none goes straight
// to a server's own route port, as one learnt from another server's gossip
// would, and which would survive Kill.
func TestRoutesGoThroughTheProxies(t *testing.T) {
	c := StartCluster(t, 3)
	for i := range c.Size() {
		rz, err := c.Server(i).Routez(&server.RoutezOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rz.Routes) == 0 {
			t.Fatalf("%s has no routes", c.Name(i))
		}
		for _, r := range rz.Routes {
			for j := range c.Size() {
				if r.DidSolicit && r.Port == c.servers[j].route {
					t.Errorf("%s routes to %s on its route port %d, not through a proxy", c.Name(i), r.RemoteName, r.Port)
				}
			}
		}
	}
}

// A killed leader gives no notice: its stream elects a new leader only
// after the election timeout, as after a crash.
func TestKillLeaderTakesAnElection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := StartCluster(t, 3)
	js := connect(t, c.URL())
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "s", Subjects: []string{"s"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	leader := c.Index(s.CachedInfo().Cluster.Leader)
	killed := time.Now()
	c.Kill(leader)
	await.Cond(t, 30*time.Second, "a publish after killing the leader", func() bool {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		defer pcancel()
		_, err := js.Publish(pctx, "s", []byte("x"))
		return err == nil
	})
	gap := time.Since(killed)
	t.Logf("killed %s: publishing again after %v", c.Name(leader), gap)
	if gap < 2*time.Second {
		t.Fatalf("a new leader within %v of the kill: the others were told (a Stop, not a crash)", gap)
	}
	c.Restart(leader)
}
