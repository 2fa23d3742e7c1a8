package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/hydrant-dev/hydrant/analytics"
	"github.com/hydrant-dev/hydrant/cluster"
	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/destinations/s3"
	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/hydrant-dev/hydrant/shards"
)

// startedApp is a SQL application ready to run, and its engine to close.
type startedApp struct {
	app    *analytics.App
	engine *analytics.Engine
	name   string
}

// newApps builds the config's SQL applications: each its own engine,
// bounded by its memory_limit and spilling under data_dir/analytics/NAME.
// Its query is run once over no rows first, so that a query that cannot
// run refuses the start instead of the first window (with schema: auto,
// once the columns are inferred).
func newApps(ctx context.Context, cfg *config.Config, store *shards.Store, m *metrics.Analytics, logger *slog.Logger) ([]startedApp, error) {
	var apps []startedApp
	fail := func(name string, err error) ([]startedApp, error) {
		for _, a := range apps {
			a.engine.Close()
		}
		return nil, fmt.Errorf("analytics %s: %w", name, err)
	}
	for _, ac := range cfg.Analytics {
		var schema *analytics.Schema // schema: auto: inferred once the source has records
		if !ac.Schema.Auto {
			cols := make([]analytics.Column, len(ac.Schema.List))
			for i, c := range ac.Schema.List {
				cols[i] = analytics.Column{Name: c.Name, Type: c.Type, Path: c.Path}
			}
			var err error
			if schema, err = analytics.NewSchema(cols); err != nil {
				return fail(ac.Name, err)
			}
		}
		refs, err := references(cfg.Storage.DataDir, ac)
		if err != nil {
			return fail(ac.Name, err)
		}
		engine, err := analytics.NewEngine(ctx, analytics.EngineConfig{MemoryLimit: int64(ac.MemoryLimit),
			TempDir: filepath.Join(cfg.Storage.DataDir, "analytics", ac.Name), References: refs})
		if err != nil {
			return fail(ac.Name, err)
		}
		apps = append(apps, startedApp{engine: engine, name: ac.Name})
		if schema != nil {
			if _, err := engine.Run(ctx, schema, analytics.Window{}, nil, ac.SQL); err != nil {
				return fail(ac.Name, fmt.Errorf("sql: %w", err))
			}
		}
		w := analytics.Windows{Size: ac.Window.Tumbling.Std()}
		if s := ac.Window.Sliding; s != nil {
			w = analytics.Windows{Size: s.Size.Std(), Every: s.Every.Std()}
		}
		errs, err := dataDirErrors(cfg.Storage.DataDir, ac.Name)
		if err != nil {
			return fail(ac.Name, err)
		}
		app, err := analytics.NewApp(analytics.AppConfig{Name: ac.Name, Source: ac.Source, SQL: ac.SQL, Windows: w, Schema: schema,
			Output: ac.Output.Stream, PartitionKey: ac.Output.PartitionKey, Metrics: m, Errors: errs,
			EventTime: ac.EventTime(), AllowedLateness: ac.AllowedLateness.Std(), ReferenceReload: ac.ReferenceReload.Std()},
			store, engine, time.Now, logger)
		if err != nil {
			return fail(ac.Name, err)
		}
		apps[len(apps)-1].app = app
	}
	return apps, nil
}

// runApp runs one application until ctx ends; it stops early only when
// its state cannot be read, logged. On a cluster (coord not nil) it runs
// while this node holds the application's lease: the nodes share the
// applications as they share shards, and one moves when its node is lost
// (at most a lease TTL later) or yields it.
func runApp(ctx context.Context, a startedApp, coord *cluster.Coordinator, logger *slog.Logger) {
	defer a.engine.Close()
	logger = logger.With("application", a.name)
	if coord == nil {
		logger.Info("application running")
		if err := a.app.Run(ctx); err != nil && ctx.Err() == nil {
			logger.Error("application stopped", "error", err)
		}
		return
	}
	for ctx.Err() == nil {
		lease, err := coord.AcquireApplication(ctx, a.name)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, cluster.ErrClosed) {
				logger.Error("application stopped: its lease cannot be acquired", "error", err)
			}
			return
		}
		logger.Info("application running on this node, which holds its lease", "revision", lease.Revision())
		runCtx, stop := context.WithCancel(ctx)
		go func() {
			select {
			case <-lease.Lost(): // stop at once: another node may take it a TTL/4 later
			case <-lease.Yield():
			case <-runCtx.Done():
			}
			stop()
		}()
		err = a.app.Run(runCtx)
		stop()
		lease.Release(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, analytics.ErrQueryOverSchema):
			logger.Error("application stopped", "error", err)
			return
		case err != nil:
			logger.Warn("application stopped on this node; it runs again where its lease is next held", "error", err)
			select { // not at once: what failed may be this node's
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		default:
			logger.Info("application stopped on this node: its lease was yielded or lost")
		}
	}
}

// references returns an application's reference tables: files, and
// objects in S3 copied to data_dir/analytics-reference/NAME/ before each
// load.
func references(dataDir string, ac config.AnalyticsConfig) ([]analytics.Reference, error) {
	refs := make([]analytics.Reference, len(ac.Reference))
	for i, r := range ac.Reference {
		refs[i] = analytics.Reference{Name: r.Name, Path: r.Path}
		bucket, key, ok := r.S3Location()
		if !ok {
			continue
		}
		store, err := s3.New(s3.Config{Endpoint: r.S3.Endpoint, Region: r.S3.Region, Bucket: bucket,
			AccessKeyID: r.S3.AccessKeyID, SecretAccessKey: r.S3.SecretAccessKey})
		if err != nil {
			return nil, fmt.Errorf("reference %s: %w", r.Name, err)
		}
		refs[i].Path = filepath.Join(dataDir, "analytics-reference", ac.Name, r.Name+strings.ToLower(filepath.Ext(key)))
		refs[i].Fetch = &analytics.S3Fetcher{Client: store.Client(), Bucket: bucket, Key: key}
	}
	return refs, nil
}
