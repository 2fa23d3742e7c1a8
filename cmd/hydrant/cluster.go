package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hydrant-dev/hydrant/cluster"
	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/shards"
)

// clusterOwnership hands out shards through the cluster's leases.
type clusterOwnership struct{ c *cluster.Coordinator }

func (o clusterOwnership) Acquire(ctx context.Context, delivery string, shard int) (pipeline.Lease, error) {
	l, err := o.c.Acquire(ctx, delivery, shard)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// clusterView is what the status report needs of the cluster.
type clusterView interface {
	Self() cluster.Member
	Members(ctx context.Context) ([]cluster.Member, error)
	Leases(ctx context.Context) ([]cluster.LeaseInfo, error)
}

// clusterReport reads the cluster's members and leases: the status's
// cluster section, each delivery shard's owner by "delivery/shard" (each
// application's by appOwnerKey), and the members with their reports.
// A member not heard from for half the lease TTL (two heartbeats) is
// stale: it may be gone.
func clusterReport(ctx context.Context, view clusterView, ttl time.Duration, now time.Time) (*clusterStatus, map[string]string,
	[]cluster.Member, error) {
	members, err := view.Members(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	leases, err := view.Leases(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	ttlSeconds := ttl.Seconds()
	self := view.Self()
	st := &clusterStatus{Node: self.Name, Instance: self.Instance, LeaseTTLSeconds: ttlSeconds, Nodes: []clusterNode{}}
	held := map[string]int{}
	owners := map[string]string{}
	for _, l := range leases {
		held[l.Holder]++
		if l.Application != "" {
			owners[appOwnerKey(l.Application)] = l.HolderName
			continue
		}
		owners[ownerKey(l.Delivery, l.Shard)] = l.HolderName
	}
	for _, m := range members {
		n := clusterNode{Name: m.Name, Instance: m.Instance, Listen: m.Listen, Started: m.Started.UTC(), Leases: held[m.Instance]}
		if !m.Heartbeat.IsZero() {
			at := m.Heartbeat.UTC()
			n.LastHeartbeat, n.Stale = &at, m.Instance != self.Instance && stale(m.Heartbeat, ttl, now)
		}
		st.Nodes = append(st.Nodes, n)
	}
	slices.SortFunc(st.Nodes, func(a, b clusterNode) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Instance, b.Instance))
	})
	return st, owners, members, nil
}

// stale reports whether a heartbeat at is two heartbeats (half the TTL) old.
func stale(at time.Time, ttl time.Duration, now time.Time) bool { return now.Sub(at) > ttl/2 }

// nodeReport is what each node of a cluster publishes with its heartbeats
// (cluster.Coordinator.SetReport): what its deliveries have done since it
// started, by name.
type nodeReport struct {
	Deliveries map[string]pipeline.Stats `json:"deliveries"`
}

// reportErrorBytes is how much of a delivery's last error a heartbeat
// report carries.
const reportErrorBytes = 256

// heartbeatReport is this node's report, for its heartbeats.
func (b *statusBoard) heartbeatReport() json.RawMessage {
	b.mu.Lock()
	stats := make(map[string]pipeline.Stats, len(b.deliveries))
	for name, d := range b.deliveries {
		stats[name] = d.Stats()
	}
	b.mu.Unlock()
	return encodeReport(stats, cluster.MaxReport)
}

// encodeReport is the report of deliveries' stats within limit bytes: each
// last error cut to reportErrorBytes, and the deliveries past it, in name
// order, left out (their counts are missing from the cluster's status
// until they fit).
func encodeReport(stats map[string]pipeline.Stats, limit int) json.RawMessage {
	rep := nodeReport{Deliveries: make(map[string]pipeline.Stats, len(stats))}
	size := len(`{"deliveries":{}}`)
	for _, name := range slices.Sorted(maps.Keys(stats)) {
		s := stats[name]
		s.LastError = truncateUTF8(s.LastError, reportErrorBytes)
		k, _ := json.Marshal(name)
		v, _ := json.Marshal(s)
		if size+len(k)+len(v)+2 > limit { // ':' and ','
			break
		}
		size += len(k) + len(v) + 2
		rep.Deliveries[name] = s
	}
	out, err := json.Marshal(rep)
	if err != nil {
		return nil // Stats always marshal
	}
	return out
}

// truncateUTF8 cuts s to at most n bytes, on a character boundary, marking
// the cut with "…".
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-len("…")]
	for i := 0; i < utf8.UTFMax-1 && len(s) > 0; i++ { // a character cut in its middle
		if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size > 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s + "…"
}

// clusterStats sums what every node has done of delivery into ds.Stats,
// with each node's part in ds.Nodes: the answering node's counts as of now
// (local, nil when it does not run the delivery), the others' as of their
// last heartbeat. Counts are since each node started; the last flush and
// error are the latest of any node's; the destination is connected when it
// is on every node running the delivery that is not stale.
func clusterStats(ds *deliveryStatus, local *pipeline.Stats, self string, members []cluster.Member, reports map[string]nodeReport,
	ttl time.Duration, now time.Time) {
	ds.Nodes = []deliveryNode{}
	for _, m := range members {
		dn := deliveryNode{Node: m.Name, Instance: m.Instance}
		switch {
		case m.Instance == self && local != nil:
			dn.ReportedAt, dn.Stats = now.UTC(), *local
		case m.Instance == self:
			continue
		default:
			st, ok := reports[m.Instance].Deliveries[ds.Name]
			if !ok {
				continue
			}
			dn.ReportedAt, dn.Stale, dn.Stats = m.Heartbeat.UTC(), stale(m.Heartbeat, ttl, now), st
		}
		ds.Nodes = append(ds.Nodes, dn)
	}
	var sum pipeline.Stats
	connected, running := true, false
	for _, n := range ds.Nodes {
		sum.DeliveredRecords += n.DeliveredRecords
		sum.ErrorOutputRecords += n.ErrorOutputRecords
		if n.LastFlush != nil && (sum.LastFlush == nil || n.LastFlush.After(*sum.LastFlush)) {
			sum.LastFlush = n.LastFlush
		}
		if n.LastErrorAt != nil && (sum.LastErrorAt == nil || n.LastErrorAt.After(*sum.LastErrorAt)) {
			sum.LastError, sum.LastErrorAt = n.LastError, n.LastErrorAt
		}
		if !n.Stale {
			running = true
			connected = connected && n.DestinationConnected
		}
	}
	sum.DestinationConnected = running && connected
	ds.Stats = sum
}

// decodeReports reads the members' reports, by instance; one that does
// not decode (a node of another version) counts as reporting nothing.
func decodeReports(members []cluster.Member) map[string]nodeReport {
	out := make(map[string]nodeReport, len(members))
	for _, m := range members {
		var rep nodeReport
		if len(m.Report) > 0 && json.Unmarshal(m.Report, &rep) == nil {
			out[m.Instance] = rep
		}
	}
	return out
}

func ownerKey(delivery string, shard int) string { return delivery + "/" + strconv.Itoa(shard) }

// appOwnerKey is an application's key among the owners clusterReport
// returns (no delivery name holds a colon).
func appOwnerKey(name string) string { return "app:" + name }

// natsStore is the shard log's connection to an external NATS cluster
// (nil: the embedded server).
func natsStore(n *config.NATSStorageConfig) *shards.NATSConfig {
	if n == nil {
		return nil
	}
	return &shards.NATSConfig{URL: n.URL, Replicas: n.Replicas, CredentialsFile: n.Credentials, User: n.User, Password: n.Password,
		Token: n.Token, CAFile: n.TLS.CAFile, CertFile: n.TLS.CertFile, KeyFile: n.TLS.KeyFile, Name: "hydrant " + n.NodeName}
}

// openCluster joins the nodes sharing the NATS cluster, when the log is on
// one (nil otherwise): this node then delivers the shards it holds leases
// for, and enforces its share of every shard's quota.
func openCluster(ctx context.Context, cfg *config.Config, store *shards.Store, logger *slog.Logger) (*cluster.Coordinator, error) {
	n := cfg.Storage.NATS
	if n == nil {
		return nil, nil
	}
	c, err := cluster.Open(ctx, store.JetStream(), cluster.Config{Node: n.NodeName, Listen: cfg.Server.Listen, TTL: n.LeaseTTL.Std(),
		Replicas: store.Replicas(), Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("join the cluster: %w", err)
	}
	c.OnMembership(store.SetNodes)
	store.SetNodes(c.LiveNodes())
	return c, nil
}
