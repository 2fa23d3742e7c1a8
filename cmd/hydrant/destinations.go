package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/destinations/elasticsearch"
	"github.com/hydrant-dev/hydrant/destinations/file"
	"github.com/hydrant-dev/hydrant/destinations/httpendpoint"
	"github.com/hydrant-dev/hydrant/destinations/iceberg"
	"github.com/hydrant-dev/hydrant/destinations/parquet"
	"github.com/hydrant-dev/hydrant/destinations/postgres"
	"github.com/hydrant-dev/hydrant/destinations/s3"
	"github.com/hydrant-dev/hydrant/pipeline"
)

// builtDestination is a delivery's destination, with its backup, and where
// its failed records go.
type builtDestination struct {
	dest   destinations.Destination
	errors destinations.ErrorOutput
	// retries: the destination retries by itself, record by record, within
	// the retry duration (Elasticsearch); it must not be retried whole.
	retries bool
	// retryCount counts the delivery's retries, whoever makes them.
	retryCount prometheus.Counter
	// start reaches the destination's server before the delivery reads
	// (Postgres); nil when it connects per request.
	start pipeline.Starter
}

// withRetry returns the destination as the pipeline calls it: bounded in
// time and retried as a whole, unless it retries by itself.
func (b builtDestination) withRetry(retry destinations.RetryConfig, logger *slog.Logger) destinations.Destination {
	if b.retries {
		return b.dest
	}
	retry.Retries = b.retryCount
	return destinations.Chain(b.dest, destinations.WithTimeout(5*time.Minute), destinations.WithRetry(retry, logger))
}

// buildDestination builds the destination of d, its backup and its error
// output. A delivery's backup takes every batch (Firehose's S3 backup of all
// data), except for a search destination in backup_mode failed_only: there
// it takes only the documents that were not indexed, as Firehose's
// FailedDocumentsOnly. A search destination's failed documents go to the
// backup when there is one; Postgres's, and a search destination's without
// a backup, to the data dir. retryCount counts the delivery's retries.
// Nothing here reaches a server: a destination down at start is waited for
// by its delivery (builtDestination.start), while the rest serves.
func buildDestination(d config.DeliveryConfig, dataDir string, retryCount prometheus.Counter,
	logger *slog.Logger) (builtDestination, error) {
	var (
		built = builtDestination{retryCount: retryCount}
		err   error
	)
	switch {
	case d.Destination.Postgres != nil:
		var pg *postgres.Destination
		if pg, err = buildPostgres(*d.Destination.Postgres); err == nil {
			built.dest, built.start = pg, pg
		}
	case d.Destination.Iceberg != nil:
		var ice *iceberg.Destination
		if ice, err = buildIceberg(*d.Destination.Iceberg, dataDir); err == nil {
			built.dest, built.start = ice, ice
		}
	case d.Destination.Elasticsearch != nil:
		built.dest, err = buildElasticsearch(*d.Destination.Elasticsearch, d.Retry, retryCount, logger)
		built.retries = true
	case d.Destination.HTTP != nil:
		built.dest, err = buildHTTPEndpoint(*d.Destination.HTTP, d.Name, dataDir, d.Retry, retryCount, logger)
		built.retries = true
	default:
		var objs *destinations.Objects
		objs, err = buildObjects(d.Destination.File, d.Destination.S3)
		built.dest, built.errors = objs, objs
	}
	if err != nil {
		return builtDestination{}, err
	}
	var backup *destinations.Objects
	if b := d.Backup; b != nil {
		if backup, err = buildObjects(b.File, b.S3); err != nil {
			return builtDestination{}, fmt.Errorf("backup: %w", err)
		}
		es, web := d.Destination.Elasticsearch, d.Destination.HTTP
		if (es == nil || es.BackupMode == config.BackupModeAll) && (web == nil || web.BackupMode == config.BackupModeAll) {
			built.dest = destinations.WithBackup(built.dest, backup)
		}
		if es != nil || web != nil { // failed records go to the backup, as Firehose's to its S3 bucket
			built.errors = backup
		}
	}
	if built.errors == nil { // a destination with no place of its own for failed records
		if built.errors, err = dataDirErrors(dataDir, d.Name); err != nil {
			return builtDestination{}, err
		}
	}
	return built, nil
}

// dataDirErrors is the error output of destinations without a place of
// their own and no backup: errors/<delivery>/<type>/yyyy/MM/dd/HH/ in the
// data dir, as an object destination's errors/<type>/yyyy/MM/dd/HH/ under
// its own root. (Before, the delivery's folder held errors/ once more:
// readers of the error output, such as redrive, list the folder whole.)
func dataDirErrors(dataDir, delivery string) (destinations.ErrorOutput, error) {
	fs, err := file.New(filepath.Join(dataDir, "errors", delivery))
	if err != nil {
		return nil, err
	}
	return destinations.NewObjects(fs, destinations.ObjectsConfig{ErrorPrefix: dataDirErrorPrefix})
}

// dataDirErrorPrefix is config.DefaultErrorPrefix without its errors/:
// the data dir's errors/<delivery>/ says it already.
const dataDirErrorPrefix = "!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"

// buildElasticsearch makes an Elasticsearch or OpenSearch destination.
func buildElasticsearch(ec config.ElasticsearchDestinationConfig, retry config.RetryConfig, retryCount prometheus.Counter,
	logger *slog.Logger) (destinations.Destination, error) {
	cfg := elasticsearch.Config{
		Flavor: ec.Flavor, Endpoints: ec.Endpoints, Username: ec.Username, Password: ec.Password, APIKey: ec.APIKey,
		InsecureSkipVerify: ec.TLS.InsecureSkipVerify,
		Index:              ec.Index, Rotation: ec.IndexRotation, DocumentID: ec.DocumentID, Action: ec.Action,
		Pipeline: ec.Pipeline, Gzip: ec.Compression == config.CompressionGzip,
		MaxBulkBytes: int(ec.MaxBulkBytes), RequestTimeout: ec.RequestTimeout.Std(),
		Retry:  destinations.RetryConfig{Duration: retry.Duration.Std(), Retries: retryCount},
		Logger: logger,
	}
	if ec.TLS.CAFile != "" {
		ca, err := os.ReadFile(ec.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		cfg.CACert = ca
	}
	return elasticsearch.New(cfg)
}

// buildHTTPEndpoint makes a destination that posts to an HTTP endpoint by
// Firehose's specification; it retries by itself within the retry duration.
// Its request ledger is under <data_dir>/httpendpoint/<delivery>.
func buildHTTPEndpoint(hc config.HTTPDestinationConfig, delivery, dataDir string, retry config.RetryConfig,
	retryCount prometheus.Counter, logger *slog.Logger) (destinations.Destination, error) {
	if hc.Name != "" {
		logger = logger.With("endpoint", hc.Name)
	}
	ledger, err := httpendpoint.NewFileLedger(filepath.Join(dataDir, "httpendpoint", delivery))
	if err != nil {
		return nil, err
	}
	return httpendpoint.New(httpendpoint.Config{
		URL: hc.URL, AccessKey: hc.AccessKey, CommonAttributes: hc.CommonAttributes, Ledger: ledger,
		SourceARN: "arn:aws:firehose:" + awsRegion + ":" + awsAccountID + ":deliverystream/" + delivery,
		Gzip:      hc.ContentEncoding == config.ContentEncodingGzip, MaxRequestBytes: int(hc.MaxRequestSize),
		RequestTimeout: hc.RequestTimeout.Std(),
		Retry:          destinations.RetryConfig{Duration: retry.Duration.Std(), Retries: retryCount},
		Logger:         logger,
	})
}

// buildObjects builds an object destination: a directory or an S3 bucket.
func buildObjects(fc *config.FileDestinationConfig, sc *config.S3DestinationConfig) (*destinations.Objects, error) {
	var (
		store destinations.ObjectStore
		ocfg  destinations.ObjectsConfig
		err   error
	)
	switch {
	case fc != nil:
		if store, err = file.New(fc.Dir); err != nil {
			return nil, err
		}
		ocfg = destinations.ObjectsConfig{Prefix: fc.Prefix, ErrorPrefix: fc.ErrorPrefix, Compression: fc.Compression}
		if ocfg.Parquet, err = parquetFormat(fc.Parquet); err != nil {
			return nil, err
		}
	case sc != nil:
		var ssec []byte
		if sc.SSECKey != "" {
			if ssec, err = base64.StdEncoding.DecodeString(sc.SSECKey); err != nil {
				return nil, fmt.Errorf("sse_c_key: %w", err)
			}
		}
		store, err = s3.New(s3.Config{
			Endpoint:        sc.Endpoint,
			Region:          sc.Region,
			Bucket:          sc.Bucket,
			AccessKeyID:     sc.AccessKeyID,
			SecretAccessKey: sc.SecretAccessKey,
			SSE:             sc.SSE,
			SSEKMSKeyID:     sc.SSEKMSKeyID,
			SSECKey:         ssec,
		})
		if err != nil {
			return nil, err
		}
		ocfg = destinations.ObjectsConfig{Prefix: sc.Prefix, ErrorPrefix: sc.ErrorPrefix, Compression: sc.Compression}
		if ocfg.Parquet, err = parquetFormat(sc.Parquet); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("no destination configured")
	}
	return destinations.NewObjects(store, ocfg)
}

// buildPostgres opens a Postgres destination; it connects when its
// delivery starts it.
func buildPostgres(pc config.PostgresDestinationConfig) (*postgres.Destination, error) {
	cfg := postgres.Config{DSN: pc.DSN, Table: pc.Table, Auto: pc.Columns.Auto, CreateTable: pc.CreateTable,
		MaxConns: int32(pc.MaxConns), StatementTimeout: pc.StatementTimeout.Std()}
	for _, c := range pc.Columns.List {
		cfg.Columns = append(cfg.Columns, postgres.Column{Name: c.Name, Path: c.Path, Type: c.Type})
	}
	return postgres.Open(cfg)
}

// parquetColumn is the encoder's column for a configured one, with its
// nested columns; timestamp and date columns take the timestamp formats.
func parquetColumn(c config.ParquetColumnConfig, formats []string) parquet.Column {
	col := parquet.Column{Name: c.Name, Type: c.Type, Path: c.Path, Required: c.Required}
	if parquet.TakesTimestampFormats(c.Type) {
		col.TimestampFormats = formats
	}
	for _, f := range c.Fields {
		col.Fields = append(col.Fields, parquetColumn(f, formats))
	}
	child := func(cc *config.ParquetColumnConfig) *parquet.Column {
		if cc == nil {
			return nil
		}
		pcol := parquetColumn(*cc, formats)
		return &pcol
	}
	col.Element, col.Key, col.Value = child(c.Element), child(c.Key), child(c.Value)
	return col
}

// parquetFormat compiles a destination's Parquet settings; nil for JSON lines.
func parquetFormat(pc *config.ParquetConfig) (*destinations.ParquetFormat, error) {
	if pc == nil {
		return nil, nil
	}
	if err := parquet.ValidateTimestampFormats(pc.TimestampFormats); err != nil {
		return nil, fmt.Errorf("parquet.%w", err)
	}
	opts := parquet.Options{Compression: pc.Compression, RowGroupSize: int64(pc.RowGroupSize)}
	if pc.SchemaAuto {
		auto, err := parquet.NewAutoSchema(pc.TimestampFormats)
		if err != nil {
			return nil, fmt.Errorf("parquet.%w", err)
		}
		return &destinations.ParquetFormat{Auto: auto, Options: opts}, nil
	}
	cols := make([]parquet.Column, len(pc.Schema))
	for i, c := range pc.Schema {
		cols[i] = parquetColumn(c, pc.TimestampFormats)
	}
	schema, err := parquet.NewSchema(cols)
	if err != nil {
		return nil, fmt.Errorf("parquet.schema: %w", err)
	}
	return &destinations.ParquetFormat{Schema: schema, Options: opts}, nil
}
