package awsapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// ErrVersion is a Control's error when a change names a version of a
// delivery stream that is not its current one: someone changed it since
// it was read (ConcurrentModificationException).
var ErrVersion = errors.New("changed since that version")

// destinationID is the id of a delivery stream's one destination.
const destinationID = "destinationId-000000000001"

// DestinationUpdate is UpdateDestination's change to a created delivery
// stream's S3 destination; a nil field is left as it is.
type DestinationUpdate struct {
	Bucket            *string
	Prefix            *string
	ErrorOutputPrefix *string
	Compression       *string // none | gzip
	SizeInMBs         *int
	IntervalInSeconds *int
	Processing        *Processing
}

// Apply returns spec with u's changes.
func (u DestinationUpdate) Apply(spec DeliverySpec) DeliverySpec {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&spec.Bucket, u.Bucket)
	set(&spec.Prefix, u.Prefix)
	set(&spec.ErrorOutputPrefix, u.ErrorOutputPrefix)
	set(&spec.Compression, u.Compression)
	if u.SizeInMBs != nil {
		spec.SizeInMBs = *u.SizeInMBs
	}
	if u.IntervalInSeconds != nil {
		spec.IntervalInSeconds = *u.IntervalInSeconds
	}
	if u.Processing != nil {
		spec.Processing = u.Processing
	}
	return spec
}

// DestinationUpdater is a Control that changes a created delivery stream's
// destination: UpdateDestination applies update to the delivery stream's
// spec if it is still at version (ErrVersion otherwise), stores it under
// the next version and has it delivered so from then on, without a
// restart and without losing or repeating a record. A delivery stream the
// config declares is ErrDeclared.
type DestinationUpdater interface {
	UpdateDestination(ctx context.Context, name string, version int, update DestinationUpdate) error
}

// s3DestinationUpdate is the part of ExtendedS3DestinationUpdate and
// S3DestinationUpdate Hydrant applies, and what it refuses rather than
// ignore.
type s3DestinationUpdate struct {
	RoleARN           string               `json:"RoleARN,omitempty"`
	BucketARN         *string              `json:"BucketARN,omitempty"`
	Prefix            *string              `json:"Prefix,omitempty"`
	ErrorOutputPrefix *string              `json:"ErrorOutputPrefix,omitempty"`
	BufferingHints    *bufferingHintsPatch `json:"BufferingHints,omitempty"`
	CompressionFormat *string              `json:"CompressionFormat,omitempty"`
	// ProcessingConfiguration replaces the processors, as in
	// CreateDeliveryStream (see Processing.Transforms).
	ProcessingConfiguration *Processing `json:"ProcessingConfiguration,omitempty"`
	// Settings Hydrant's created delivery streams do not have: asking for
	// one is refused, never ignored.
	S3BackupMode                      string          `json:"S3BackupMode,omitempty"`
	DataFormatConversionConfiguration *enabledSetting `json:"DataFormatConversionConfiguration,omitempty"`
	DynamicPartitioningConfiguration  *enabledSetting `json:"DynamicPartitioningConfiguration,omitempty"`
}

type bufferingHintsPatch struct {
	SizeInMBs         *int `json:"SizeInMBs,omitempty"`
	IntervalInSeconds *int `json:"IntervalInSeconds,omitempty"`
}

type enabledSetting struct {
	Enabled bool `json:"Enabled"`
}

type updateDestinationRequest struct {
	DeliveryStreamName             string               `json:"DeliveryStreamName"`
	CurrentDeliveryStreamVersionID string               `json:"CurrentDeliveryStreamVersionId"`
	DestinationID                  string               `json:"DestinationId"`
	ExtendedS3DestinationUpdate    *s3DestinationUpdate `json:"ExtendedS3DestinationUpdate,omitempty"`
	S3DestinationUpdate            *s3DestinationUpdate `json:"S3DestinationUpdate,omitempty"`
	// Any other destination is refused; their presence is all that matters.
	RedshiftDestinationUpdate                json.RawMessage `json:"RedshiftDestinationUpdate,omitempty"`
	ElasticsearchDestinationUpdate           json.RawMessage `json:"ElasticsearchDestinationUpdate,omitempty"`
	AmazonopensearchserviceDestinationUpdate json.RawMessage `json:"AmazonopensearchserviceDestinationUpdate,omitempty"`
	SplunkDestinationUpdate                  json.RawMessage `json:"SplunkDestinationUpdate,omitempty"`
	HTTPEndpointDestinationUpdate            json.RawMessage `json:"HttpEndpointDestinationUpdate,omitempty"`
}

func (r *updateDestinationRequest) resource(*Server) (string, string) {
	return "deliverystream", r.DeliveryStreamName
}

var versionPattern = regexp.MustCompile(`^[0-9]{1,50}$`)

func (s *Server) updateDestination(ctx context.Context, c *call, req *updateDestinationRequest) (any, *apiError) {
	ctl, aerr := s.control()
	if aerr != nil {
		return nil, aerr
	}
	d, aerr := s.delivery(req.DeliveryStreamName)
	if aerr != nil {
		return nil, aerr
	}
	if !versionPattern.MatchString(req.CurrentDeliveryStreamVersionID) {
		return nil, errValidation("%s", validationMessage(req.CurrentDeliveryStreamVersionID, "currentDeliveryStreamVersionId",
			"Member must satisfy regular expression pattern: [0-9]+"))
	}
	version, err := strconv.Atoi(req.CurrentDeliveryStreamVersionID)
	if err != nil {
		return nil, concurrentModification(d.Name, req.CurrentDeliveryStreamVersionID)
	}
	if req.DestinationID != destinationID {
		return nil, errInvalidArgument("DestinationId %q: delivery stream %s has one destination, %s", req.DestinationID, d.Name, destinationID)
	}
	update, aerr := destinationUpdate(req)
	if aerr != nil {
		return nil, aerr
	}
	updater, ok := ctl.(DestinationUpdater)
	if !ok {
		return nil, errInvalidArgument("this server does not change delivery streams")
	}
	err = updater.UpdateDestination(ctx, d.Name, version, update)
	if errors.Is(err, ErrVersion) {
		return nil, concurrentModification(d.Name, req.CurrentDeliveryStreamVersionID)
	}
	if err != nil {
		return nil, s.controlError(err)
	}
	return struct{}{}, nil
}

func concurrentModification(name, version string) *apiError {
	return newError(http.StatusBadRequest, "ConcurrentModificationException",
		"Delivery stream %s is not at version %s: it changed since it was described; describe it again for its VersionId", name, version)
}

// destinationUpdate validates the request's one S3 destination update.
func destinationUpdate(req *updateDestinationRequest) (DestinationUpdate, *apiError) {
	du := req.ExtendedS3DestinationUpdate
	if du == nil {
		du = req.S3DestinationUpdate
	}
	if du == nil || (req.ExtendedS3DestinationUpdate != nil && req.S3DestinationUpdate != nil) ||
		req.RedshiftDestinationUpdate != nil || req.ElasticsearchDestinationUpdate != nil || req.AmazonopensearchserviceDestinationUpdate != nil ||
		req.SplunkDestinationUpdate != nil || req.HTTPEndpointDestinationUpdate != nil {
		return DestinationUpdate{}, errInvalidArgument("give one ExtendedS3DestinationUpdate (or S3DestinationUpdate): delivery streams created through the API write to S3")
	}
	switch {
	case du.S3BackupMode == "Enabled":
		return DestinationUpdate{}, errInvalidArgument("S3BackupMode Enabled is not supported: a created delivery stream has no backup")
	case du.DataFormatConversionConfiguration != nil && du.DataFormatConversionConfiguration.Enabled:
		return DestinationUpdate{}, errInvalidArgument("DataFormatConversionConfiguration is not supported through the API; declare the delivery in the config file (format: parquet)")
	case du.DynamicPartitioningConfiguration != nil && du.DynamicPartitioningConfiguration.Enabled:
		return DestinationUpdate{}, errInvalidArgument("DynamicPartitioningConfiguration can only be set when a delivery stream is created, as in AWS")
	}
	if aerr := checkProcessing(du.ProcessingConfiguration); aerr != nil {
		return DestinationUpdate{}, aerr
	}
	u := DestinationUpdate{Prefix: du.Prefix, ErrorOutputPrefix: du.ErrorOutputPrefix, Processing: du.ProcessingConfiguration}
	if du.BucketARN != nil {
		bucket, ok := strings.CutPrefix(*du.BucketARN, "arn:aws:s3:::")
		if !ok || bucket == "" || strings.Contains(bucket, "/") {
			return DestinationUpdate{}, errInvalidArgument("BucketARN %q: want arn:aws:s3:::<bucket>", *du.BucketARN)
		}
		u.Bucket = &bucket
	}
	if h := du.BufferingHints; h != nil {
		if h.SizeInMBs != nil && (*h.SizeInMBs < 1 || *h.SizeInMBs > 128) {
			return DestinationUpdate{}, errInvalidArgument("BufferingHints: SizeInMBs must be 1..128")
		}
		if h.IntervalInSeconds != nil && (*h.IntervalInSeconds < 0 || *h.IntervalInSeconds > 900) {
			return DestinationUpdate{}, errInvalidArgument("BufferingHints: IntervalInSeconds must be 0..900")
		}
		u.SizeInMBs, u.IntervalInSeconds = h.SizeInMBs, h.IntervalInSeconds
	}
	if f := du.CompressionFormat; f != nil {
		var compression string
		switch *f {
		case "UNCOMPRESSED":
			compression = "none"
		case "GZIP":
			compression = "gzip"
		default:
			return DestinationUpdate{}, errInvalidArgument("CompressionFormat %s is not supported; use UNCOMPRESSED or GZIP", *f)
		}
		u.Compression = &compression
	}
	return u, nil
}

// deliveryVersion is a delivery stream's VersionId: 1 until it is first
// updated.
func deliveryVersion(d Delivery) string {
	return strconv.Itoa(max(d.Version, 1))
}
