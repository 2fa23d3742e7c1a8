package main

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hydrant-dev/hydrant/catalog"
	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/shards"
	"github.com/hydrant-dev/hydrant/transform"
)

// newCatalog builds the catalog: the config's streams (Kinesis streams) and
// deliveries (Firehose delivery streams) as declared, then what was created
// through the APIs before, started again.
func newCatalog(ctx context.Context, cfg *config.Config, env deliveryEnv, logs map[string]*shards.Stream,
	targets catalog.Targets) (*catalog.Catalog, error) {
	store, logger := env.store, env.logger
	dp := config.DirectPutShardLimits()
	opts := catalog.Options{Store: store, Targets: targets, DeliveryShards: cfg.FirehoseAPI.Shards, Logger: logger,
		AllowedBuckets: cfg.FirehoseAPI.AllowedBuckets, MaxStreams: cfg.Storage.MaxStreams, MaxShards: cfg.Storage.MaxShards,
		Watch:          cfg.Storage.NATS != nil, // other nodes create and delete through the APIs too
		DeliveryLimits: shards.Limits{BytesPerSecond: int64(dp.BytesPerSecond), RecordsPerSecond: int64(dp.RecordsPerSecond)}}
	if cfg.FirehoseAPI.S3 != nil {
		opts.Start = s3Starter(*cfg.FirehoseAPI.S3, env)
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
// ExtendedS3 destination's bucket on the configured S3 service, built as a
// delivery of the config file would be.
func s3Starter(conn config.S3ConnectionConfig, env deliveryEnv) catalog.Starter {
	return func(spec awsapi.DeliverySpec, _ *shards.Stream) (func(), error) {
		d := config.NewDefaultDeliveryConfig()
		d.Name = spec.Name
		d.Buffer.Size = config.Size(spec.SizeInMBs) * config.MiB
		// Firehose's IntervalInSeconds 0 is zero buffering: flush as read,
		// as the config's interval: 0.
		d.Buffer.Interval = config.Duration(time.Duration(spec.IntervalInSeconds) * time.Second)
		d.Retry.Duration = config.Duration(spec.RetryDuration)
		dest := config.NewDefaultS3DestinationConfig()
		dest.Endpoint, dest.Region, dest.AccessKeyID, dest.SecretAccessKey = conn.Endpoint, conn.Region, conn.AccessKeyID, conn.SecretAccessKey
		dest.Bucket, dest.Prefix, dest.Compression = spec.Bucket, spec.Prefix, spec.Compression
		if spec.ErrorOutputPrefix != "" {
			dest.ErrorPrefix = spec.ErrorOutputPrefix
		}
		d.Destination.S3 = &dest
		for _, t := range spec.Processing.Transforms() {
			d.Transforms = append(d.Transforms, config.TransformConfig{Type: t.Type, Options: t.Options})
		}
		pd, err := newDelivery(context.Background(), d, env)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { pd.Run(ctx); close(done) }()
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
