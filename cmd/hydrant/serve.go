package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/hydrant-dev/hydrant/capacity"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/robfig/cron/v3"
	"golang.org/x/net/netutil"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/ingest/auth"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/shards"
	"github.com/hydrant-dev/hydrant/transform"
)

// registries are the explicit component registries: built-ins are added
// here, and a Go user adds their own the same way.
type registries struct {
	transforms *transform.Registry
}

func newRegistries() registries {
	r := registries{transforms: transform.NewRegistry()}
	if err := transform.RegisterBuiltins(r.transforms); err != nil {
		panic(err) // a duplicate among the built-ins is a programming error
	}
	return r
}

// serveOptions are what serve takes beside the config.
type serveOptions struct {
	// configPath is the file cfg was loaded from, which a reload reads
	// again ("": reload is refused).
	configPath string
	// reload receives a value for each SIGHUP: the config file is applied.
	reload <-chan os.Signal
}

// serve runs Hydrant until ctx ends, then shuts down in order: stop taking
// puts, drain the deliveries' buffers, close the shard log.
func serve(ctx context.Context, cfg *config.Config, regs registries, logger *slog.Logger) error {
	return serveWith(ctx, cfg, regs, logger, serveOptions{})
}

// serveWith is serve with opts: a config reload (SIGHUP, POST /v1/reload)
// applies the file again.
func serveWith(ctx context.Context, cfg *config.Config, regs registries, logger *slog.Logger, opts serveOptions) error {
	logger.Debug("go collector", "gogc", tuneGC())
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	deliveryMetrics := metrics.NewDelivery(reg)
	ingestMetrics := metrics.NewIngest(reg)
	storeMetrics := metrics.NewStore(reg)
	store, err := shards.Open(ctx, shards.StoreConfig{
		DataDir:       cfg.Storage.DataDir,
		SyncAlways:    cfg.Storage.Fsync == config.FsyncAlways,
		SyncInterval:  cfg.Storage.FsyncInterval.Std(),
		MaxRecordSize: int(cfg.Server.MaxRecordSize),
		EncryptionKey: cfg.Storage.EncryptionKey,
		DiskBudget:    diskBudget(cfg.Storage, logger),
		NATS:          natsStore(cfg.Storage.NATS),
		Metrics:       storeMetrics,
		Logger:        logger,
	})
	if err != nil {
		return err
	}
	metrics.RegisterStoreUsage(reg, store.DiskUsage)
	metrics.RegisterStreamShards(reg, func() []metrics.StreamShards {
		var out []metrics.StreamShards
		for _, st := range store.Streams() {
			lin := st.Lineage()
			open := len(lin.Open())
			out = append(out, metrics.StreamShards{Stream: st.Name(), Open: open, Closed: len(lin.Shards) - open, Updating: st.Updating()})
		}
		return out
	})
	defer store.Close()
	coord, err := openCluster(ctx, cfg, store, logger)
	if err != nil {
		return err
	}
	board := &statusBoard{}
	var own pipeline.Ownership = pipeline.Solo{}
	clusterCtx, leaveCluster := context.WithCancel(context.WithoutCancel(ctx))
	clusterDone := make(chan struct{})
	// On every return, leave before the store closes (deferred earlier, so
	// it runs later): the others stop counting this node at once.
	defer func() { leaveCluster(); <-clusterDone }()
	if coord != nil {
		own, board.cluster, board.leaseTTL = clusterOwnership{coord}, coord, cfg.Storage.NATS.LeaseTTL.Std()
		coord.SetReport(board.heartbeatReport) // the others' status sums what this node delivered
		go func() { coord.Run(clusterCtx); close(clusterDone) }()
	} else {
		close(clusterDone)
	}
	targets, logs, err := openStreams(ctx, cfg, store, logger)
	if err != nil {
		return err
	}
	apps, err := newApps(ctx, cfg, store, metrics.NewAnalytics(reg), logger)
	if err != nil {
		return err
	}
	scaleCtx, stopScaling := context.WithCancel(context.WithoutCancel(ctx))
	defer stopScaling()
	go capacity.New(capacity.Config{Store: store, MaxShards: cfg.Storage.MaxShards, Logger: logger}).Run(scaleCtx)
	denv := deliveryEnv{regs: regs, store: store, dataDir: cfg.Storage.DataDir, logger: logger,
		memory: buffer.NewMemory(int64(cfg.Storage.BufferMemory)), metrics: deliveryMetrics, board: board, own: own}
	var ready atomic.Bool
	// Ready once serving, and while the shard log can store puts (not
	// while its disk is full).
	isReady := func() bool { return ready.Load() && store.Writable() }
	srv, err := ingest.NewServer(ingest.Limits{
		MaxRequestSize: int(cfg.Server.MaxRequestSize),
		MaxRecordSize:  int(cfg.Server.MaxRecordSize),
	}, targets, isReady, ingest.Settings{Logger: logger, Metrics: ingestMetrics})
	if err != nil {
		return err
	}
	cat, err := newCatalog(ctx, cfg, denv, logs, srv)
	if err != nil {
		return err
	}
	defer cat.Close()
	lv := newLive(opts.configPath, regs, cfg, denv, cat, srv, reg, logger)
	authn, err := wireAPIs(ctx, cfg, srv, cat, store, ingestMetrics, logger)
	if err != nil {
		return err
	}
	metricsAuth := authn
	if cfg.Metrics.Public {
		metricsAuth = nil
	}
	sqlRoute, err := newSQLRoute(cfg, store, authn, logger)
	if err != nil {
		return err
	}
	ops := withMetrics(srv.Handler(), ingest.RequireAction(metricsAuth, auth.ActionGetMetrics, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})),
		ingest.RequireAction(authn, auth.ActionGetStatus, statusHandler(denv.board, cat, store)), sqlRoute)
	ops = withRedrive(ops, lv.delivery, denv, authn)
	ops, stopConsole, err := withConsole(ops, consoleEnv{board: denv.board, cat: cat, store: store, ingest: ingestMetrics,
		throttled: storeMetrics.ThrottledRecords, retries: denv.metrics.Retries, authn: authn, logger: logger})
	if err != nil {
		return err
	}
	defer stopConsole()
	ops = withAdmin(ops, lv, authn)
	ops = ingest.NewInFlight(int64(cfg.Server.MaxInFlightBytes), int(cfg.Server.MaxRequestSize)).Wrap(ops)
	httpSrv, ln, err := listen(cfg.Server, ops, authn, logger)
	if err != nil {
		return err
	}
	stopRetention, err := startRetention(cat, store, deliveryMetrics, logger)
	if err != nil {
		return err
	}
	defer stopRetention()

	deliverCtx, stopDeliveries := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDeliveries()
	var wg sync.WaitGroup
	// The config's deliveries run under the catalog, which stops,
	// replaces and resets them (reload, hydrant deliveries reset) and
	// stops them at shutdown (cat.Close).
	for _, d := range cfg.Deliveries {
		if err := cat.StartDeclared(d.Name, declaredStarter(d, denv)); err != nil {
			return err
		}
	}
	for _, a := range apps {
		board.addApp(a.app)
		wg.Go(func() { runApp(deliverCtx, a, coord, logger) })
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- serveListener(httpSrv, ln) }()
	ready.Store(true)
	logger.Info("hydrant ready", "listen", ln.Addr().String(), "tls", cfg.Server.TLS != nil, "streams", len(targets),
		"deliveries", len(cfg.Deliveries), "data_dir", cfg.Storage.DataDir, "fsync", cfg.Storage.Fsync)

	if opts.reload != nil {
		go func() {
			for {
				select {
				case <-opts.reload:
					lv.reload(ctx) // logs its result
				case <-ctx.Done():
					return
				}
			}
		}()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	}
	ready.Store(false)
	logger.Info("shutting down: no new puts, draining deliveries")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("http shutdown", "error", err)
	}
	lv.close() // a SIGHUP reload under way finishes first
	stopDeliveries()
	cat.Close()
	wg.Wait()
	leaveCluster() // the deliveries released their leases; now leave
	<-clusterDone
	logger.Info("hydrant stopped")
	return runErr
}

// openStreams opens the config's streams (declared, and DirectPut
// deliveries' implicit ones) and returns the names producers put to.
//
// A stream whose shards: changed since the config last set it is resharded
// to the new count (UNIFORM_SCALING, in one switch); one whose capacity:
// is set takes that mode.
func openStreams(ctx context.Context, cfg *config.Config, store *shards.Store, logger *slog.Logger) (map[string]ingest.Target, map[string]*shards.Stream, error) {
	targets := make(map[string]ingest.Target)
	logs := make(map[string]*shards.Stream)
	for _, rs := range cfg.ResolvedStreams() {
		st, err := openStream(ctx, rs, store, logger)
		if err != nil {
			return nil, nil, err
		}
		targets[rs.Name] = ingest.Target{Stream: st, PartitionKeyField: rs.PartitionKeyField, DirectPut: rs.DirectPut,
			AtomicPuts: rs.AtomicPuts}
		logs[rs.Name] = st
	}
	for _, d := range cfg.Deliveries {
		if !d.DirectPut() {
			targets[d.Name] = ingest.Target{ReadsFrom: d.Source}
		}
	}
	return targets, logs, nil
}

// openStream opens (or creates) one stream of the config, resharding it
// when its shards: changed since the config last set it, and setting its
// capacity mode when capacity: is set.
func openStream(ctx context.Context, rs config.ResolvedStream, store *shards.Store, logger *slog.Logger) (*shards.Stream, error) {
	st, err := store.CreateStream(ctx, shards.StreamSpec{
		Name:       rs.Name,
		Shards:     rs.Shards,
		Retention:  rs.Retention.Std(),
		DiskBudget: int64(rs.DiskBudget),
		Limits: shards.Limits{
			BytesPerSecond:   int64(rs.ShardLimits.BytesPerSecond),
			RecordsPerSecond: int64(rs.ShardLimits.RecordsPerSecond),
		},
		Capacity: rs.Capacity,
	})
	if err != nil {
		return nil, err
	}
	if was := st.Configured(); was != rs.Shards {
		logger.Info("stream: shards changed in the config; resharding", "stream", rs.Name,
			"configured_before", was, "open_shards", st.OpenShards(), "shards", rs.Shards)
		if err := store.UpdateShardCount(ctx, rs.Name, rs.Shards, true); err != nil {
			return nil, fmt.Errorf("stream %s: reshard to %d shards: %w", rs.Name, rs.Shards, err)
		}
	}
	if rs.Capacity != "" && st.Lineage().Capacity != rs.Capacity {
		if err := store.SetCapacity(ctx, rs.Name, rs.Capacity); err != nil {
			return nil, fmt.Errorf("stream %s: %w", rs.Name, err)
		}
		logger.Info("stream: capacity mode set by the config", "stream", rs.Name, "capacity", rs.Capacity)
	}
	return st, nil
}

// wireAPIs sets up the AWS APIs and authentication on srv, and returns
// the one authentication decision every endpoint uses.
func wireAPIs(ctx context.Context, cfg *config.Config, srv *ingest.Server, cat *catalog.Catalog, store *shards.Store, m *metrics.Ingest,
	logger *slog.Logger) (*auth.Authenticator, error) {
	authn, err := newAuth(cfg.Server.Auth)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand)
	// Shared by every node on the log, and kept across restarts, so that
	// an iterator is good wherever and whenever it is used within its life.
	if key, err = store.MetaOnce(ctx, iteratorKeyMeta, key); err != nil {
		return nil, fmt.Errorf("shard iterator key: %w", err)
	}
	opts := awsapi.Options{
		Region:         awsRegion,
		AccountID:      awsAccountID,
		MaxRequestSize: int(cfg.Server.MaxRequestSize),
		MaxRecordSize:  int(cfg.Server.MaxRecordSize),
		IteratorKey:    key,
		Control:        cat,
		Metrics:        m,
		Logger:         logger,
		// Shutting down ends the SubscribeToShard event streams: the
		// clients subscribe again once the server is back.
		FanOut: awsapi.FanOutOptions{Stop: ctx.Done()},
	}
	if authn.Required() {
		opts.Auth = authn
		srv.RequireAuth(authn)
	}
	srv.HandleAWS(awsapi.New(cat, store, opts))
	return authn, nil
}

// iteratorKeyMeta is where the key that signs shard iterators is kept.
const iteratorKeyMeta = "secret.iterator-key"

// listen opens the listener and the HTTP server: HTTP/1.1 and HTTP/2 (h2c
// in the clear, h2 over TLS — the AWS Java SDK's async client and the KCL
// speak HTTP/2).
func listen(cfg config.ServerConfig, h http.Handler, authn *auth.Authenticator, logger *slog.Logger) (*http.Server, net.Listener, error) {
	tlsConfig, err := loadTLS(cfg.TLS)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("listen: %w", err)
	}
	if cfg.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, cfg.MaxConnections)
	}
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsLoopback() {
		if !authn.Required() {
			logger.Warn("listening on a non-loopback address without credentials (server.auth): anyone who can reach it can use every API",
				"listen", ln.Addr().String())
		}
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	protocols.SetUnencryptedHTTP2(tlsConfig == nil)
	return &http.Server{
		Handler:           h,
		Protocols:         &protocols,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}, ln, nil
}

// serveListener serves HTTPS when the server has a TLS config, else HTTP.
func serveListener(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

// deliveryEnv is what every delivery is built with.
type deliveryEnv struct {
	regs    registries
	store   *shards.Store
	dataDir string // holds the error output of destinations without a place of their own for it
	logger  *slog.Logger
	memory  *buffer.Memory // shared by all deliveries' buffers
	metrics *metrics.Delivery
	board   *statusBoard // the running deliveries, for status reports
	own     pipeline.Ownership
}

// bufferInterval is b's interval as the buffer takes it: 0 flushes as
// records are read, and a schedule alone never flushes by time.
func bufferInterval(b config.BufferConfig) time.Duration {
	if b.ScheduleOnly {
		return buffer.NoInterval
	}
	return b.Interval.Std()
}

// newDelivery builds a delivery of the config (or created through the
// Firehose API).
func newDelivery(ctx context.Context, d config.DeliveryConfig, env deliveryEnv) (*pipeline.Delivery, error) {
	regs, store, logger := env.regs, env.store, env.logger
	var ts []transform.Transform
	for _, t := range d.Transforms {
		tr, err := regs.transforms.New(t.Type, transformEnv(d.Name, logger), t.Options)
		if err != nil {
			return nil, err
		}
		ts = append(ts, tr)
	}
	var tr transform.Transform
	if len(ts) > 0 {
		tr = transform.Chain(ts...)
	}
	built, err := buildDestination(d, env.dataDir, env.metrics.Retries.WithLabelValues(d.Name), logger.With("delivery", d.Name))
	if err != nil {
		return nil, err
	}
	var schedule cron.Schedule
	if d.Buffer.Schedule != "" {
		if schedule, err = config.ParseSchedule(d.Buffer.Schedule); err != nil {
			return nil, err
		}
	}
	retry := destinations.RetryConfig{Duration: d.Retry.Duration.Std()}
	_, ok := store.Stream(d.SourceStream())
	if !ok {
		return nil, fmt.Errorf("source stream %q is not open", d.SourceStream())
	}
	replays, err := replayGeneration(ctx, store, d.Name)
	if err != nil {
		return nil, err
	}
	pd := pipeline.New(pipeline.Config{
		Name:                d.Name,
		Stream:              d.SourceStream(),
		Buffer:              buffer.Config{Size: int(d.Buffer.Size), Interval: bufferInterval(d.Buffer), Schedule: schedule},
		Transform:           tr,
		Destination:         built.withRetry(retry, logger.With("delivery", d.Name)),
		Errors:              built.errors,
		Retry:               retry,
		MaxActivePartitions: d.MaxActivePartitions,
		Start:               built.start,
		StartAt:             startPosition(d.Start),
		BatchName:           batchName(d.Name, replays),
	}, store, pipeline.Settings{Logger: logger, Memory: env.memory, Metrics: env.metrics,
		Ownership: env.own})
	env.board.add(d.Name, pd)
	return pd, nil
}

// withMetrics serves Prometheus metrics (metrics) at GET /metrics, the
// status report at GET /v1/status and ad-hoc SQL at POST /v1/sql beside h.
func withMetrics(h, metrics, status, sql http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.Handle("GET /v1/status", status)
	mux.Handle("POST /v1/sql", sql)
	mux.Handle("/", h)
	return mux
}
