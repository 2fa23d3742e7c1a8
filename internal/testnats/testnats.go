// Package testnats runs real NATS servers with JetStream inside the test
// process (nats-server as a library), alone or as a cluster, so that tests
// of the shard log on an external NATS can stop and restart servers at will.
package testnats

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/internal/testnet"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ClusterName is the name of the clusters StartCluster starts.
const ClusterName = "hydrant-test"

// readyTimeout bounds how long a start or restart waits for JetStream to
// answer (a cluster's meta leader election takes a few seconds).
const readyTimeout = 30 * time.Second

// Option configures the servers (auth, TLS, limits) and tells the harness
// how a client then connects.
type Option struct {
	server func(*server.Options)
	client []nats.Option
}

// Configure returns an Option that applies f to every server's options
// before it starts (again at each restart, so f must be deterministic), and
// connects the harness's own readiness checks with client (a token, a TLS
// CA: whatever f makes a client need).
func Configure(f func(*server.Options), client ...nats.Option) Option {
	return Option{server: f, client: client}
}

// Cluster is a set of NATS servers with JetStream started by a test. Servers
// are numbered from 0; server i is named n<i+1>. Safe for concurrent use.
type Cluster struct {
	t       testing.TB
	cluster bool
	opts    []Option

	mu      sync.Mutex
	servers []*member
	// routes[i][j] carries server i's routes to server j (nil for i == j).
	routes [][]*proxy
	// advertise is the route address every server advertises: one that
	// refuses connections, so that all routes go through routes (see nowhere).
	advertise string
}

type member struct {
	name        string
	port, route int
	dir         string
	srv         *server.Server // nil while stopped
}

// StartCluster starts n servers (n >= 1) with JetStream on 127.0.0.1 that
// route to each other as cluster "hydrant-test", each with its own store
// directory, and returns once JetStream answers on every server (its meta
// leader is elected). The servers shut down when the test ends.
func StartCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("testnats: a cluster of %d servers", n)
	}
	c := &Cluster{t: t, cluster: true, opts: opts, advertise: nowhere(t)}
	for i := range n {
		c.servers = append(c.servers, &member{
			name:  fmt.Sprintf("n%d", i+1),
			port:  testnet.FreePort(t),
			route: testnet.FreePort(t),
			dir:   t.TempDir(),
		})
	}
	c.routes = make([][]*proxy, n)
	for i := range n {
		c.routes[i] = make([]*proxy, n)
		for j := range n {
			if j != i {
				c.routes[i][j] = newProxy(t, fmt.Sprintf("127.0.0.1:%d", c.servers[j].route))
			}
		}
	}
	t.Cleanup(c.shutdown)
	for i := range n {
		c.start(i)
	}
	for i := range n {
		c.waitReady(i)
	}
	return c
}

// StartOne starts a single server with JetStream on 127.0.0.1, in no
// cluster, and returns once JetStream answers. It shuts down when the test
// ends.
func StartOne(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	c := &Cluster{t: t, opts: opts, servers: []*member{{name: "n1", port: testnet.FreePort(t), dir: t.TempDir()}}}
	t.Cleanup(c.shutdown)
	c.start(0)
	c.waitReady(0)
	return c
}

// Size returns the number of servers, running or stopped.
func (c *Cluster) Size() int { return len(c.servers) }

// Name returns the server name of server i (n<i+1>).
func (c *Cluster) Name(i int) string { return c.servers[i].name }

// Index returns the number of the server named name, or -1.
func (c *Cluster) Index(name string) int {
	for i, m := range c.servers {
		if m.name == name {
			return i
		}
	}
	return -1
}

// URL returns the client URLs of all the servers, comma-separated, as NATS
// clients take them.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.servers))
	for i := range c.servers {
		urls[i] = c.ServerURL(i)
	}
	return strings.Join(urls, ",")
}

// ServerURL returns the client URL of server i alone.
func (c *Cluster) ServerURL(i int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", c.servers[i].port)
}

// Server returns server i, or nil while it is stopped.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.servers[i].srv
}

// Stop shuts server i down, as an operator would (a server that leads raft
// groups hands their leadership over first). Stopping a stopped server does
// nothing.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	srv := c.servers[i].srv
	c.servers[i].srv = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Kill cuts server i off from the other servers at once, then shuts it
// down. Unlike after Stop, the others learn nothing from it: the raft
// groups it led elect new leaders only when their election timeout passes
// (4 to 9 s in nats-server), as after a crash or a power cut. Its clients
// are disconnected, as when the host's TCP stack resets their connections.
func (c *Cluster) Kill(i int) {
	c.cutRoutes(i, true)
	c.Stop(i)
}

// Restart starts server i again on its ports and store directory, and
// returns once its JetStream answers and it has caught up.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.cutRoutes(i, false)
	c.start(i)
	c.waitReady(i)
}

// cutRoutes cuts or mends the routes to and from server i.
func (c *Cluster) cutRoutes(i int, cut bool) {
	for j := range c.routes {
		if j != i {
			c.routes[i][j].setCut(cut)
			c.routes[j][i].setCut(cut)
		}
	}
}

func (c *Cluster) options(i int) *server.Options {
	m := c.servers[i]
	o := &server.Options{
		ServerName:         m.name,
		Host:               "127.0.0.1",
		Port:               m.port,
		JetStream:          true,
		StoreDir:           m.dir,
		JetStreamMaxMemory: 64 << 20,
		JetStreamMaxStore:  1 << 30,
		NoLog:              true,
		NoSigs:             true,
	}
	if c.cluster {
		o.Cluster = server.ClusterOpts{Name: ClusterName, Host: "127.0.0.1", Port: m.route, Advertise: c.advertise}
		for j := range c.servers {
			if j != i {
				o.Routes = append(o.Routes, &url.URL{Scheme: "nats", Host: c.routes[i][j].addr()})
			}
		}
	}
	for _, opt := range c.opts {
		if opt.server != nil {
			opt.server(o)
		}
	}
	return o
}

func (c *Cluster) start(i int) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.servers[i]
	if m.srv != nil {
		c.t.Fatalf("testnats: server %s is running", m.name)
	}
	// A restarted server listens on its old ports, which the kernel may
	// meanwhile have lent to an outgoing connection as its source port
	// (seen under a loaded make test): the listen then fails until that
	// connection ends, so the start is tried again, within readyTimeout.
	deadline := time.Now().Add(readyTimeout)
	for attempt := 1; ; attempt++ {
		srv, err := server.NewServer(c.options(i))
		if err != nil {
			c.t.Fatalf("testnats: configure server %s: %v", m.name, err)
		}
		go srv.Start()
		if srv.ReadyForConnections(min(readyTimeout/3, time.Until(deadline))) {
			m.srv = srv
			return
		}
		srv.Shutdown()
		if time.Now().After(deadline) {
			c.t.Fatalf("testnats: server %s did not accept connections within %v (%d attempts)", m.name, readyTimeout, attempt)
		}
	}
}

// waitReady polls server i until a JetStream request through it succeeds,
// which needs a meta leader in a cluster, and until it is healthy.
func (c *Cluster) waitReady(i int) {
	c.t.Helper()
	nc, err := nats.Connect(c.ServerURL(i), c.clientOptions()...)
	if err != nil {
		c.t.Fatalf("testnats: connect to %s: %v", c.servers[i].name, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	await.Cond(c.t, readyTimeout, "JetStream on server "+c.servers[i].name, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil
	})
	await.Cond(c.t, readyTimeout, "server "+c.servers[i].name+" to be healthy", func() bool { return c.healthy(i) })
}

// healthy reports whether server i is stopped, or running with its
// JetStream current: every stream and consumer the cluster assigned to it
// created and caught up. A server shut down before that may leave the
// goroutines of streams it was creating behind.
func (c *Cluster) healthy(i int) bool {
	srv := c.Server(i)
	return srv == nil || srv.Healthz(nil).Status == "ok"
}

func (c *Cluster) clientOptions() []nats.Option {
	var opts []nats.Option
	for _, opt := range c.opts {
		opts = append(opts, opt.client...)
	}
	return opts
}

// shutdown stops every server, once each has created what was assigned to
// it or after a few seconds.
func (c *Cluster) shutdown() {
	deadline := time.Now().Add(10 * time.Second)
	for i := range c.servers {
		for !c.healthy(i) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond) // polling interval (await.Cond would fail the test)
		}
	}
	for i := range c.servers {
		c.Stop(i)
	}
	for _, row := range c.routes {
		for _, p := range row {
			if p != nil {
				p.close()
			}
		}
	}
}
