package catalog

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/shards"
)

// defaultRetention is a created stream's retention, and how long a
// DirectPut delivery's records are kept, as in AWS.
const defaultRetention = 24 * time.Hour

// Targets is where producers' names are registered (the native API).
type Targets interface {
	SetTarget(name string, t ingest.Target) error
	RemoveTarget(name string)
}

// Starter starts delivering a created delivery stream from log. stop ends
// the delivery, flushing what it holds, and returns when it is done.
type Starter func(spec awsapi.DeliverySpec, log *shards.Stream) (stop func(), err error)

// Options configure a catalog.
type Options struct {
	Store   *shards.Store
	Targets Targets // optional
	// Start runs created delivery streams; nil refuses CreateDeliveryStream.
	Start          Starter
	DeliveryShards int           // shards of a created delivery stream's log (default 1)
	DeliveryLimits shards.Limits // per-shard quotas of a created delivery stream's log
	// MaxStreams and MaxShards bound what CreateStream and
	// CreateDeliveryStream may add: streams open in all (declared ones
	// included) and their shards in all (0: no limit). Each shard holds
	// memory and file descriptors; past a limit the call is
	// LimitExceededException. A log already past them is not opened:
	// Load says which limit to raise.
	MaxStreams, MaxShards int
	// AllowedBuckets are where created delivery streams may write:
	// "bucket" (any prefix) or "bucket/prefix-glob" (* and ?); empty: any.
	AllowedBuckets []string
	// Watch keeps the catalog in step with what other nodes sharing the
	// log create, update and delete through the APIs (a cluster on NATS):
	// Load starts watching the catalog bucket, Close stops.
	Watch  bool
	Logger *slog.Logger
	_      struct{}
}

// Catalog is safe for concurrent use.
type Catalog struct {
	opts   Options
	logger *slog.Logger

	ctl sync.Mutex // serializes changes, which may take long (a drain)

	mu         sync.RWMutex
	streams    map[string]*streamEntry
	deliveries map[string]*deliveryEntry
	stopWatch  func() // nil until Load starts the watch
}

type streamEntry struct {
	info     awsapi.Stream
	declared bool
	def      streamDef // created ones: what is persisted
}

type deliveryEntry struct {
	info      awsapi.Delivery
	retention time.Duration // of its DirectPut stream
	declared  bool
	spec      awsapi.DeliverySpec // created ones
	stop      func()
	shards    int           // created ones: of the log
	id        string        // created ones: deliveryDef.ID
	start     DeclaredStart // declared ones, once started (StartDeclared)
}

// New returns an empty catalog.
func New(opts Options) *Catalog {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.DeliveryShards <= 0 {
		opts.DeliveryShards = 1
	}
	return &Catalog{opts: opts, logger: opts.Logger, streams: map[string]*streamEntry{}, deliveries: map[string]*deliveryEntry{}}
}

// AddDeclaredStream adds a stream the config declares; the APIs cannot
// delete it or change its retention.
func (c *Catalog) AddDeclaredStream(s awsapi.Stream) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.streams[s.Name] = &streamEntry{info: s, declared: true}
}

// AddDeclaredDelivery adds a delivery the config declares; retention is how
// long its DirectPut stream keeps records.
func (c *Catalog) AddDeclaredDelivery(d awsapi.Delivery, retention time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deliveries[d.Name] = &deliveryEntry{info: d, declared: true, retention: retention}
}

// Stream returns a stream by name.
func (c *Catalog) Stream(name string) (awsapi.Stream, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.streams[name]
	if !ok {
		return awsapi.Stream{}, false
	}
	return e.info, true
}

// Streams returns every stream, sorted by name.
func (c *Catalog) Streams() []awsapi.Stream {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]awsapi.Stream, 0, len(c.streams))
	for _, e := range c.streams {
		out = append(out, e.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Delivery returns a delivery stream by name.
func (c *Catalog) Delivery(name string) (awsapi.Delivery, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.deliveries[name]
	if !ok {
		return awsapi.Delivery{}, false
	}
	return e.info, true
}

// Deliveries returns every delivery stream, sorted by name.
func (c *Catalog) Deliveries() []awsapi.Delivery {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]awsapi.Delivery, 0, len(c.deliveries))
	for _, e := range c.deliveries {
		out = append(out, e.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RetentionTarget is one shard log to trim, and who reads it.
type RetentionTarget struct {
	Stream    string
	Retention time.Duration
	Readers   []string // deliveries whose checkpoints bound the trim
}

// RetentionTargets lists every shard log: streams, read by the deliveries
// whose source they are, and DirectPut deliveries' logs, read by themselves.
func (c *Catalog) RetentionTargets() []RetentionTarget {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []RetentionTarget
	for _, s := range c.streams {
		t := RetentionTarget{Stream: s.info.Name, Retention: s.info.Retention}
		for _, d := range c.deliveries {
			if d.info.Source == s.info.Name {
				t.Readers = append(t.Readers, d.info.Name)
			}
		}
		out = append(out, t)
	}
	for _, d := range c.deliveries {
		if d.info.Log != nil {
			out = append(out, RetentionTarget{Stream: d.info.Log.Name(), Retention: d.retention, Readers: []string{d.info.Name}})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stream < out[j].Stream })
	return out
}

// taken reports whether a stream or delivery already uses name: they share
// the shard log's namespace.
func (c *Catalog) taken(name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, s := c.streams[name]
	_, d := c.deliveries[name]
	return s || d
}

// Persisted definitions.
type streamDef struct {
	Name string `json:"name"`
	// Shards is the count the stream was created with or last scaled to
	// (UpdateShardCount): its lineage's Configured count.
	Shards    int           `json:"shards"`
	Retention time.Duration `json:"retention"`
	// Open is its open shards after the last reshard (0: Shards), which
	// Load counts against MaxShards before the stream is opened.
	Open int `json:"open,omitempty"`
	// ID is this creation's identity (newID; "" for one created before
	// there were any), Pending a creation under way since Claimed (claim).
	ID      string     `json:"id,omitempty"`
	Pending bool       `json:"pending,omitempty"`
	Claimed *time.Time `json:"claimed,omitempty"`
}

// openShards is how many open shards def's stream had when last saved.
func (def streamDef) openShards() int {
	if def.Open > 0 {
		return def.Open
	}
	return def.Shards
}

type deliveryDef struct {
	Spec   awsapi.DeliverySpec `json:"spec"`
	Shards int                 `json:"shards"`
	// Version is raised by each UpdateDestination (0: 1, never updated).
	Version int `json:"version,omitempty"`
	// ID is this creation's identity (newID; "" for one created before
	// there were any), Pending a creation under way since Claimed (claim).
	ID      string     `json:"id,omitempty"`
	Pending bool       `json:"pending,omitempty"`
	Claimed *time.Time `json:"claimed,omitempty"`
}

const (
	streamPrefix   = "stream."
	deliveryPrefix = "delivery."
)

// metaKey is the key of a definition. Names may hold dots in places a KV
// key may not ("a..b", ".a"), so they are base64url-encoded.
func metaKey(prefix, name string) string {
	return prefix + base64.RawURLEncoding.EncodeToString([]byte(name))
}

func (c *Catalog) save(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.opts.Store.PutMeta(ctx, key, b)
}

// Load opens the streams and starts the delivery streams created through
// the APIs before the last stop. One the config now declares under the same
// name is left to the config, with a warning. When they would take the
// server past MaxStreams or MaxShards (limits lowered since, or a log
// written before there were any), nothing is opened and Load says which
// limit to raise: opening them all is what would exhaust memory or file
// descriptors; nothing stored is deleted.
func (c *Catalog) Load(ctx context.Context) error {
	streams, deliveries, err := c.loadDefs(ctx)
	if err != nil {
		return err
	}
	if err := c.checkLoad(streams, deliveries); err != nil {
		return err
	}
	for _, def := range streams {
		if err := c.openStream(ctx, def, "", false); err != nil {
			return err
		}
	}
	for _, def := range deliveries {
		if err := c.openDelivery(ctx, def, false); err != nil {
			return err
		}
	}
	if c.opts.Watch {
		c.startWatch()
	}
	return nil
}

// loadDefs reads what the APIs created, but for what the config now
// declares.
func (c *Catalog) loadDefs(ctx context.Context) ([]streamDef, []deliveryDef, error) {
	raws, err := c.opts.Store.ListMeta(ctx, streamPrefix)
	if err != nil {
		return nil, nil, err
	}
	var streams []streamDef
	for key, raw := range raws {
		var def streamDef
		if err := json.Unmarshal(raw, &def); err != nil {
			return nil, nil, fmt.Errorf("catalog %s: %w", key, err)
		}
		if def.Pending {
			c.logger.Warn("a stream's creation through the API was under way or interrupted; not opened", "stream", def.Name)
			continue
		}
		if c.taken(def.Name) {
			c.logger.Warn("a stream created through the API is now declared in the config; the config wins", "stream", def.Name)
			continue
		}
		streams = append(streams, def)
	}
	if raws, err = c.opts.Store.ListMeta(ctx, deliveryPrefix); err != nil {
		return nil, nil, err
	}
	var deliveries []deliveryDef
	for key, raw := range raws {
		var def deliveryDef
		if err := json.Unmarshal(raw, &def); err != nil {
			return nil, nil, fmt.Errorf("catalog %s: %w", key, err)
		}
		if def.Pending {
			c.logger.Warn("a delivery stream's creation through the API was under way or interrupted; not started", "delivery", def.Spec.Name)
			continue
		}
		if c.taken(def.Spec.Name) {
			c.logger.Warn("a delivery stream created through the API is now declared in the config; the config wins", "delivery", def.Spec.Name)
			continue
		}
		deliveries = append(deliveries, def)
	}
	return streams, deliveries, nil
}

// checkLoad refuses to open what the APIs created when, with what is open
// already (the config's own), it is past MaxStreams or MaxShards.
func (c *Catalog) checkLoad(streams []streamDef, deliveries []deliveryDef) error {
	n, total := c.opts.Store.Counts()
	n += len(streams) + len(deliveries)
	for _, def := range streams {
		total += def.openShards()
	}
	for _, def := range deliveries {
		total += max(def.Shards, 1)
	}
	switch {
	case c.opts.MaxStreams > 0 && n > c.opts.MaxStreams:
		return fmt.Errorf("the shard log holds %d streams (%d created through the APIs), more than storage.max_streams (%d): "+
			"raise it to at least %d to start (then delete streams through the API to come back under it); nothing was opened or deleted",
			n, len(streams)+len(deliveries), c.opts.MaxStreams, n)
	case c.opts.MaxShards > 0 && total > c.opts.MaxShards:
		return fmt.Errorf("the shard log's streams have %d shards in all, more than storage.max_shards (%d): "+
			"raise it to at least %d to start (each shard holds memory and a file descriptor; then delete streams through the API to come back under it); nothing was opened or deleted",
			total, c.opts.MaxShards, total)
	}
	return nil
}

// Close stops the watch (Options.Watch), then the created delivery
// streams, flushing what they hold.
func (c *Catalog) Close() {
	c.mu.Lock()
	stopWatch := c.stopWatch
	c.stopWatch = nil
	c.mu.Unlock()
	if stopWatch != nil {
		stopWatch()
	}
	c.ctl.Lock()
	defer c.ctl.Unlock()
	c.mu.RLock()
	var stops []func()
	for _, d := range c.deliveries {
		if d.stop != nil {
			stops = append(stops, d.stop)
		}
	}
	c.mu.RUnlock()
	var wg sync.WaitGroup
	for _, stop := range stops {
		wg.Go(stop)
	}
	wg.Wait()
}
