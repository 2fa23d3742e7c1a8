package main

import (
	"strings"

	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/shards"
)

// awsCatalog describes the config's streams and deliveries to the AWS APIs:
// declared streams are Kinesis streams; every delivery is a Firehose
// delivery stream, DirectPut ones writing to their implicit stream.
func awsCatalog(cfg *config.Config, logs map[string]*shards.Stream) *awsapi.StaticCatalog {
	var streams []awsapi.Stream
	for _, s := range cfg.Streams {
		log := logs[s.Name]
		streams = append(streams, awsapi.Stream{Name: s.Name, Log: log, Retention: s.Retention.Std(), Created: log.Created()})
	}
	var deliveries []awsapi.Delivery
	for _, d := range cfg.Deliveries {
		log := logs[d.SourceStream()]
		ad := awsapi.Delivery{Name: d.Name, Source: d.Source, Created: log.Created(), Destination: describeDestination(d)}
		if d.DirectPut() {
			ad.Log = log
		}
		deliveries = append(deliveries, ad)
	}
	return awsapi.NewStaticCatalog(streams, deliveries)
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
