package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/ingest/auth"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/shards"
)

// live is the running config and what applies a new one to the server
// without a restart (SIGHUP, hydrant reload), and resets deliveries
// (hydrant deliveries reset).
type live struct {
	mu      sync.Mutex // one reload or reset at a time
	closed  bool       // shutting down: no more reloads or resets
	path    string     // the config file serve was started with ("": none)
	regs    registries
	cfg     *config.Config // what runs now
	env     deliveryEnv
	cat     *catalog.Catalog
	targets catalog.Targets
	cluster bool // storage.nats: checkpoints are shared by nodes
	logger  *slog.Logger
	reloads *prometheus.CounterVec // by result
	// writeCheckpoints writes a reset's checkpoints (nil:
	// pipeline.WriteCheckpoints); a test makes it fail partway.
	writeCheckpoints func(ctx context.Context, store *shards.Store, delivery string, plan map[int]shards.Sequence) error
}

// Reload results, the result label of hydrant_config_reloads_total.
const (
	reloadApplied   = "applied"   // the new config runs
	reloadUnchanged = "unchanged" // nothing to apply
	reloadInvalid   = "invalid"   // refused whole: it fails validation
	reloadRefused   = "refused"   // refused whole: a change needs a restart
	reloadFailed    = "failed"    // applied but for what failed to start
)

func newLive(path string, regs registries, cfg *config.Config, env deliveryEnv, cat *catalog.Catalog, targets catalog.Targets,
	reg prometheus.Registerer, logger *slog.Logger) *live {
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hydrant_config_reloads_total",
		Help: "Config reloads (SIGHUP, hydrant reload) by result: applied, unchanged, invalid (refused whole: it fails validation), refused (a change needs a restart), failed (applied but for a part that could not start).",
	}, []string{"result"})
	reg.MustRegister(reloads)
	for _, r := range []string{reloadApplied, reloadUnchanged, reloadInvalid, reloadRefused, reloadFailed} {
		reloads.WithLabelValues(r)
	}
	return &live{path: path, regs: regs, cfg: cfg, env: env, cat: cat, targets: targets, cluster: cfg.Storage.NATS != nil,
		logger: logger, reloads: reloads}
}

// close waits for a reload or reset under way and refuses those that
// come later: the server is shutting down, and stops every delivery.
func (l *live) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
}

// declaredStarter builds and runs a delivery of the config, for the
// catalog (which stops, replaces and resets it).
func declaredStarter(d config.DeliveryConfig, env deliveryEnv) catalog.DeclaredStart {
	return func() (func(), error) {
		pd, err := newDelivery(context.Background(), d, env)
		if err != nil {
			return nil, fmt.Errorf("delivery %s: %w", d.Name, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { pd.Run(ctx); close(done) }()
		var once sync.Once
		return func() { once.Do(func() { cancel(); <-done }) }, nil
	}
}

// declaredDelivery is how the catalog (and the Firehose API) shows a
// delivery of the config.
func declaredDelivery(d config.DeliveryConfig, log *shards.Stream) awsapi.Delivery {
	ad := awsapi.Delivery{Name: d.Name, Source: d.Source, Destination: describeDestination(d)}
	if log != nil {
		ad.Created = log.Created()
	}
	if d.DirectPut() {
		ad.Log = log
	}
	return ad
}

// reloadResult is the answer to a reload.
type reloadResult struct {
	Result  string   `json:"result"`
	Changes []string `json:"changes"`
	// Report is, for result invalid, the validation report exactly as
	// hydrant validate prints it; for refused and failed, why.
	Report string `json:"report,omitempty"`
}

func (r reloadResult) status() int {
	switch r.Result {
	case reloadInvalid:
		return http.StatusBadRequest
	case reloadRefused:
		return http.StatusConflict
	case reloadFailed:
		return http.StatusInternalServerError
	}
	return http.StatusOK
}

// reload reads the config file again and applies it (see applyConfig).
func (l *live) reload(ctx context.Context) reloadResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.reloadLocked(ctx)
	l.reloads.WithLabelValues(r.Result).Inc()
	switch r.Result {
	case reloadApplied, reloadUnchanged:
		l.logger.Info("config reloaded", "result", r.Result, "changes", strings.Join(r.Changes, "; "))
	default:
		l.logger.Error("config reload refused; the running config stays", "result", r.Result,
			"changes", strings.Join(r.Changes, "; "), "report", strings.TrimRight(r.Report, "\n"))
	}
	return r
}

func (l *live) reloadLocked(ctx context.Context) reloadResult {
	if l.closed {
		return reloadResult{Result: reloadRefused, Report: "the server is shutting down\n"}
	}
	if l.path == "" {
		return reloadResult{Result: reloadRefused, Report: "this server was not started from a config file (-c): nothing to reload\n"}
	}
	next, err := loadConfig(l.path, l.regs)
	if err != nil {
		// Exactly what hydrant validate prints.
		return reloadResult{Result: reloadInvalid, Report: err.Error() + "\n"}
	}
	if why := l.needsRestart(next); len(why) > 0 {
		return reloadResult{Result: reloadRefused, Report: "refused whole, the running config stays: these changes need a restart of hydrant serve:\n  " +
			strings.Join(why, "\n  ") + "\n"}
	}
	return l.apply(ctx, next)
}

// needsRestart lists the changes of next that a running server cannot
// apply: the server's listener and auth, storage, metrics, the Firehose
// API's settings and SQL applications; a stream's disk budget; a
// delivery's source (its checkpoints are its source's shards'); and a
// name that moves between a stream and a delivery or that the APIs
// created.
func (l *live) needsRestart(next *config.Config) []string {
	var why []string
	why = append(why, changedKeys("server", l.cfg.Server, next.Server)...)
	why = append(why, changedKeys("storage", l.cfg.Storage, next.Storage)...)
	why = append(why, changedKeys("metrics", l.cfg.Metrics, next.Metrics)...)
	why = append(why, changedKeys("firehose_api", l.cfg.FirehoseAPI, next.FirehoseAPI)...)
	if !reflect.DeepEqual(l.cfg.Analytics, next.Analytics) {
		why = append(why, "analytics (SQL applications)")
	}
	oldS := resolvedByName(l.cfg)
	for _, rs := range next.ResolvedStreams() {
		old, had := oldS[rs.Name]
		switch {
		case !had:
			if _, created := l.cat.Stream(rs.Name); created {
				why = append(why, fmt.Sprintf("streams %s: a stream of that name was created through the Kinesis API", rs.Name))
			} else if _, created := l.cat.Delivery(rs.Name); created && !rs.DirectPut {
				why = append(why, fmt.Sprintf("streams %s: a delivery stream of that name was created through the Firehose API", rs.Name))
			}
		case old.DirectPut != rs.DirectPut:
			why = append(why, fmt.Sprintf("%s: changes between a stream and a DirectPut delivery", rs.Name))
		case old.DiskBudget != rs.DiskBudget:
			why = append(why, fmt.Sprintf("streams %s: disk_budget", rs.Name))
		}
	}
	oldD := deliveriesByName(l.cfg)
	for _, d := range next.Deliveries {
		old, had := oldD[d.Name]
		switch {
		case !had:
			if _, created := l.cat.Delivery(d.Name); created {
				why = append(why, fmt.Sprintf("deliveries %s: a delivery stream of that name was created through the Firehose API", d.Name))
			} else if _, created := l.cat.Stream(d.Name); created && !d.DirectPut() {
				why = append(why, fmt.Sprintf("deliveries %s: a stream of that name was created through the Kinesis API", d.Name))
			}
		case old.Source != d.Source:
			why = append(why, fmt.Sprintf("deliveries %s: source (its checkpoints are of its source's shards: give the delivery a new name to read another stream)", d.Name))
		}
	}
	return why
}

// changedKeys names the top-level keys of a config section that differ.
func changedKeys(section string, a, b any) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := range va.NumField() {
		f := va.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" {
				name = f.Name
			}
			out = append(out, section+"."+name)
		}
	}
	return out
}

func resolvedByName(c *config.Config) map[string]config.ResolvedStream {
	m := map[string]config.ResolvedStream{}
	for _, rs := range c.ResolvedStreams() {
		m[rs.Name] = rs
	}
	return m
}

func deliveriesByName(c *config.Config) map[string]config.DeliveryConfig {
	m := map[string]config.DeliveryConfig{}
	for _, d := range c.Deliveries {
		m[d.Name] = d
	}
	return m
}

// pipelineOf is what of a delivery its pipeline is built from: a change
// elsewhere (its start, pinned at its first start; a DirectPut delivery's
// stream settings, applied to its stream and its producers' target)
// replaces nothing.
func pipelineOf(d config.DeliveryConfig) config.DeliveryConfig {
	d.Start = config.StartConfig{}
	d.Shards, d.ShardLimits, d.DiskBudget, d.AtomicPuts = 0, config.ShardLimitsConfig{}, 0, false
	return d
}

// reloadPlan is what apply works out as it goes: the changes and failures
// it reports, and the streams the deliveries read.
type reloadPlan struct {
	next      *config.Config
	changes   []string
	failures  []string
	retention map[string]time.Duration
	logs      map[string]*shards.Stream
	targets   map[string]ingest.Target // each stream's producers' target, set once its DirectPut delivery runs
}

// apply makes next the running config: it opens the streams added,
// reshards, changes quotas and retention of those changed, starts the
// deliveries added, replaces those changed (the running one drains and
// checkpoints first; the new one reads on from the checkpoints), starts
// again those stopped (a start that failed before), stops those removed
// (they drain and checkpoint; their checkpoints are kept), and stops
// taking puts for the streams removed (their records are kept).
// Producers' names are set one at a time, never emptied: a put to a stream
// that stays is never refused. A DirectPut delivery takes puts only once
// it runs, and stops taking them before it drains.
func (l *live) apply(ctx context.Context, next *config.Config) reloadResult {
	ctx = context.WithoutCancel(ctx)
	p := &reloadPlan{next: next, retention: map[string]time.Duration{}, logs: map[string]*shards.Stream{}, targets: map[string]ingest.Target{}}
	l.applyStreams(ctx, p) // first: a delivery added may read one
	running := *next
	running.Deliveries = l.applyDeliveries(ctx, p)
	newS := resolvedByName(next)
	for _, rs := range l.cfg.ResolvedStreams() {
		if _, ok := newS[rs.Name]; ok {
			continue
		}
		l.targets.RemoveTarget(rs.Name)
		l.cat.RemoveDeclaredStream(rs.Name)
		p.changes = append(p.changes, fmt.Sprintf("stream %s: removed (puts to it are refused; its records are kept)", rs.Name))
	}
	l.cfg = &running
	r := reloadResult{Result: reloadApplied, Changes: p.changes}
	if len(p.changes) == 0 {
		r.Result = reloadUnchanged
	}
	if r.Changes == nil {
		r.Changes = []string{}
	}
	if len(p.failures) > 0 {
		r.Result = reloadFailed
		r.Report = "applied but for:\n  " + strings.Join(p.failures, "\n  ") + "\n"
	}
	return r
}

// applyStreams opens the streams of p.next added and applies the changes
// of those kept. A DirectPut delivery's stream added takes puts only once
// its delivery runs (see applyDeliveries).
func (l *live) applyStreams(ctx context.Context, p *reloadPlan) {
	store := l.env.store
	oldS := resolvedByName(l.cfg)
	for _, rs := range p.next.ResolvedStreams() {
		old, had := oldS[rs.Name]
		st, open := store.Stream(rs.Name)
		var err error
		if !open {
			if st, err = openStream(ctx, rs, store, l.logger); err != nil {
				p.failures = append(p.failures, fmt.Sprintf("stream %s: %v", rs.Name, err))
				continue
			}
		}
		p.logs[rs.Name], p.retention[rs.Name] = st, rs.Retention.Std()
		target := ingest.Target{Stream: st, PartitionKeyField: rs.PartitionKeyField, DirectPut: rs.DirectPut, AtomicPuts: rs.AtomicPuts}
		p.targets[rs.Name] = target
		if had && reflect.DeepEqual(old, rs) {
			continue
		}
		what := l.changeStream(ctx, p, st, open, had, old, rs)
		if !rs.DirectPut {
			l.cat.SetDeclaredStream(awsapi.Stream{Name: rs.Name, Log: st, Retention: rs.Retention.Std(), Created: st.Created()})
		}
		if !rs.DirectPut || (had && l.cat.DeclaredRunning(rs.Name)) {
			if err := l.targets.SetTarget(rs.Name, target); err != nil {
				p.failures = append(p.failures, fmt.Sprintf("stream %s: %v", rs.Name, err))
			}
		}
		if len(what) > 0 {
			p.changes = append(p.changes, fmt.Sprintf("stream %s: %s", rs.Name, strings.Join(what, ", ")))
		}
	}
}

// changeStream reshards an open stream and changes its capacity and
// quotas as rs says; it returns what changed.
func (l *live) changeStream(ctx context.Context, p *reloadPlan, st *shards.Stream, open, had bool, old, rs config.ResolvedStream) []string {
	store := l.env.store
	var what []string
	if !had {
		what = append(what, "added")
	}
	if open && st.Configured() != rs.Shards {
		if err := store.UpdateShardCount(ctx, rs.Name, rs.Shards, true); err != nil {
			p.failures = append(p.failures, fmt.Sprintf("stream %s: reshard to %d shards: %v", rs.Name, rs.Shards, err))
		} else {
			what = append(what, fmt.Sprintf("shards %d", rs.Shards))
		}
	}
	if open && rs.Capacity != "" && st.Lineage().Capacity != rs.Capacity {
		if err := store.SetCapacity(ctx, rs.Name, rs.Capacity); err != nil {
			p.failures = append(p.failures, fmt.Sprintf("stream %s: capacity: %v", rs.Name, err))
		} else {
			what = append(what, "capacity "+rs.Capacity)
		}
	}
	limits := shards.Limits{BytesPerSecond: int64(rs.ShardLimits.BytesPerSecond), RecordsPerSecond: int64(rs.ShardLimits.RecordsPerSecond)}
	if open && (!had || old.ShardLimits != rs.ShardLimits) {
		st.SetLimits(limits)
		what = append(what, fmt.Sprintf("shard_limits %d B/s %d records/s", limits.BytesPerSecond, limits.RecordsPerSecond))
	}
	if had && old.Retention != rs.Retention {
		what = append(what, "retention "+rs.Retention.Std().String())
	}
	if had && old.PartitionKeyField != rs.PartitionKeyField {
		what = append(what, "partition_key_field")
	}
	if had && old.AtomicPuts != rs.AtomicPuts {
		what = append(what, fmt.Sprintf("atomic_puts %v", rs.AtomicPuts))
	}
	return what
}

// applyDeliveries starts the deliveries of p.next added, replaces those
// changed, starts again those stopped, and stops those removed; it returns
// the deliveries that make up the running config (a delivery whose change
// failed as it was).
func (l *live) applyDeliveries(ctx context.Context, p *reloadPlan) []config.DeliveryConfig {
	var running []config.DeliveryConfig
	oldD, newD := deliveriesByName(l.cfg), deliveriesByName(p.next)
	for _, d := range p.next.Deliveries {
		old, had := oldD[d.Name]
		if had && old.Start != d.Start {
			p.changes = append(p.changes, l.startNotApplied(ctx, d.Name, old))
		}
		same := had && reflect.DeepEqual(pipelineOf(old), pipelineOf(d))
		if same && l.cat.DeclaredRunning(d.Name) {
			running = append(running, d)
			continue
		}
		if _, ok := p.logs[d.SourceStream()]; !ok {
			p.failures = append(p.failures, fmt.Sprintf("delivery %s: its stream %s is not open", d.Name, d.SourceStream()))
			if had {
				running = append(running, old)
			}
			continue
		}
		err := l.cat.ReplaceDeclared(declaredDelivery(d, p.logs[d.SourceStream()]), p.retention[d.SourceStream()], declaredStarter(d, l.env))
		if err != nil {
			p.failures = append(p.failures, fmt.Sprintf("delivery %s: %v", d.Name, err))
			if had {
				running = append(running, old) // it runs again as it was, or the next reload starts it
			}
			continue
		}
		running = append(running, d)
		if d.DirectPut() {
			// Only now that it runs: a put acknowledged is read.
			if err := l.targets.SetTarget(d.Name, p.targets[d.Name]); err != nil {
				p.failures = append(p.failures, fmt.Sprintf("stream %s: %v", d.Name, err))
			}
		} else {
			l.targets.SetTarget(d.Name, ingest.Target{ReadsFrom: d.Source}) // never fails: no pointer
		}
		switch {
		case same:
			p.changes = append(p.changes, fmt.Sprintf("delivery %s: started again (it was stopped)", d.Name))
		case had:
			p.changes = append(p.changes, fmt.Sprintf("delivery %s: replaced (%s)", d.Name, strings.Join(deliveryDiff(old, d), ", ")))
		default:
			p.changes = append(p.changes, fmt.Sprintf("delivery %s: added (start %s)", d.Name, startPosition(d.Start)))
		}
	}
	for _, d := range l.cfg.Deliveries {
		if _, ok := newD[d.Name]; ok {
			continue
		}
		// Producers first: no put is acknowledged while it drains, or after.
		l.targets.RemoveTarget(d.Name)
		l.cat.RemoveDeclared(d.Name)
		l.env.board.remove(d.Name)
		p.changes = append(p.changes, fmt.Sprintf("delivery %s: removed (drained; its checkpoints are kept)", d.Name))
	}
	return running
}

// startNotApplied says that the start of delivery name, which runs with
// old's, changed: a delivery keeps the start it first ran with.
func (l *live) startNotApplied(ctx context.Context, name string, old config.DeliveryConfig) string {
	pinned := startPosition(old.Start)
	if p, ok, err := pipeline.PinnedStart(ctx, l.env.store, name); err == nil && ok {
		pinned = p
	}
	return fmt.Sprintf("delivery %s: start not applied: a delivery keeps the start it first ran with (%s) on every shard it reads, "+
		"later ones too; hydrant deliveries reset delivers again from a position, or declare a delivery under a new name", name, pinned)
}

// deliveryDiff names the top-level keys of a delivery that changed.
func deliveryDiff(a, b config.DeliveryConfig) []string {
	out := changedKeys("", pipelineOf(a), pipelineOf(b))
	for i := range out {
		out[i] = strings.TrimPrefix(out[i], ".")
	}
	return out
}

// remove forgets a delivery that no longer runs.
func (b *statusBoard) remove(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.deliveries, name)
}

// reloadHandler serves POST /v1/reload: the answer is JSON when the
// config is applied; the validation report (exactly hydrant validate's) or
// the reason, as text, when it is refused.
func (l *live) reloadHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A reload drains the deliveries it replaces and may outlast the
		// server's write timeout.
		http.NewResponseController(w).SetWriteDeadline(time.Time{})
		res := l.reload(r.Context())
		if res.Report != "" && res.Result != reloadFailed {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(res.status())
			w.Write([]byte(res.Report))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(res.status())
		json.NewEncoder(w).Encode(res)
	})
}

// withAdmin serves the config and delivery administration beside h:
// POST /v1/reload, GET /v1/deliveries and POST /v1/deliveries/{name}/reset.
// Those POSTs and h's POST /v1/deliveries/{name}/redrive refuse
// cross-origin browser requests (403): with auth off, as by default on
// loopback, a web page could otherwise post to them. The CLI, SDKs and the
// web console (same origin) are let through.
func withAdmin(h http.Handler, l *live, authn *auth.Authenticator) http.Handler {
	sameOrigin := http.NewCrossOriginProtection()
	mux := http.NewServeMux()
	mux.Handle("POST /v1/reload", sameOrigin.Handler(ingest.RequireAction(authn, auth.ActionReloadConfig, l.reloadHandler())))
	mux.Handle("POST /v1/deliveries/{name}/reset", sameOrigin.Handler(ingest.RequireAction(authn, auth.ActionResetDelivery, l.resetHandler())))
	mux.Handle("POST /v1/deliveries/{name}/redrive", sameOrigin.Handler(h))
	mux.Handle("GET /v1/deliveries", ingest.RequireAction(authn, auth.ActionGetStatus, l.listHandler()))
	mux.Handle("/", h)
	return mux
}
