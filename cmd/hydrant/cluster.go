package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

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
// cluster section, and each delivery shard's owner by "delivery/shard"
// (each application's by appOwnerKey).
func clusterReport(ctx context.Context, view clusterView, ttlSeconds float64) (*clusterStatus, map[string]string, error) {
	members, err := view.Members(ctx)
	if err != nil {
		return nil, nil, err
	}
	leases, err := view.Leases(ctx)
	if err != nil {
		return nil, nil, err
	}
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
		st.Nodes = append(st.Nodes, clusterNode{Name: m.Name, Instance: m.Instance, Listen: m.Listen, Started: m.Started.UTC(),
			Leases: held[m.Instance]})
	}
	slices.SortFunc(st.Nodes, func(a, b clusterNode) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Instance, b.Instance))
	})
	return st, owners, nil
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
