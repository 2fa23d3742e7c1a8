package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/shards"
)

// liveEnv is a live built from the real parts serve wires (store, streams,
// catalog, declared deliveries), without the HTTP server, for tests that
// reach into a reset; puts go through the ingest handler.
type liveEnv struct {
	dir   string
	l     *live
	store *shards.Store
	put   *httptest.Server
}

func newLiveEnv(t *testing.T, body string) *liveEnv {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "hydrant.yaml")
	text := fmt.Sprintf("storage:\n  data_dir: %s\n", filepath.Join(dir, "data")) + strings.ReplaceAll(body, "OUT", dir)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	regs := newRegistries()
	cfg, err := loadConfig(path, regs)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: cfg.Storage.DataDir, SyncAlways: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	reg := prometheus.NewRegistry()
	denv := deliveryEnv{regs: regs, store: store, dataDir: cfg.Storage.DataDir, logger: logger, memory: buffer.NewMemory(64 << 20),
		metrics: metrics.NewDelivery(reg), board: &statusBoard{}, own: pipeline.Solo{}}
	targets, logs, err := openStreams(ctx, cfg, store, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ingest.NewServer(ingest.Limits{MaxRequestSize: 1 << 20, MaxRecordSize: 1 << 20}, targets, nil, ingest.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := newCatalog(ctx, cfg, denv, logs, srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	for _, d := range cfg.Deliveries {
		if err := cat.StartDeclared(d.Name, declaredStarter(d, denv)); err != nil {
			t.Fatal(err)
		}
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &liveEnv{dir: dir, l: newLive(path, regs, cfg, denv, cat, srv, reg, logger), store: store, put: hs}
}

// linesNamed counts the lines delivered under sub in objects whose name
// starts with prefix.
func (e *liveEnv) linesNamed(t *testing.T, sub, prefix string) int {
	t.Helper()
	n := 0
	for path, lines := range destinationtest.DeliveredLines(t, filepath.Join(e.dir, sub)) {
		if strings.HasPrefix(filepath.Base(path), prefix) {
			n += len(lines)
		}
	}
	return n
}

// A reset cut short after its first shard (a checkpoint write failing)
// has already counted the replay: the shard it rewound replays under the
// new name, never under the old one; a retry with the old generation is
// refused; run again, the reset rewinds every shard under the next name.
func TestResetCutShortIsSafeToRunAgain(t *testing.T) {
	e := newLiveEnv(t, reloadBase)
	var body strings.Builder
	for i := range 40 {
		fmt.Fprintf(&body, "{\"n\":%d}\n", i)
	}
	resp, err := http.Post(e.put.URL+"/v1/streams/events/records", "application/x-ndjson", strings.NewReader(body.String()))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("put: %v %v", resp, err)
	}
	resp.Body.Close()
	await.Cond(t, 10*time.Second, "first delivery", func() bool { return e.linesNamed(t, "keep", "keep-") == 40 })
	onShard := map[int]int{}
	for id := range 2 {
		res, err := e.store.Read(context.Background(), "events", id, 0, 1000, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		onShard[id] = len(res.Records)
	}
	if onShard[0] == 0 || onShard[1] == 0 {
		t.Fatalf("records by shard %v: want some on each", onShard)
	}

	// The checkpoint of the first shard is written, then the store fails.
	e.l.writeCheckpoints = func(ctx context.Context, store *shards.Store, delivery string, plan map[int]shards.Sequence) error {
		first := slices.Min(slices.Collect(maps.Keys(plan)))
		if err := store.SetCheckpoint(ctx, delivery, first, plan[first]); err != nil {
			return err
		}
		return errors.New("checkpoint store unavailable")
	}
	to := pipeline.StartPosition{At: pipeline.StartTrimHorizon}
	_, status, err := e.l.reset(context.Background(), "keep", to, 0)
	if status != http.StatusInternalServerError || err == nil || !strings.Contains(err.Error(), "run the reset again") {
		t.Fatalf("reset cut short: %d %v", status, err)
	}
	if n, err := replayGeneration(context.Background(), e.store, "keep"); n != 1 || err != nil {
		t.Fatalf("replay generation after a reset cut short: %d %v, want 1", n, err)
	}
	await.Cond(t, 10*time.Second, "the rewound shard to replay under the new name", func() bool {
		return e.linesNamed(t, "keep", "keep.replay1-shardId-000000000000") == onShard[0]
	})
	if got := e.linesNamed(t, "keep", "keep-"); got != 40 {
		t.Fatalf("%d lines under the old name, want the 40 first delivered", got)
	}

	// A retry of the same request (generation 0) does nothing.
	e.l.writeCheckpoints = nil
	if _, status, err := e.l.reset(context.Background(), "keep", to, 0); status != http.StatusConflict || err == nil {
		t.Fatalf("reset with a stale generation: %d %v, want 409", status, err)
	}
	ans, status, err := e.l.reset(context.Background(), "keep", to, 1)
	if status != http.StatusOK || err != nil || ans.BatchName != "keep.replay2" || ans.Generation != 2 {
		t.Fatalf("reset run again: %d %v %+v", status, err, ans)
	}
	await.Cond(t, 10*time.Second, "every shard to replay under the next name", func() bool {
		return e.linesNamed(t, "keep", "keep.replay2-") == 40
	})
}
