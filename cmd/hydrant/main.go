// Command hydrant is a self-hosted Kinesis Data Streams + Firehose: it takes
// records over HTTP, stores them in sharded, durable streams and delivers them
// through YAML-configured pipelines.
//
//	hydrant serve -c hydrant.yaml      run the server
//	hydrant validate -c hydrant.yaml   check a config file and exit
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/destinations/postgres"
)

const usage = `Usage: hydrant <command> [flags]

Commands:
  serve      run the server: ingest API, shard log and deliveries
  validate   check a config file, print every problem with its line, and exit
  put        put the lines of a file or stdin into a stream (native API), with a summary
  replay     print a stream's records from a sequence number or a time (Kinesis read path)
  streams    list a running Hydrant's streams: shards, records, write rate
  status     show each delivery's lag, last flush and errors (-watch refreshes)
  deliveries list a running Hydrant's deliveries; reset NAME -to TIME: deliver again from TIME
  reload     make a running Hydrant apply its config file again, without a restart (as SIGHUP)
  redrive    DELIVERY: send its failed records through its current transforms and destination again, each once
  analytics  discover STREAM: print the input schema of a stream's records, for a SQL application
  sql        run SQL over the records a running Hydrant keeps: SELECT … FROM stream('NAME', from => '1h')
  health     exit 0 when a running Hydrant is ready (for container health checks)
  version    print the version

Run 'hydrant <command> -h' for a command's flags.

Exit codes: 0 success, 1 runtime failure, 2 usage or config error.

SIGTERM or SIGINT shuts serve down gracefully: no new puts, buffers flushed,
checkpoints written, exit 0. A second signal during that exits at once with
128 + its number: 143 for SIGTERM, 130 for SIGINT. Acknowledged records are
on disk in the shard log either way; what was not yet delivered is delivered
after the next start.

SIGHUP makes serve read its config file again and apply it without a
restart, as hydrant reload does; a config that fails validation is refused
whole (the report is logged) and the running config stays.
`

var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serveCmd(args[1:], stderr)
	case "validate":
		return validateCmd(args[1:], stdout, stderr)
	case "put":
		return putCmd(args[1:], os.Stdin, stdout, stderr)
	case "replay":
		return replayCmd(args[1:], stdout, stderr)
	case "streams":
		return streamsCmd(args[1:], stdout, stderr)
	case "status":
		return statusCmd(args[1:], stdout, stderr)
	case "deliveries":
		return deliveriesCmd(args[1:], stdout, stderr)
	case "reload":
		return reloadCmd(args[1:], stdout, stderr)
	case "redrive":
		return redriveCmd(args[1:], stdout, stderr)
	case "analytics":
		return analyticsCmd(args[1:], stdout, stderr)
	case "sql":
		return sqlCmd(args[1:], os.Stdin, stdout, stderr)
	case "health":
		return healthCmd(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "hydrant", version)
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "hydrant: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func configFlag(fs *flag.FlagSet) *string {
	return fs.String("c", "hydrant.yaml", "config file")
}

func validateCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := loadConfig(*path, newRegistries())
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	fmt.Fprintf(stdout, "%s: OK (%d streams, %d deliveries)\n", *path, len(cfg.ResolvedStreams()), len(cfg.Deliveries))
	return 0
}

func serveCmd(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := configFlag(fs)
	level := fs.String("log-level", "info", "debug | info | warn | error")
	format := fs.String("log-format", "text", "text | json")
	pprofListen := fs.String("pprof-listen", "", "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); off when empty")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logger, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintln(stderr, "hydrant:", err)
		return 2
	}
	// SIGHUP reloads the config (not the default: ending the process).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	regs := newRegistries()
	cfg, err := loadConfig(*path, regs)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	ctx, stop := shutdownOnSignal(logger, os.Exit)
	defer stop()
	if *pprofListen != "" {
		if err := servePprof(ctx, *pprofListen, logger); err != nil {
			fmt.Fprintln(stderr, "hydrant:", err)
			return 2
		}
	}
	if err := serveWith(ctx, cfg, regs, logger, serveOptions{configPath: *path, reload: hup}); err != nil {
		logger.Error("hydrant stopped", "error", err)
		return 1
	}
	return 0
}

// shutdownOnSignal returns a context that ends at the first SIGINT or
// SIGTERM, which starts the graceful shutdown. A second signal during the
// shutdown calls exit at once with 128 + the signal's number (130 for SIGINT,
// 143 for SIGTERM, as shells report a process the signal ended): a put is
// acknowledged only once the shard log has it on disk, so what exiting
// abandons is buffered delivery work, which the log still holds and the
// next start delivers. stop releases the signals.
func shutdownOnSignal(logger *slog.Logger, exit func(code int)) (ctx context.Context, stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			logger.Info("signal: shutting down gracefully; a second signal exits at once", "signal", sig.String())
			cancel()
		case <-done:
			return
		}
		select {
		case sig := <-sigs:
			logger.Warn("second signal: exiting now; acknowledged records are safe in the shard log", "signal", sig.String())
			code := 128 + int(syscall.SIGTERM)
			if s, ok := sig.(syscall.Signal); ok {
				code = 128 + int(s)
			}
			exit(code)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

// checkPrefixes compiles a destination's Firehose prefix expressions and
// its Parquet schema.
func checkPrefixes(cfg *config.Config, i int, dc config.DestinationConfig) []config.FieldError {
	var errs []config.FieldError
	check := func(kind, prefix, errorPrefix string) {
		path := fmt.Sprintf("deliveries[%d].destination.%s.", i, kind)
		p, err := destinations.CompilePrefix(prefix, false)
		if err != nil {
			errs = append(errs, cfg.Errorf(path+"prefix", "%v", err))
		}
		ep, err := destinations.CompilePrefix(errorPrefix, true)
		if err != nil {
			errs = append(errs, cfg.Errorf(path+"error_prefix", "%v", err))
		}
		// As in Firehose: partitioned output needs an error prefix that
		// keeps the kinds of failure apart.
		if p.HasPartitionKeys() && !ep.HasErrorOutputType() {
			errs = append(errs, cfg.Errorf(path+"error_prefix",
				"must contain !{firehose:error-output-type} when prefix uses partition keys"))
		}
	}
	checkParquet := func(kind string, pc *config.ParquetConfig) {
		if _, err := parquetFormat(pc); err != nil {
			errs = append(errs, cfg.Errorf(fmt.Sprintf("deliveries[%d].destination.%s.parquet.schema", i, kind), "%v",
				strings.TrimPrefix(err.Error(), "parquet.schema: ")))
		}
	}
	if dc.File != nil {
		check("file", dc.File.Prefix, dc.File.ErrorPrefix)
		checkParquet("file", dc.File.Parquet)
	}
	if dc.S3 != nil {
		check("s3", dc.S3.Prefix, dc.S3.ErrorPrefix)
		checkParquet("s3", dc.S3.Parquet)
	}
	return errs
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want text or json", format)
}

// loadConfig loads and validates a config file, including what only the
// component registries can check (transform types and options), and reports
// every problem at once with its line.
func loadConfig(path string, regs registries) (*config.Config, error) {
	return config.Load(path, func(cfg *config.Config) []config.FieldError {
		var errs []config.FieldError
		for i, d := range cfg.Deliveries {
			for j, t := range d.Transforms {
				if _, err := regs.transforms.New(t.Type, transformEnv(d.Name, nil), t.Options); err != nil {
					errs = append(errs, cfg.Errorf(fmt.Sprintf("deliveries[%d].transforms[%d]", i, j), "%v", err))
				}
			}
			errs = append(errs, checkPrefixes(cfg, i, d.Destination)...)
			// A DSN that does not parse never connects: fail now, not retry.
			if pg := d.Destination.Postgres; pg != nil && pg.DSN != "" {
				if err := postgres.CheckDSN(pg.DSN); err != nil {
					errs = append(errs, cfg.Errorf(fmt.Sprintf("deliveries[%d].destination.postgres.dsn", i), "%v", err))
				}
			}
		}
		return errs
	})
}
