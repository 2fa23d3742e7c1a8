package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/hydrant-dev/hydrant/analytics"
	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/cluster"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/shards"
)

// statusReport is what GET /v1/status answers and `hydrant streams` and
// `hydrant status` show: the streams with their shards, and where each
// delivery stands.
type statusReport struct {
	Time  time.Time   `json:"time"`
	Store storeStatus `json:"store"`
	// Cluster is set when Hydrant runs on an external NATS cluster
	// (storage.nats): its nodes and what they hold.
	Cluster    *clusterStatus   `json:"cluster,omitempty"`
	Streams    []streamStatus   `json:"streams"`
	Deliveries []deliveryStatus `json:"deliveries"`
	// Analytics are the SQL applications this node runs.
	Analytics []analyticsStatus `json:"analytics,omitempty"`
}

// analyticsStatus is one SQL application.
type analyticsStatus struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	Output string `json:"output"`
	// EmittedThrough is the end of the newest window emitted (absent: none
	// yet); LagSeconds how far it is behind the report's time.
	EmittedThrough *time.Time `json:"emitted_through,omitempty"`
	LagSeconds     float64    `json:"lag_seconds"`
	OpenWindows    int        `json:"open_windows"`
	BufferedRows   int        `json:"buffered_rows"`
	LastError      string     `json:"last_error,omitempty"`
	LastErrorAt    *time.Time `json:"last_error_at,omitempty"`
	// Running is whether the answering node runs it now; Owner, on a
	// cluster, the node holding its lease ("" while nobody does).
	Running bool   `json:"running"`
	Owner   string `json:"owner,omitempty"`
}

// clusterStatus is the cluster as the answering node sees it.
type clusterStatus struct {
	Node            string        `json:"node"`     // the answering node's name
	Instance        string        `json:"instance"` // and its instance id
	LeaseTTLSeconds float64       `json:"lease_ttl_seconds"`
	Nodes           []clusterNode `json:"nodes"`
}

// clusterNode is a live node.
type clusterNode struct {
	Name     string    `json:"name"`
	Instance string    `json:"instance"`
	Listen   string    `json:"listen"`
	Started  time.Time `json:"started"`
	Leases   int       `json:"leases"` // shards of deliveries it holds
	// LastHeartbeat is when the node last wrote its membership (the NATS
	// server's clock); Stale, that it has not for half the lease TTL (two
	// heartbeats missed): it may be gone, and its counts are as of then.
	LastHeartbeat *time.Time `json:"last_heartbeat,omitempty"`
	Stale         bool       `json:"stale,omitempty"`
}

type storeStatus struct {
	Bytes      int64 `json:"bytes"`
	DiskBudget int64 `json:"disk_budget"` // 0: none
}

type streamStatus struct {
	Name             string  `json:"name"`
	RetentionSeconds float64 `json:"retention_seconds"`
	// Status is ACTIVE, or UPDATING while a reshard runs; Capacity is
	// provisioned or on_demand.
	Status     string `json:"status"`
	Capacity   string `json:"capacity"`
	OpenShards int    `json:"open_shards"`
	// Shards are every shard of the lineage, open and closed, by ID.
	Shards []streamShard `json:"shards"`
	// DirectPut marks a DirectPut delivery's own stream (named as the
	// delivery), which producers put to.
	DirectPut bool `json:"direct_put,omitempty"`
}

// streamReport is the status of one stream's log and its shards.
func streamReport(ctx context.Context, store *shards.Store, log *shards.Stream, retention time.Duration) (streamStatus, error) {
	lin := log.Lineage()
	ss := streamStatus{Name: log.Name(), RetentionSeconds: retention.Seconds(), Status: "ACTIVE", Capacity: lin.Capacity,
		OpenShards: len(lin.Open()), Shards: []streamShard{}}
	if log.Updating() {
		ss.Status = "UPDATING"
	}
	for i, sh := range lin.Shards {
		info, err := store.ShardInfo(ctx, log.Name(), i)
		if err != nil {
			return ss, err
		}
		total, err := store.RecordsTotal(ctx, log.Name(), i)
		if err != nil {
			return ss, err
		}
		out := streamShard{ShardID: shards.ShardID(i), State: "open", RecordsTotal: total, Messages: info.Messages, Bytes: info.Bytes}
		if !sh.IsOpen() {
			out.State = "closed"
		}
		for _, p := range sh.Parents() {
			out.Parents = append(out.Parents, shards.ShardID(p))
		}
		ss.Shards = append(ss.Shards, out)
	}
	return ss, nil
}

type streamShard struct {
	ShardID string `json:"shard_id"`
	// State is open, or closed by a reshard (it keeps its records until
	// retention); Parents are the shards it was split or merged from.
	State   string   `json:"state"`
	Parents []string `json:"parent_shard_ids,omitempty"`
	// RecordsTotal counts the records the shard has stored since it was
	// created; two readings give its rate.
	RecordsTotal int64  `json:"records_total"`
	Messages     uint64 `json:"messages"` // record-batch messages kept
	Bytes        uint64 `json:"bytes"`    // kept
}

type deliveryStatus struct {
	Name   string `json:"name"`
	Source string `json:"source"` // the stream it reads (a DirectPut delivery's own)
	// LagRecords is the records stored and not yet delivered, over all
	// shards (-1: unknown, for data written before records were counted);
	// LagSeconds how long ago the oldest of them was stored.
	LagRecords int64           `json:"lag_records"`
	LagSeconds float64         `json:"lag_seconds"`
	Shards     []deliveryShard `json:"shards"`
	// Stats are, on a cluster, every node's summed (see clusterStats);
	// Nodes each node's part. On a single node, Nodes is absent.
	pipeline.Stats
	Nodes []deliveryNode `json:"nodes,omitempty"`
}

// deliveryNode is what one node of a cluster has done of a delivery since
// it started. ReportedAt is when its counts were read: now for the
// answering node, its last heartbeat for the others (every quarter of the
// lease TTL); Stale, more than half the TTL ago: the node may be gone.
type deliveryNode struct {
	Node       string    `json:"node"`
	Instance   string    `json:"instance"`
	ReportedAt time.Time `json:"reported_at"`
	Stale      bool      `json:"stale,omitempty"`
	pipeline.Stats
}

type deliveryShard struct {
	ShardID    string  `json:"shard_id"`
	Checkpoint string  `json:"checkpoint"` // sequence number of the last record delivered; "0": none
	LagRecords int64   `json:"lag_records"`
	LagSeconds float64 `json:"lag_seconds"`
	// Owner is the node delivering the shard, in a cluster ("" while
	// nobody holds it); absent on a single node.
	Owner *string `json:"owner,omitempty"`
}

// statusBoard knows the running deliveries, by name, and the cluster when
// there is one.
type statusBoard struct {
	// cluster is nil on a single node; leaseTTL is its lease TTL.
	cluster  clusterView
	leaseTTL time.Duration

	mu         sync.Mutex
	deliveries map[string]*pipeline.Delivery
	apps       []*analytics.App
}

func (b *statusBoard) addApp(a *analytics.App) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.apps = append(b.apps, a)
}

func (b *statusBoard) add(name string, d *pipeline.Delivery) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deliveries == nil {
		b.deliveries = make(map[string]*pipeline.Delivery)
	}
	b.deliveries[name] = d
}

func (b *statusBoard) get(name string) *pipeline.Delivery {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.deliveries[name]
}

// report gathers the status of everything the catalog holds.
func (b *statusBoard) report(ctx context.Context, cat *catalog.Catalog, store *shards.Store, now time.Time) (statusReport, error) {
	r := statusReport{Time: now.UTC(), Streams: []streamStatus{}, Deliveries: []deliveryStatus{}}
	r.Store.Bytes, r.Store.DiskBudget = store.DiskUsage()
	var owners map[string]string
	var members []cluster.Member
	var reports map[string]nodeReport
	if b.cluster != nil {
		var err error
		if r.Cluster, owners, members, err = clusterReport(ctx, b.cluster, b.leaseTTL, now); err != nil {
			return r, err
		}
		reports = decodeReports(members)
	}
	b.mu.Lock()
	apps := slices.Clone(b.apps)
	b.mu.Unlock()
	for _, a := range apps {
		st := a.Status()
		as := analyticsStatus{Name: st.Name, Source: st.Source, Output: st.Output, OpenWindows: st.OpenWindows,
			BufferedRows: st.BufferedRows, LastError: st.LastError, Running: st.Running, Owner: owners[appOwnerKey(st.Name)]}
		if !st.Emitted.IsZero() {
			at := st.Emitted.UTC()
			as.EmittedThrough, as.LagSeconds = &at, max(now.Sub(at).Seconds(), 0)
		}
		if !st.LastErrorAt.IsZero() {
			at := st.LastErrorAt.UTC()
			as.LastErrorAt = &at
		}
		r.Analytics = append(r.Analytics, as)
	}
	for _, s := range cat.Streams() {
		ss, err := streamReport(ctx, store, s.Log, s.Retention)
		if err != nil {
			return r, err
		}
		r.Streams = append(r.Streams, ss)
	}
	// A DirectPut delivery's stream is where its producers put: listed
	// too, marked (`hydrant streams` after the quickstart shows it).
	retention := map[string]time.Duration{}
	for _, rt := range cat.RetentionTargets() {
		retention[rt.Stream] = rt.Retention
	}
	for _, d := range cat.Deliveries() {
		if d.Log == nil {
			continue
		}
		ss, err := streamReport(ctx, store, d.Log, retention[d.Log.Name()])
		if err != nil {
			return r, err
		}
		ss.DirectPut = true
		r.Streams = append(r.Streams, ss)
	}
	for _, d := range cat.Deliveries() {
		source, log := d.Source, (*shards.Stream)(nil)
		if d.Log != nil {
			source, log = d.Log.Name(), d.Log
		} else if st, ok := store.Stream(source); ok {
			log = st
		}
		ds := deliveryStatus{Name: d.Name, Source: source, Shards: []deliveryShard{}}
		var local *pipeline.Stats
		if pd := b.get(d.Name); pd != nil {
			st := pd.Stats()
			ds.Stats, local = st, &st
		}
		if b.cluster != nil {
			clusterStats(&ds, local, r.Cluster.Instance, members, reports, b.leaseTTL, now)
		}
		if log != nil {
			for i := range log.Shards() {
				cp, err := store.Checkpoint(ctx, d.Name, i)
				if err != nil {
					return r, err
				}
				lag, err := store.Lag(ctx, source, i, cp)
				if err != nil {
					return r, err
				}
				sh := deliveryShard{ShardID: shards.ShardID(i), Checkpoint: cp.String(), LagRecords: lag.Records}
				if owners != nil {
					owner := owners[ownerKey(d.Name, i)]
					sh.Owner = &owner
				}
				if !lag.Oldest.IsZero() {
					sh.LagSeconds = max(now.Sub(lag.Oldest).Seconds(), 0)
				}
				if ds.LagRecords >= 0 {
					ds.LagRecords += sh.LagRecords
				}
				if sh.LagRecords < 0 {
					ds.LagRecords = -1 // unknown on a shard: unknown in all
				}
				ds.LagSeconds = max(ds.LagSeconds, sh.LagSeconds)
				ds.Shards = append(ds.Shards, sh)
			}
		}
		r.Deliveries = append(r.Deliveries, ds)
	}
	return r, nil
}

// statusHandler serves GET /v1/status (serve wraps it so that, with auth
// on, it needs a principal allowed hydrant:GetStatus: an API key that may
// read every stream, "*", or a SigV4 key's policy).
func statusHandler(board *statusBoard, cat *catalog.Catalog, store *shards.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		rep, err := board.report(ctx, cat, store, time.Now())
		if err != nil {
			writeJSONError(w, http.StatusServiceUnavailable, "StatusUnavailable", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(rep)
	})
}

// writeJSONError answers in the native API's error format.
func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
