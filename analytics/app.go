package analytics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/internal/jsonpointer"
	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/hydrant-dev/hydrant/shards"
	"github.com/prometheus/client_golang/prometheus"
)

// AppConfig is one SQL application: it reads Source, groups its records in
// Windows by arrival time (Kinesis' ROWTIME), runs SQL over each window
// once every record up to the window's end is read, and puts the result
// rows into Output.
type AppConfig struct {
	Name    string
	Source  string
	SQL     string
	Windows Windows
	// Schema is the input's columns; nil: inferred from the source's
	// records when the app first reads some (see inferSchema).
	Schema *Schema
	Output string
	// PartitionKey is the result column whose value is each output
	// record's partition key ("": the row's text, so equal rows land
	// together).
	PartitionKey string
	// Poll is how often the app reads what its source shards hold
	// (default 200 ms).
	Poll time.Duration
	// EventTime, when set, is the JSON pointer of each record's event time
	// (RFC 3339 or epoch milliseconds), by which windows go instead of
	// arrival; a window then closes once every shard's newest event time
	// (or, all shards at their tip for AllowedLateness, the clock) is
	// AllowedLateness past its end, and a record whose windows are all
	// emitted is late.
	EventTime       string
	AllowedLateness time.Duration
	// Errors receives the records that do not fit Schema (type
	// ErrorTypeFailed) and late ones (ErrorTypeLate); nil: they are logged.
	Errors destinations.ErrorOutput
	// ReferenceReload is how often the engine's reference tables are
	// loaded from their files again (0: never).
	ReferenceReload time.Duration
	// Metrics are moved by the app (nil: none).
	Metrics *metrics.Analytics
	// Grace is how much earlier than now a record can still arrive on a
	// shard read to its end (the log stamps a record when it takes it and
	// shows it once stored; default 1 s): a window closes once every
	// shard has been read past its end, or to its tip for Grace after it.
	Grace time.Duration
}

// Error output types of applications.
const (
	ErrorTypeFailed = "analytics-failed"
	ErrorTypeLate   = "analytics-late"
)

// App runs one application over a store. Not safe for concurrent use.
type App struct {
	cfg    AppConfig
	store  *shards.Store
	engine *Engine
	now    func() time.Time
	logger *slog.Logger
	key    jsonpointer.Pointer
	event  jsonpointer.Pointer // EventTime; zero: arrival
	// errs are records for the error output not written yet, by type and
	// shard.
	errs map[errKey][]destinations.ErrorRecord

	state   appState
	rev     uint64 // of the state as last read or written
	windows map[Window][]Row
	reads   map[int]*shardRead
	m       appMetrics

	statusMu sync.Mutex
	status   Status
	reloaded time.Time // when the reference tables were last loaded
}

// Status is where an application stands, for operators.
type Status struct {
	Name, Source, Output string
	// Emitted is the end of the newest window emitted (zero: none yet).
	Emitted time.Time
	// OpenWindows and BufferedRows are what it holds, not yet emitted.
	OpenWindows, BufferedRows int
	LastError                 string
	LastErrorAt               time.Time
	// Running is whether Run is running (on a cluster, whether this node
	// holds the application's lease).
	Running bool
}

// Status returns where the app stands now; safe to call while it runs.
func (a *App) Status() Status {
	a.statusMu.Lock()
	defer a.statusMu.Unlock()
	return a.status
}

// setStatus records where the app stands after a step (err: how it
// failed).
func (a *App) setStatus(err error) {
	rows := 0
	for _, r := range a.windows {
		rows += len(r)
	}
	a.statusMu.Lock()
	defer a.statusMu.Unlock()
	a.status.Name, a.status.Source, a.status.Output = a.cfg.Name, a.cfg.Source, a.cfg.Output
	a.status.Emitted, a.status.OpenWindows, a.status.BufferedRows = a.state.Emitted, len(a.windows), rows
	if err != nil {
		a.status.LastError, a.status.LastErrorAt = err.Error(), a.now()
	}
}

func (a *App) setRunning(on bool) {
	a.statusMu.Lock()
	defer a.statusMu.Unlock()
	a.status.Running = on
}

// appMetrics are the app's series (no-ops without Metrics).
type appMetrics struct {
	input, failed, late, output, windows prometheus.Counter
	lag                                  prometheus.Gauge
}

func newAppMetrics(m *metrics.Analytics, name string) appMetrics {
	if m == nil {
		m = metrics.NewAnalytics(prometheus.NewRegistry())
	}
	return appMetrics{input: m.InputRecords.WithLabelValues(name), failed: m.FailedRecords.WithLabelValues(name),
		late:   m.LateRecords.WithLabelValues(name),
		output: m.OutputRecords.WithLabelValues(name), windows: m.Windows.WithLabelValues(name), lag: m.WindowLag.WithLabelValues(name)}
}

type errKey struct {
	typ   string
	shard int
}

// shardRead is where the app stands in one source shard.
type shardRead struct {
	next    shards.Sequence // the next record to read
	last    time.Time       // the newest time (arrival or event) of a record read
	atTip   time.Time       // when a read last found nothing more; zero: not at the tip
	idle    time.Time       // since when reads have found nothing more; zero: not at the tip
	drained bool            // closed and read to its end
}

// appState is what the app checkpoints, as one value, after each window:
// where to read again (every record of a window not emitted yet is at or
// after it), which windows are emitted, and a window whose results were
// being put when the app stopped.
type appState struct {
	Emitted   time.Time                  `json:"emitted"` // every window ending at or before it is emitted
	Positions map[string]shards.Sequence `json:"positions"`
	// Classified is, per shard, where reading stood at the last commit:
	// a record before it that is read again and is in no open window was
	// counted (in an emitted window, or late) already.
	Classified map[string]shards.Sequence `json:"classified,omitempty"`
	Pending    *pendingWindow             `json:"pending,omitempty"`
	// Schema is the columns inferred for an app with no declared schema.
	Schema []Column `json:"schema,omitempty"`
}

// pendingWindow is a window whose results were being put: the output's
// shards' last messages before, so that a restart finds which results
// made it.
type pendingWindow struct {
	Window Window         `json:"window"`
	Tips   map[int]uint64 `json:"tips"`
}

// NewApp returns the app of cfg over store, running its SQL on engine.
func NewApp(cfg AppConfig, store *shards.Store, engine *Engine, now func() time.Time, logger *slog.Logger) (*App, error) {
	if err := cfg.Windows.Validate(); err != nil {
		return nil, err
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	if cfg.Grace <= 0 {
		cfg.Grace = time.Second
	}
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &App{cfg: cfg, store: store, engine: engine, now: now, logger: logger.With("application", cfg.Name),
		status:  Status{Name: cfg.Name, Source: cfg.Source, Output: cfg.Output},
		windows: map[Window][]Row{}, reads: map[int]*shardRead{}, m: newAppMetrics(cfg.Metrics, cfg.Name),
		errs: map[errKey][]destinations.ErrorRecord{}}
	if cfg.EventTime != "" {
		ptr, err := compilePointer(cfg.EventTime)
		if err != nil || ptr.IsZero() {
			return nil, fmt.Errorf("event time %q: a JSON pointer such as /ts", cfg.EventTime)
		}
		a.event = ptr
	}
	if cfg.PartitionKey != "" {
		var err error
		if a.key, err = jsonpointer.Compile("/" + cfg.PartitionKey); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *App) stateKey() string { return "analytics/" + a.cfg.Name }

// Run reads, windows and emits until ctx ends. Errors of the store and of
// the output are retried at the next poll; rows the query fails on go to
// the error output (see runIsolating). The error is restore's,
// ErrQueryOverSchema, or shards.ErrMetaChanged: another runner of the app
// (on a cluster, after this one lost its lease) saved its state since
// this one read it, and this one must stop. Run may be called again once
// it returns: it starts from the stored state.
func (a *App) Run(ctx context.Context) error {
	a.setRunning(true)
	defer a.setRunning(false)
	if err := a.restore(ctx); err != nil {
		return err
	}
	t := time.NewTicker(a.cfg.Poll)
	defer t.Stop()
	for {
		err := a.Step(ctx)
		a.setStatus(err)
		if errors.Is(err, ErrQueryOverSchema) || errors.Is(err, shards.ErrMetaChanged) {
			return err
		}
		if err != nil && ctx.Err() == nil {
			a.logger.Warn("application: step failed; again at the next poll", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// restore reads the app's state: where to read again, what is emitted,
// and a window whose results were being put when it stopped (emit
// finishes it).
func (a *App) restore(ctx context.Context) error {
	a.state, a.windows, a.reads, a.errs = appState{}, map[Window][]Row{}, map[int]*shardRead{}, map[errKey][]destinations.ErrorRecord{}
	v, rev, err := a.store.GetMeta(ctx, a.stateKey())
	if err != nil {
		return err
	}
	a.rev = rev
	if v != nil {
		if err := json.Unmarshal(v, &a.state); err != nil {
			return fmt.Errorf("application %s: its state: %w", a.cfg.Name, err)
		}
	}
	if a.state.Positions == nil {
		a.state.Positions = map[string]shards.Sequence{}
	}
	if a.state.Classified == nil {
		a.state.Classified = map[string]shards.Sequence{}
	}
	if a.cfg.Schema == nil && len(a.state.Schema) > 0 {
		s, err := NewSchema(a.state.Schema)
		if err != nil {
			return fmt.Errorf("application %s: its inferred schema: %w", a.cfg.Name, err)
		}
		a.cfg.Schema = s
	}
	return nil
}

// Step reads what the source holds, and emits every window that closed.
func (a *App) Step(ctx context.Context) error {
	src, ok := a.store.Stream(a.cfg.Source)
	if !ok {
		return fmt.Errorf("source stream %q is not open", a.cfg.Source)
	}
	if now := a.now(); a.cfg.ReferenceReload > 0 && now.Sub(a.reloaded) >= a.cfg.ReferenceReload {
		if a.reloaded.IsZero() {
			a.reloaded = now // loaded when the engine started
		} else if err := a.engine.Reload(ctx); err != nil {
			a.logger.Warn("application: reference tables not reloaded; the loaded ones stay", "error", err)
			a.setStatus(err)
		} else {
			a.reloaded = now
		}
	}
	if a.cfg.Schema == nil {
		if err := a.inferSchema(ctx, src.Lineage()); err != nil || a.cfg.Schema == nil {
			return err
		}
	}
	if err := a.read(ctx, src.Lineage()); err != nil {
		return err
	}
	if err := a.writeErrors(ctx); err != nil {
		return err
	}
	watermark := a.watermark()
	after := a.state.Emitted
	if after.IsZero() {
		after = a.oldest()
		if after.IsZero() {
			return nil // nothing read yet
		}
		after = floor(after, a.cfg.Windows.step()).Add(-1)
	}
	for _, w := range a.cfg.Windows.Closed(after, watermark) {
		if err := a.emit(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

// readPerStep bounds what one step reads of a shard, so that windows are
// emitted as reading goes on under a load it cannot reach the tip of.
const readPerStep = 50_000

// read reads every shard of lin from where the app stands.
func (a *App) read(ctx context.Context, lin *shards.Lineage) error {
	now := a.now()
	for _, sh := range lin.Shards {
		r := a.reads[sh.ID]
		if r == nil {
			r = &shardRead{next: a.state.Positions[shards.ShardID(sh.ID)]}
			a.reads[sh.ID] = r
		}
		if r.drained {
			continue
		}
		for n := 0; n < readPerStep; {
			res, err := a.store.Read(ctx, a.cfg.Source, sh.ID, r.next, 10000, 8<<20)
			if err != nil {
				return err
			}
			for _, rec := range res.Records {
				a.add(sh.ID, rec)
			}
			n += len(res.Records)
			r.next = res.Next
			if len(res.Records) == 0 {
				r.atTip = now // nothing more as of now
				if r.idle.IsZero() {
					r.idle = now
				}
				r.drained = !sh.IsOpen()
				break
			}
			r.atTip, r.idle = time.Time{}, time.Time{}
		}
	}
	return nil
}

// add puts rec in the windows of its time that are not emitted: a record
// that does not fit the schema, and (by event time) one whose windows are
// all emitted, goes to the error output instead.
func (a *App) add(shard int, rec shards.StoredRecord) {
	a.m.input.Inc()
	vals, err := a.cfg.Schema.Values(rec.Data)
	t := rec.Arrival
	if err == nil && !a.event.IsZero() {
		t, err = a.eventTime(rec.Data)
	}
	// A record before Classified was read before a restart: what is to be
	// said of it was said then.
	fresh := rec.Sequence >= a.state.Classified[shards.ShardID(shard)]
	if err != nil {
		if fresh {
			a.m.failed.Inc()
			a.fail(ErrorTypeFailed, shard, rec, err.Error())
		}
		return
	}
	if r := a.reads[shard]; r != nil && t.After(r.last) {
		r.last = t
	}
	row := Row{Values: vals, Arrival: rec.Arrival, PartitionKey: rec.PartitionKey, Sequence: rec.Sequence.String(),
		ShardID: shards.ShardID(shard), shard: shard, seq: rec.Sequence}
	in := 0
	for _, w := range a.cfg.Windows.Of(t) {
		if !w.End.After(a.state.Emitted) {
			continue // emitted already
		}
		a.windows[w] = append(a.windows[w], row)
		in++
	}
	if in == 0 && !a.event.IsZero() && fresh {
		a.m.late.Inc()
		a.fail(ErrorTypeLate, shard, rec, fmt.Sprintf("event time %s is before %s, the end of the windows emitted, by more than allowed_lateness (%v)",
			t.UTC().Format(time.RFC3339Nano), a.state.Emitted.UTC().Format(time.RFC3339Nano), a.cfg.AllowedLateness))
	}
}

// eventTime reads a record's event time.
func (a *App) eventTime(rec []byte) (time.Time, error) {
	dec := json.NewDecoder(bytes.NewReader(rec))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return time.Time{}, &ConversionError{Err: err}
	}
	v, ok := a.event.Resolve(doc)
	if !ok || v == nil {
		return time.Time{}, &ConversionError{Column: a.cfg.EventTime, Err: errors.New("no event time")}
	}
	t, err := timeValue(v, "timestamp_millis")
	if err != nil {
		return time.Time{}, &ConversionError{Column: a.cfg.EventTime, Err: err}
	}
	return t.(time.Time), nil
}

// fail queues rec for the error output (or logs it without one).
func (a *App) fail(typ string, shard int, rec shards.StoredRecord, why string) {
	if a.cfg.Errors == nil {
		a.logger.Warn("application: a record is in no window", "type", typ, "shard", shards.ShardID(shard),
			"sequence", rec.Sequence.String(), "reason", why)
		return
	}
	k := errKey{typ, shard}
	a.errs[k] = append(a.errs[k], destinations.ErrorRecord{
		Record:       buffer.Record{Data: rec.Data, PartitionKey: rec.PartitionKey, Sequence: uint64(rec.Sequence), Arrival: rec.Arrival},
		AttemptsMade: 1, ErrorCode: typ, ErrorMessage: why, AttemptEnding: a.now()})
}

// writeErrors writes the queued records to the error output; what fails
// stays queued for the next step (the window commit waits for it).
func (a *App) writeErrors(ctx context.Context) error {
	for k, recs := range a.errs {
		err := a.cfg.Errors.WriteErrors(ctx, &destinations.ErrorBatch{Delivery: a.cfg.Name, ShardID: shards.ShardID(k.shard), Type: k.typ, Records: recs})
		if err != nil {
			return fmt.Errorf("error output: %w", err)
		}
		delete(a.errs, k)
	}
	return nil
}

// watermark is the time before which every record of the source is read.
// By arrival: the earliest of each shard's last arrival, or, for a shard
// at its tip, now less Grace; a closed shard read to its end holds nothing
// back. By event time: the earliest newest event time of the shards not at
// their tip (all at their tip: the newest of all, or the clock once they
// have been for AllowedLateness), less AllowedLateness.
func (a *App) watermark() time.Time {
	now := a.now()
	if !a.event.IsZero() {
		var wm, newest time.Time
		idleSince := now
		busy := false
		for _, r := range a.reads {
			newest = latest(newest, r.last)
			switch {
			case r.drained:
			case !r.atTip.IsZero():
				idleSince = earliest(idleSince, r.idle)
			default:
				if !busy || r.last.Before(wm) {
					wm = r.last
				}
				busy = true
			}
		}
		if !busy {
			wm = newest
			if now.Sub(idleSince) >= a.cfg.AllowedLateness {
				wm = latest(wm, now.Add(-a.cfg.Grace))
			}
		}
		return wm.Add(-a.cfg.AllowedLateness)
	}
	wm := now.Add(-a.cfg.Grace)
	for _, r := range a.reads {
		switch {
		case r.drained:
		case !r.atTip.IsZero():
			wm = earliest(wm, latest(r.last, r.atTip.Add(-a.cfg.Grace)))
		default:
			wm = earliest(wm, r.last)
		}
	}
	return wm
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// oldest is the earliest window start buffered (zero: none).
func (a *App) oldest() time.Time {
	var t time.Time
	for w := range a.windows {
		if t.IsZero() || w.Start.Before(t) {
			t = w.Start
		}
	}
	return t
}

// emit runs the query over w's rows and puts the results, exactly once:
// the window is recorded as pending with the output shards' tips, its
// results put, then recorded as emitted with the positions to read again
// from. A restart that finds it pending puts only the results not found
// after the tips.
func (a *App) emit(ctx context.Context, w Window) error {
	rows := a.windows[w]
	if len(rows) == 0 {
		return a.commit(ctx, w)
	}
	slices.SortFunc(rows, rowOrder) // the same rows, the same order, after a restart
	results, failed, err := a.runIsolating(ctx, w, rows)
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		if err := a.failRows(ctx, w, failed); err != nil {
			return err
		}
	}
	out, ok := a.store.Stream(a.cfg.Output)
	if !ok {
		return fmt.Errorf("output stream %q is not open", a.cfg.Output)
	}
	if len(results) > 0 {
		if !a.pending(w) {
			tips := map[int]uint64{}
			for id := range out.Shards() {
				info, err := a.store.ShardInfo(ctx, a.cfg.Output, id)
				if err != nil {
					return err
				}
				tips[id] = info.LastMsg
			}
			a.state.Pending = &pendingWindow{Window: w, Tips: tips}
			if err := a.save(ctx); err != nil {
				return err
			}
		} else if results, err = a.unstored(ctx, out, results); err != nil {
			return err
		}
		if err := a.put(ctx, out, results); err != nil {
			return err
		}
		a.m.output.Add(float64(len(results)))
	}
	return a.commit(ctx, w)
}

// pending reports whether w is the window whose results were being put.
func (a *App) pending(w Window) bool {
	p := a.state.Pending
	return p != nil && p.Window.Start.Equal(w.Start) && p.Window.End.Equal(w.End)
}

// unstored returns the results not found in the output after the pending
// window's tips (an identical record counts once).
func (a *App) unstored(ctx context.Context, out *shards.Stream, results [][]byte) ([][]byte, error) {
	found := map[string]int{}
	for id := range out.Shards() {
		from := shards.MakeSequence(a.state.Pending.Tips[id]+1, 0)
		for {
			res, err := a.store.Read(ctx, a.cfg.Output, id, from, 10000, 8<<20)
			if err != nil {
				return nil, err
			}
			for _, r := range res.Records {
				found[string(r.Data)]++
			}
			if len(res.Records) == 0 {
				break
			}
			from = res.Next
		}
	}
	var left [][]byte
	for _, r := range results {
		if found[string(r)] > 0 {
			found[string(r)]--
			continue
		}
		left = append(left, r)
	}
	return left, nil
}

// put puts results into the output stream through its quotas, putting
// again what is throttled until all are stored or ctx ends.
func (a *App) put(ctx context.Context, out *shards.Stream, results [][]byte) error {
	recs := make([]shards.Record, len(results))
	for i, r := range results {
		key := string(r)
		if !a.key.IsZero() {
			if k, ok := a.key.LookupString(r); ok {
				key = k
			}
		}
		if len(key) > 256 {
			key = key[:256]
		}
		recs[i] = shards.Record{PartitionKey: key, Data: r}
	}
	for wait := 50 * time.Millisecond; len(recs) > 0; wait = min(2*wait, 2*time.Second) {
		var left []shards.Record
		for i, res := range out.Put(ctx, a.now(), recs) {
			if res.Err != nil {
				left = append(left, recs[i])
			}
		}
		if recs = left; len(recs) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return nil
}

// commit records w emitted: drops its rows and checkpoints where to read
// again.
func (a *App) commit(ctx context.Context, w Window) error {
	delete(a.windows, w)
	a.state.Emitted = w.End
	a.m.windows.Inc()
	a.m.lag.Set(max(a.now().Sub(w.End).Seconds(), 0))
	if a.pending(w) {
		a.state.Pending = nil
	}
	positions, classified := map[string]shards.Sequence{}, map[string]shards.Sequence{}
	for id, r := range a.reads {
		positions[shards.ShardID(id)], classified[shards.ShardID(id)] = r.next, r.next
	}
	for _, rows := range a.windows { // records of windows still open are read again
		for _, row := range rows {
			if id := shards.ShardID(row.shard); row.seq < positions[id] {
				positions[id] = row.seq
			}
		}
	}
	a.state.Positions, a.state.Classified = positions, classified
	return a.save(ctx)
}

func (a *App) save(ctx context.Context) error {
	v, err := json.Marshal(a.state)
	if err != nil {
		return err
	}
	rev, err := a.store.SwapMeta(ctx, a.stateKey(), v, a.rev)
	if err != nil {
		return err
	}
	a.rev = rev
	return nil
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
