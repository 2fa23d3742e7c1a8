package history

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"
)

// Kind says what a series is of.
type Kind uint8

const (
	// KindStream is a stream: its Reading holds counters.
	KindStream Kind = iota
	// KindShard is one shard of a stream: counters.
	KindShard
	// KindDelivery is a delivery: gauges and a counter.
	KindDelivery
)

// Reading is one series' values at one sample.
type Reading struct {
	Kind  Kind
	Name  string // the stream's or the delivery's
	Shard string // the shard's ID (KindShard)
	// Bytes, Records and Throttled are cumulative totals (streams and
	// shards): the sampler keeps their per-second rates between samples.
	// A total that goes down (a restart) starts again from its new value.
	Bytes, Records, Throttled float64
	// LagSeconds and LagRecords are gauges (deliveries), kept as read;
	// Retries is a delivery's cumulative count of retried attempts, kept as
	// a rate like the counters above.
	LagSeconds, LagRecords, Retries float64
}

// Source reads the current values of every stream, shard and delivery.
type Source interface {
	// Read appends one Reading per series to dst and returns it. A series
	// absent from a reading has no point at that sample.
	Read(ctx context.Context, dst []Reading) ([]Reading, error)
}

// Config configures a Sampler.
type Config struct {
	Source Source
	// Interval is the time between samples (what Run's ticks should be);
	// Window how much history is kept: Window/Interval points per series.
	Interval, Window time.Duration
	Logger           *slog.Logger
	_                struct{} // keyed literals only
}

// Sampler keeps the last Window of samples in fixed-size rings. It is safe
// for concurrent use: Sample (or Run) writes, WriteJSON reads. A slow
// Source (a cluster's status waits on NATS) delays the next sample, never
// a read: Sample reads it without holding the rings' lock.
type Sampler struct {
	cfg Config

	// sampling orders samples and guards reading, the buffer each reuses:
	// held across Source.Read, which mu is not.
	sampling sync.Mutex
	reading  []Reading

	mu    sync.Mutex
	times []int64 // unix milliseconds, a ring of len cap
	next  int     // the slot the next sample takes
	n     int     // samples held (≤ len(times))
	gen   uint64  // samples taken so far
	// series by key; each holds values aligned with times.
	series map[key]*series
}

type key struct {
	kind        Kind
	name, shard string
}

// series is one stream's, shard's or delivery's ring of values: for
// counters, their rates (bytes, records, throttled per second); for a
// delivery, lag seconds, lag records and retries per second. NaN marks a
// sample without a point.
type series struct {
	vals [3][]float32
	// last are the counters at the last sample that read them (at lastAt).
	last   [3]float64
	lastAt time.Time
	seen   uint64 // the gen of the last sample that read the series
}

// New returns a Sampler; Interval and Window must be positive and Window at
// least one Interval.
func New(cfg Config) *Sampler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	points := max(int(cfg.Window/cfg.Interval), 1)
	return &Sampler{cfg: cfg, times: make([]int64, points), series: make(map[key]*series)}
}

// Interval returns the time between samples.
func (s *Sampler) Interval() time.Duration { return s.cfg.Interval }

// Run takes a sample at each tick until ctx ends (serve passes a
// time.Ticker's channel of Interval; tests their own).
func (s *Sampler) Run(ctx context.Context, ticks <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticks:
			if err := s.Sample(ctx, now); err != nil {
				s.cfg.Logger.Debug("console history: sample skipped", "error", err)
			}
		}
	}
}

// Sample reads the source and records one point of every series at now. A
// failed read records nothing. The source is read without holding the
// rings: WriteJSON answers meanwhile with the samples before.
func (s *Sampler) Sample(ctx context.Context, now time.Time) error {
	s.sampling.Lock()
	defer s.sampling.Unlock()
	rs, err := s.cfg.Source.Read(ctx, s.reading[:0])
	s.reading = rs[:0]
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slot := s.next
	s.times[slot] = now.UnixMilli()
	s.next = (s.next + 1) % len(s.times)
	s.n = min(s.n+1, len(s.times))
	s.gen++
	nan := float32(math.NaN())
	for i := range rs {
		r := &rs[i]
		k := key{kind: r.Kind, name: r.Name, shard: r.Shard}
		ser := s.series[k]
		if ser == nil {
			ser = s.newSeries()
			s.series[k] = ser
		}
		cur, counter := [3]float64{r.Bytes, r.Records, r.Throttled}, [3]bool{true, true, true}
		if r.Kind == KindDelivery {
			cur, counter = [3]float64{r.LagSeconds, r.LagRecords, r.Retries}, [3]bool{false, false, true}
		}
		dt := now.Sub(ser.lastAt).Seconds()
		prev := ser.seen != 0 && ser.seen == s.gen-1 && dt > 0 // a rate needs the previous sample
		for j := range cur {
			var v float64
			switch {
			case !counter[j]:
				v = cur[j]
			case !prev:
				v = math.NaN()
			case cur[j] < ser.last[j]:
				v = cur[j] / dt // restarted from zero
			default:
				v = (cur[j] - ser.last[j]) / dt
			}
			ser.vals[j][slot] = float32(v)
		}
		ser.last, ser.lastAt, ser.seen = cur, now, s.gen
	}
	for k, ser := range s.series {
		if ser.seen == s.gen {
			continue
		}
		if s.gen-ser.seen >= uint64(len(s.times)) { // gone for a whole window
			delete(s.series, k)
			continue
		}
		ser.vals[0][slot], ser.vals[1][slot], ser.vals[2][slot] = nan, nan, nan
	}
	return nil
}

// newSeries returns a series with no points yet.
func (s *Sampler) newSeries() *series {
	ser := &series{}
	nan := float32(math.NaN())
	for j := range ser.vals {
		ser.vals[j] = make([]float32, len(s.times))
		for i := range ser.vals[j] {
			ser.vals[j][i] = nan
		}
	}
	return ser
}
