//go:build cgo

package analytics

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/destinations/file"
	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/hydrant-dev/hydrant/shards"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// appEnv is a store on a fake clock with a source stream of 2 shards and
// an output stream of 2, and the trades put so far.
type appEnv struct {
	t      *testing.T
	ctx    context.Context
	clock  time.Time
	store  *shards.Store
	src    *shards.Stream
	engine *Engine
	dir    string
}

func newAppEnv(t *testing.T) *appEnv {
	e := &appEnv{t: t, ctx: context.Background(), clock: at("2026-12-05T12:00:00Z"), dir: t.TempDir()}
	e.open()
	e.engine = newTestEngine(t)
	return e
}

func (e *appEnv) now() time.Time { return e.clock }

// open opens the store (again: a restart).
func (e *appEnv) open() {
	s, err := shards.Open(e.ctx, shards.StoreConfig{DataDir: e.dir, Now: e.now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Close() })
	e.store = s
	limits := shards.Limits{BytesPerSecond: 1 << 30, RecordsPerSecond: 1 << 20}
	if e.src, err = s.CreateStream(e.ctx, shards.StreamSpec{Name: "trades", Shards: 2, Limits: limits}); err != nil {
		e.t.Fatal(err)
	}
	if _, err = s.CreateStream(e.ctx, shards.StreamSpec{Name: "per-ticker", Shards: 2, Limits: limits}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *appEnv) put(ticker string, price int) {
	res := e.src.Put(e.ctx, e.clock, []shards.Record{{PartitionKey: ticker, Data: fmt.Appendf(nil, `{"ticker":%q,"price":%d}`, ticker, price)}})
	if res[0].Err != nil {
		e.t.Fatal(res[0].Err)
	}
}

func (e *appEnv) app() *App {
	return e.appWith(nil)
}

func (e *appEnv) appWith(m *metrics.Analytics) *App {
	s := mustSchema(e.t, Column{Name: "ticker", Type: "string"}, Column{Name: "price", Type: "int64"})
	a, err := NewApp(AppConfig{Name: "counts", Source: "trades", Output: "per-ticker", Schema: s, Windows: Windows{Size: 10 * time.Second},
		PartitionKey: "ticker", Metrics: m,
		SQL: `SELECT ticker, count(*) AS trades, sum(price) AS total, strftime(window_start, '%H:%M:%S') AS w
		      FROM source GROUP BY ALL ORDER BY ticker`}, e.store, e.engine, e.now, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := a.restore(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	return a
}

// output returns the output stream's records, sorted.
func (e *appEnv) output() []string {
	var out []string
	for id := range 2 {
		from := shards.Sequence(0)
		for {
			res, err := e.store.Read(e.ctx, "per-ticker", id, from, 1000, 1<<20)
			if err != nil {
				e.t.Fatal(err)
			}
			for _, r := range res.Records {
				out = append(out, string(r.Data))
			}
			if len(res.Records) == 0 {
				break
			}
			from = res.Next
		}
	}
	slices.Sort(out)
	return out
}

// A tumbling window is emitted once every shard is read past its end, its
// rows once; then the next.
func TestAppEmitsClosedWindows(t *testing.T) {
	e := newAppEnv(t)
	m := metrics.NewAnalytics(prometheus.NewRegistry())
	a := e.appWith(m)
	for i := range 4 {
		e.put("AMZN", 10+i)
		e.put("MSFT", 1)
		e.clock = e.clock.Add(2 * time.Second)
	}
	if err := a.Step(e.ctx); err != nil {
		t.Fatal(err)
	}
	if out := e.output(); len(out) != 0 {
		t.Fatalf("window 12:00:00 emitted before it closed: %v", out)
	}
	e.clock = at("2026-12-05T12:00:11.5Z") // past the end, and the grace
	if err := a.Step(e.ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{`{"ticker":"AMZN","trades":4,"total":46,"w":"12:00:00"}`, `{"ticker":"MSFT","trades":4,"total":4,"w":"12:00:00"}`}
	if out := e.output(); !slices.Equal(out, want) {
		t.Fatalf("output %v, want %v", out, want)
	}
	e.put("AMZN", 100)
	e.clock = at("2026-12-05T12:00:25Z")
	for range 3 {
		if err := a.Step(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want, `{"ticker":"AMZN","trades":1,"total":100,"w":"12:00:10"}`)
	slices.Sort(want)
	if out := e.output(); !slices.Equal(out, want) {
		t.Fatalf("output %v, want %v", out, want)
	}
	if in, out, lag := testutil.ToFloat64(m.InputRecords), testutil.ToFloat64(m.OutputRecords), testutil.ToFloat64(m.WindowLag); in != 9 || out != 3 || lag != 5 {
		t.Errorf("metrics: %v records in, %v out, window lag %vs; want 9, 3, 5", in, out, lag)
	}
}

// A restart in the middle of putting a window's results puts the rest,
// never a result twice; records of the window still open are read again.
func TestAppFinishesAPendingWindowOnce(t *testing.T) {
	e := newAppEnv(t)
	a := e.app()
	for _, tk := range []string{"A", "B", "C", "D"} {
		e.put(tk, 1)
	}
	e.clock = at("2026-12-05T12:00:12Z")
	e.put("A", 7) // in the next window, open at the crash
	if err := a.read(e.ctx, e.src.Lineage()); err != nil {
		t.Fatal(err)
	}
	// The crash: the first window's results were computed and half put.
	w := Windows{Size: 10 * time.Second}.Of(at("2026-12-05T12:00:00Z"))[0]
	rows := a.windows[w]
	results, err := e.engine.Run(e.ctx, a.cfg.Schema, w, rows, a.cfg.SQL)
	if err != nil || len(results) != 4 {
		t.Fatalf("results %s, %v", results, err)
	}
	a.state.Pending = &pendingWindow{Window: w, Tips: map[int]uint64{0: 0, 1: 0}}
	if err := a.save(e.ctx); err != nil {
		t.Fatal(err)
	}
	out, _ := e.store.Stream("per-ticker")
	if err := a.put(e.ctx, out, results[:2]); err != nil {
		t.Fatal(err)
	}
	// Restart: a new app on the state saved.
	a = e.app()
	e.clock = at("2026-12-05T12:00:25Z")
	for range 2 {
		if err := a.Step(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := e.output()
	var first, second int
	for _, r := range got {
		var v struct{ W string }
		json.Unmarshal([]byte(r), &v)
		switch v.W {
		case "12:00:00":
			first++
		case "12:00:10":
			second++
		}
	}
	if first != 4 || second != 1 || !strings.Contains(strings.Join(got, ""), `"ticker":"A","trades":1,"total":7`) {
		t.Fatalf("after the restart the output holds %d results of the first window (want 4) and %d of the second (want 1): %v", first, second, got)
	}
}

// By event time: records out of order within allowed_lateness land in
// their windows; one later than that goes to the error output as
// analytics-late, and one without an event time as analytics-failed.
func TestAppEventTimeAndLateRecords(t *testing.T) {
	e := newAppEnv(t)
	errs := newErrorOutput(t, filepath.Join(e.dir, "errors"))
	m := metrics.NewAnalytics(prometheus.NewRegistry())
	s := mustSchema(t, Column{Name: "ticker", Type: "string"}, Column{Name: "price", Type: "int64"})
	a, err := NewApp(AppConfig{Name: "by-event", Source: "trades", Output: "per-ticker", Schema: s, Windows: Windows{Size: 10 * time.Second},
		EventTime: "/ts", AllowedLateness: 5 * time.Second, Errors: errs, Metrics: m,
		SQL: `SELECT ticker, count(*) AS trades, strftime(window_start, '%H:%M:%S') AS w FROM source GROUP BY ALL ORDER BY ticker`},
		e.store, e.engine, e.now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.restore(e.ctx); err != nil {
		t.Fatal(err)
	}
	put := func(ticker, ts string) {
		res := e.src.Put(e.ctx, e.clock, []shards.Record{{PartitionKey: "one-shard", Data: fmt.Appendf(nil, `{"ticker":%q,"price":1,"ts":%q}`, ticker, ts)}})
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
	step := func() {
		if err := a.Step(e.ctx); err != nil {
			t.Fatal(err)
		}
	}
	put("A", "2026-12-05T12:00:01Z")
	put("A", "2026-12-05T12:00:12Z")
	put("B", "2026-12-05T12:00:08Z") // out of order, within the lateness: window 12:00:00
	step()
	if out := e.output(); len(out) != 0 {
		t.Fatalf("window 12:00:00 emitted at event time 12:00:12 with 5 s of lateness allowed: %v", out)
	}
	put("A", "2026-12-05T12:00:16Z") // the watermark passes 12:00:10 + 5 s
	step()
	want := []string{`{"ticker":"A","trades":1,"w":"12:00:00"}`, `{"ticker":"B","trades":1,"w":"12:00:00"}`}
	if out := e.output(); !slices.Equal(out, want) {
		t.Fatalf("output %v, want %v", out, want)
	}
	put("C", "2026-12-05T12:00:09Z") // its window is emitted: late
	put("D", "yesterday")            // no event time: failed
	step()
	if late, failed := testutil.ToFloat64(m.LateRecords), testutil.ToFloat64(m.FailedRecords); late != 1 || failed != 1 {
		t.Fatalf("late %v, failed %v; want 1 and 1", late, failed)
	}
	for typ, want := range map[string]string{ErrorTypeLate: `"ticker":"C"`, ErrorTypeFailed: `"ticker":"D"`} {
		docs := readErrorDocs(t, filepath.Join(e.dir, "errors", "errors", typ))
		if len(docs) != 1 || !strings.Contains(docs[0], want) {
			t.Errorf("error output %s: %v, want one record with %s", typ, docs, want)
		}
	}
	// Everything quiet for the lateness: the clock closes window 12:00:10.
	e.clock = e.clock.Add(time.Minute)
	step()
	step()
	if out := e.output(); len(out) != 3 || !strings.Contains(strings.Join(out, ""), `"w":"12:00:10"`) {
		t.Fatalf("after a quiet minute: %v", out)
	}
}

// newErrorOutput is an error output writing Firehose's error documents
// under dir, by error type.
func newErrorOutput(t *testing.T, dir string) destinations.ErrorOutput {
	t.Helper()
	fs, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := destinations.NewObjects(fs, destinations.ObjectsConfig{ErrorPrefix: "errors/!{firehose:error-output-type}/"})
	if err != nil {
		t.Fatal(err)
	}
	return errs
}

// readErrorDocs returns the raw records of the error documents under dir.
func readErrorDocs(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(path)
		for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			var doc struct {
				RawData   string `json:"rawData"`
				ErrorCode string `json:"errorCode"`
			}
			if json.Unmarshal([]byte(line), &doc) == nil {
				raw, _ := base64.StdEncoding.DecodeString(doc.RawData)
				out = append(out, string(raw))
			}
		}
		return nil
	})
	return out
}

// Two runners of one application (a node that lost its lease and its
// successor): once the successor has saved the state, the first cannot
// overwrite it; it gets shards.ErrMetaChanged and stops.
func TestAppStateIsFenced(t *testing.T) {
	e := newAppEnv(t)
	first := e.app()
	second := e.app() // read the same state
	e.put("AMZN", 1)
	e.clock = e.clock.Add(12 * time.Second)
	if err := second.Step(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.put("AMZN", 2)
	e.clock = e.clock.Add(12 * time.Second)
	if err := first.Step(e.ctx); !errors.Is(err, shards.ErrMetaChanged) {
		t.Fatalf("the first runner's save after the second's: %v, want ErrMetaChanged", err)
	}
	// Restored, it goes on from the state the second saved.
	if err := first.restore(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.Step(e.ctx); err != nil {
		t.Fatalf("after restoring: %v", err)
	}
	if out := e.output(); len(out) != 2 {
		t.Fatalf("output %v: want one result per window", out)
	}
}
