package main

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/destinations/s3"
	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/shards"
	"github.com/hydrant-dev/hydrant/transform"
)

// newCatalog builds the catalog: the config's streams (Kinesis streams) and
// deliveries (Firehose delivery streams) as declared, then what was created
// through the APIs before, started again.
func newCatalog(ctx context.Context, cfg *config.Config, store *shards.Store, logs map[string]*shards.Stream,
	targets catalog.Targets, logger *slog.Logger) (*catalog.Catalog, error) {
	dp := config.DirectPutShardLimits()
	opts := catalog.Options{Store: store, Targets: targets, DeliveryShards: cfg.FirehoseAPI.Shards, Logger: logger,
		DeliveryLimits: shards.Limits{BytesPerSecond: int64(dp.BytesPerSecond), RecordsPerSecond: int64(dp.RecordsPerSecond)}}
	if cfg.FirehoseAPI.S3 != nil {
		opts.Start = s3Starter(*cfg.FirehoseAPI.S3, store, logger)
	}
	c := catalog.New(opts)
	for _, s := range cfg.Streams {
		log := logs[s.Name]
		c.AddDeclaredStream(awsapi.Stream{Name: s.Name, Log: log, Retention: s.Retention.Std(), Created: log.Created()})
	}
	retention := map[string]time.Duration{}
	for _, rs := range cfg.ResolvedStreams() {
		retention[rs.Name] = rs.Retention.Std()
	}
	for _, d := range cfg.Deliveries {
		log := logs[d.SourceStream()]
		ad := awsapi.Delivery{Name: d.Name, Source: d.Source, Created: log.Created(), Destination: describeDestination(d)}
		if d.DirectPut() {
			ad.Log = log
		}
		c.AddDeclaredDelivery(ad, retention[d.SourceStream()])
	}
	return c, c.Load(ctx)
}

// s3Starter runs delivery streams created through the Firehose API: their
// ExtendedS3 destination's bucket on the configured S3 service.
func s3Starter(conn config.S3ConnectionConfig, store *shards.Store, logger *slog.Logger) catalog.Starter {
	return func(spec awsapi.DeliverySpec, log *shards.Stream) (func(), error) {
		s3s, err := s3.New(s3.Config{Endpoint: conn.Endpoint, Region: conn.Region, Bucket: spec.Bucket,
			AccessKeyID: conn.AccessKeyID, SecretAccessKey: conn.SecretAccessKey})
		if err != nil {
			return nil, err
		}
		errorPrefix := spec.ErrorOutputPrefix
		if errorPrefix == "" {
			errorPrefix = config.DefaultErrorPrefix
		}
		objs, err := destinations.NewObjects(s3s, destinations.ObjectsConfig{Prefix: spec.Prefix, ErrorPrefix: errorPrefix, Compression: spec.Compression})
		if err != nil {
			return nil, err
		}
		retry := destinations.RetryConfig{Duration: spec.RetryDuration}
		dl := logger.With("delivery", spec.Name)
		d := pipeline.New(pipeline.Config{
			Name:   spec.Name,
			Stream: log.Name(),
			Shards: log.Shards(),
			Buffer: buffer.Config{Size: spec.SizeInMBs * int(config.MiB), Interval: time.Duration(spec.IntervalInSeconds) * time.Second},
			Destination: destinations.Chain(objs,
				destinations.WithTimeout(5*time.Minute),
				destinations.WithRetry(retry, dl)),
			Errors: objs,
			Retry:  retry,
		}, store, pipeline.Settings{Logger: logger})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { d.Run(ctx); close(done) }()
		var once sync.Once
		return func() { once.Do(func() { cancel(); <-done }) }, nil
	}
}

// describeDestination says where d writes, in Firehose's terms.
func describeDestination(d config.DeliveryConfig) awsapi.Destination {
	out := awsapi.Destination{
		SizeInMBs:         int(d.Buffer.Size / config.MiB),
		IntervalInSeconds: int(d.Buffer.Interval.Std().Seconds()),
		RetryDuration:     d.Retry.Duration.Std(),
	}
	var compression string
	switch dc := d.Destination; {
	case dc.S3 != nil:
		out.BucketARN = "arn:aws:s3:::" + dc.S3.Bucket
		out.Prefix, out.ErrorOutputPrefix, compression = dc.S3.Prefix, dc.S3.ErrorPrefix, dc.S3.Compression
	case dc.File != nil:
		out.BucketARN = "file://" + dc.File.Dir
		out.Prefix, out.ErrorOutputPrefix, compression = dc.File.Prefix, dc.File.ErrorPrefix, dc.File.Compression
	}
	if compression == "" || compression == config.CompressionNone {
		out.CompressionFormat = "UNCOMPRESSED"
	} else {
		out.CompressionFormat = strings.ToUpper(compression)
	}
	return out
}

// The native API server takes the names the catalog adds and removes.
var _ catalog.Targets = (*ingest.Server)(nil)

// The region and account in the ARNs Hydrant shows, as AWS's APIs and
// Lambda-style transforms expect them.
const (
	awsRegion    = "us-east-1"
	awsAccountID = "000000000000"
)

// transformEnv is what a delivery's transforms know of it.
func transformEnv(delivery string, logger *slog.Logger) transform.Env {
	return transform.Env{
		Delivery:    delivery,
		DeliveryARN: "arn:aws:firehose:" + awsRegion + ":" + awsAccountID + ":deliverystream/" + delivery,
		Region:      awsRegion,
		Logger:      logger,
	}
}
