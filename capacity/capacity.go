package capacity

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/hydrant-dev/hydrant/shards"
)

// Config configures a Scaler.
type Config struct {
	Store *shards.Store
	// Interval is how often shards are measured (default 1 s).
	Interval time.Duration
	// SplitAfter is how long a shard stays hot before it is split
	// (default 3 s); MergeAfter how long two adjacent shards stay cold
	// before they are merged (default 5 min).
	SplitAfter, MergeAfter time.Duration
	// MaxShards bounds the open shards of every stream together, as
	// storage.max_shards does (0: no bound).
	MaxShards int
	Logger    *slog.Logger
	// Now is the clock of the measurements (default time.Now).
	Now func() time.Time
}

// Thresholds of a shard's use of its quota, the larger of its bytes' and
// records' shares, in one tick.
const (
	hotUse  = 0.9
	coldUse = 0.2
)

// Scaler reshards the on-demand streams of a store by their load (see the
// package doc). Tick is not safe for concurrent use; Run calls it.
type Scaler struct {
	cfg     Config
	streams map[string]*streamLoad
}

// streamLoad is what a Scaler remembers of one stream's shards.
type streamLoad struct {
	shards map[int]*shardLoad
}

type shardLoad struct {
	last shards.QuotaUsage
	at   time.Time // of last
	// measured: a tick has measured the shard's load (not only its
	// baseline), so its streak is its own too.
	measured            bool
	hotSince, coldSince time.Time // zero when not hot (cold) in the last tick
}

// New returns a Scaler of cfg.Store's streams.
func New(cfg Config) *Scaler {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.SplitAfter <= 0 {
		cfg.SplitAfter = 3 * time.Second
	}
	if cfg.MergeAfter <= 0 {
		cfg.MergeAfter = 5 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Scaler{cfg: cfg, streams: map[string]*streamLoad{}}
}

// Run ticks every Interval until ctx ends.
func (s *Scaler) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Tick(ctx)
		}
	}
}

// Tick measures the on-demand streams' shards at Now and reshards those
// whose load calls for it: at most one reshard per stream. A reshard that
// fails (another one in progress, the store closing) is tried again at a
// later tick.
func (s *Scaler) Tick(ctx context.Context) {
	now := s.cfg.Now()
	_, total := s.cfg.Store.Counts()
	seen := map[string]bool{}
	for _, st := range s.cfg.Store.Streams() {
		lin := st.Lineage()
		if lin.Capacity != shards.OnDemand {
			continue
		}
		seen[st.Name()] = true
		load := s.streams[st.Name()]
		if load == nil {
			load = &streamLoad{shards: map[int]*shardLoad{}}
			s.streams[st.Name()] = load
		}
		plan := load.measure(st, lin, now, s.cfg)
		if s.cfg.MaxShards > 0 {
			plan.Split = plan.Split[:min(len(plan.Split), max(s.cfg.MaxShards-total, 0))]
		}
		if len(plan.Split) == 0 && len(plan.Merge) == 0 {
			continue
		}
		err := s.cfg.Store.Reshard(ctx, st.Name(), plan)
		if err != nil {
			if !errors.Is(err, shards.ErrReshardInProgress) {
				s.cfg.Logger.Warn("on-demand capacity: reshard failed; tried again", "stream", st.Name(), "error", err)
			}
			continue
		}
		total += len(plan.Split) - len(plan.Merge)
		s.cfg.Logger.Info("on-demand capacity: resharded", "stream", st.Name(), "split", len(plan.Split),
			"merged", len(plan.Merge), "open_shards", st.OpenShards())
	}
	for name := range s.streams {
		if !seen[name] {
			delete(s.streams, name)
		}
	}
}

// measure reads each open shard's usage since the last tick and returns
// the reshard its load calls for: the shards hot for SplitAfter, or else
// the adjacent pairs cold for MergeAfter (down to the configured count).
func (l *streamLoad) measure(st *shards.Stream, lin *shards.Lineage, now time.Time, cfg Config) shards.Plan {
	open := lin.Open()
	live := map[int]bool{}
	var plan shards.Plan
	for _, sh := range open {
		live[sh.ID] = true
		q := st.Quota(sh.ID)
		if q == nil {
			continue // closed meanwhile
		}
		u, lim := q.Usage(), q.Limits()
		sl := l.shards[sh.ID]
		if sl == nil {
			// A new shard goes on with its parents' streak: a hot parent's
			// children split again as soon as a tick of their own shows them
			// hot too, cold parents' child merges once it shows cold.
			sl = &shardLoad{last: u, at: now}
			for _, p := range sh.Parents() {
				if pl := l.shards[p]; pl != nil {
					sl.hotSince = latest(sl.hotSince, pl.hotSince)
					sl.coldSince = latest(sl.coldSince, pl.coldSince)
				}
			}
			l.shards[sh.ID] = sl
			continue
		}
		secs := now.Sub(sl.at).Seconds()
		if secs <= 0 {
			continue
		}
		use := max(float64(u.Bytes-sl.last.Bytes)/secs/float64(lim.BytesPerSecond),
			float64(u.Records-sl.last.Records)/secs/float64(lim.RecordsPerSecond))
		throttled := u.Throttled > sl.last.Throttled
		sl.last, sl.at, sl.measured = u, now, true
		switch {
		case throttled || use >= hotUse:
			sl.coldSince = time.Time{}
			if sl.hotSince.IsZero() {
				sl.hotSince = now
			}
		case use < coldUse:
			sl.hotSince = time.Time{}
			if sl.coldSince.IsZero() {
				sl.coldSince = now
			}
		default:
			sl.hotSince, sl.coldSince = time.Time{}, time.Time{}
		}
		if !sl.hotSince.IsZero() && now.Sub(sl.hotSince) >= cfg.SplitAfter {
			plan.Split = append(plan.Split, sh.ID)
		}
	}
	for id := range l.shards {
		if !live[id] {
			delete(l.shards, id)
		}
	}
	if len(plan.Split) > 0 {
		return plan
	}
	cold := func(id int) bool {
		sl := l.shards[id]
		return sl != nil && sl.measured && !sl.coldSince.IsZero() && now.Sub(sl.coldSince) >= cfg.MergeAfter
	}
	n := len(open)
	for i := 0; i+1 < len(open) && n > max(lin.Configured, 1); i++ {
		if a, b := open[i].ID, open[i+1].ID; cold(a) && cold(b) {
			plan.Merge = append(plan.Merge, [2]int{a, b})
			n--
			i++ // each shard in one pair at most
		}
	}
	return plan
}

// latest returns the later of a and b, or the one set.
func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
