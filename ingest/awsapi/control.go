package awsapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/hydrant-dev/hydrant/shards"
)

// Errors a Control wraps, which the APIs turn into AWS's error types.
var (
	ErrExists   = errors.New("already exists")                   // ResourceInUseException
	ErrNotFound = errors.New("not found")                        // ResourceNotFoundException
	ErrDeclared = errors.New("declared in the config file")      // ResourceInUseException
	ErrInvalid  = errors.New("invalid request")                  // InvalidArgumentException
	ErrDisabled = errors.New("not enabled in the configuration") // InvalidArgumentException
	ErrLimit    = errors.New("limit exceeded")                   // LimitExceededException
)

// DeliverySpec is a DirectPut delivery stream with an S3 destination, as
// CreateDeliveryStream describes it.
type DeliverySpec struct {
	Name              string
	Bucket            string
	Prefix            string
	ErrorOutputPrefix string
	Compression       string // none | gzip
	SizeInMBs         int
	IntervalInSeconds int
	RetryDuration     time.Duration
	Processing        *Processing // its ProcessingConfiguration, nil when none was given
}

// Control creates, changes and deletes what a Catalog holds, durably: what
// it creates or changes is so again after a restart. Errors wrap the errors
// above; the reshards' may also wrap shards.ErrReshard (the request does not
// fit the stream's shards: InvalidArgumentException, not retryable) and
// shards.ErrReshardInProgress (another reshard runs: ResourceInUseException,
// retry once it is done).
type Control interface {
	// CreateStream creates a stream of n shards in capacity mode
	// shards.Provisioned or shards.OnDemand.
	CreateStream(ctx context.Context, name string, n int, capacity string) error
	DeleteStream(ctx context.Context, name string) error
	SetRetention(ctx context.Context, name string, retention time.Duration) error
	CreateDelivery(ctx context.Context, spec DeliverySpec) error
	DeleteDelivery(ctx context.Context, name string) error
	// SplitShard, MergeShards and UpdateShardCount reshard a stream as the
	// shards.Store methods of those names do, within the server's limit on
	// shards (ErrLimit past it); the API has checked AWS's own limits.
	SplitShard(ctx context.Context, name string, shard int, at shards.HashKey) error
	MergeShards(ctx context.Context, name string, shard, adjacent int) error
	UpdateShardCount(ctx context.Context, name string, n int) error
	// SetStreamMode sets a stream's capacity mode, shards.Provisioned or
	// shards.OnDemand.
	SetStreamMode(ctx context.Context, name, mode string) error
}

// controlError maps a Control error to the API's.
func (s *Server) controlError(err error) *apiError {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrExists), errors.Is(err, ErrDeclared):
		return newError(http.StatusBadRequest, "ResourceInUseException", "%v", err)
	case errors.Is(err, ErrNotFound):
		return errNotFound("%v", err)
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrDisabled):
		return errInvalidArgument("%v", err)
	case errors.Is(err, ErrLimit):
		return newError(http.StatusBadRequest, "LimitExceededException", "%v", err)
	}
	return s.internal("control operation failed", err)
}

func (s *Server) control() (Control, *apiError) {
	if s.opts.Control == nil {
		return nil, errInvalidArgument("this server does not create or delete streams")
	}
	return s.opts.Control, nil
}

type createStreamRequest struct {
	StreamName        string             `json:"StreamName"`
	ShardCount        *int               `json:"ShardCount,omitempty"`
	StreamModeDetails *streamModeDetails `json:"StreamModeDetails,omitempty"`
	Tags              map[string]string  `json:"Tags,omitempty"`
}

// onDemandShards is how many shards an ON_DEMAND stream starts with, as in AWS.
const onDemandShards = 4

func (s *Server) createStream(ctx context.Context, c *call, req *createStreamRequest) (any, *apiError) {
	ctl, aerr := s.control()
	if aerr != nil {
		return nil, aerr
	}
	if !streamNamePattern.MatchString(req.StreamName) {
		return nil, errValidation("%s", validationMessage(req.StreamName, "streamName", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"))
	}
	capacity, aerr := createCapacity(req.StreamModeDetails)
	if aerr != nil {
		return nil, aerr
	}
	n := onDemandShards
	switch {
	case capacity == shards.OnDemand && req.ShardCount != nil:
		return nil, errInvalidArgument("ShardCount is not supported for a stream in ON_DEMAND capacity mode: leave it out (the stream starts with %d shards and follows its load)", onDemandShards)
	case capacity == shards.OnDemand:
	case req.ShardCount == nil:
		return nil, errInvalidArgument("ShardCount is required for a PROVISIONED stream")
	default:
		n = *req.ShardCount
	}
	if n < 1 || n > 1024 {
		return nil, errInvalidArgument("ShardCount %d: must be between 1 and 1024", n)
	}
	if aerr := s.checkNewTags(req.Tags, "Stream "+req.StreamName); aerr != nil {
		return nil, aerr
	}
	if aerr := s.controlError(ctl.CreateStream(ctx, req.StreamName, n, capacity)); aerr != nil {
		return nil, aerr
	}
	return s.newResourceTags(ctx, settingsKey(kindStream, req.StreamName), req.Tags)
}

// createCapacity is the capacity mode CreateStream's StreamModeDetails
// asks for: PROVISIONED when left out.
func createCapacity(d *streamModeDetails) (string, *apiError) {
	if d == nil {
		return shards.Provisioned, nil
	}
	return capacityMode(d.StreamMode, "streamModeDetails.streamMode")
}

type deleteStreamRequest struct {
	streamRef
	EnforceConsumerDeletion bool `json:"EnforceConsumerDeletion,omitempty"`
}

func (s *Server) deleteStream(ctx context.Context, c *call, req *deleteStreamRequest) (any, *apiError) {
	ctl, aerr := s.control()
	if aerr != nil {
		return nil, aerr
	}
	st, aerr := s.stream(req.streamRef)
	if aerr != nil {
		return nil, aerr
	}
	// As in AWS, a stream with consumers is deleted only when asked to
	// delete them too.
	if n, err := s.consumerCount(ctx, st, c.now); err != nil {
		return nil, s.internal("DeleteStream", err)
	} else if n > 0 && !req.EnforceConsumerDeletion {
		return nil, newError(http.StatusBadRequest, "ResourceInUseException",
			"Stream %s under account %s has %d registered consumers: deregister them, or set EnforceConsumerDeletion to delete them with the stream.", st.Name, s.opts.AccountID, n)
	}
	if aerr := s.controlError(ctl.DeleteStream(ctx, st.Name)); aerr != nil {
		return nil, aerr
	}
	if err := s.deleteStreamSettings(context.WithoutCancel(ctx), st.Name); err != nil {
		return nil, s.internal("delete a stream's settings", err)
	}
	if err := s.deleteConsumers(context.WithoutCancel(ctx), st.Name); err != nil {
		return nil, s.internal("delete a stream's consumers", err)
	}
	return struct{}{}, nil
}

type retentionRequest struct {
	streamRef
	RetentionPeriodHours int `json:"RetentionPeriodHours"`
}

func (s *Server) increaseRetention(ctx context.Context, c *call, req *retentionRequest) (any, *apiError) {
	return s.changeRetention(ctx, req, true)
}

func (s *Server) decreaseRetention(ctx context.Context, c *call, req *retentionRequest) (any, *apiError) {
	return s.changeRetention(ctx, req, false)
}

func (s *Server) changeRetention(ctx context.Context, req *retentionRequest, increase bool) (any, *apiError) {
	ctl, aerr := s.control()
	if aerr != nil {
		return nil, aerr
	}
	st, aerr := s.stream(req.streamRef)
	if aerr != nil {
		return nil, aerr
	}
	h := req.RetentionPeriodHours
	if h < 24 || h > 8760 {
		return nil, errInvalidArgument("Minimum allowed retention period is 24 hours and maximum is 8760 hours. Requested retention period (%d hours) is out of range.", h)
	}
	current := int(st.Retention.Hours())
	if increase && h < current {
		return nil, errInvalidArgument("Requested retention period (%d hours) for stream %s can not be shorter than existing retention period (%d hours). Use DecreaseRetentionPeriod API.", h, st.Name, current)
	}
	if !increase && h > current {
		return nil, errInvalidArgument("Requested retention period (%d hours) for stream %s can not be longer than existing retention period (%d hours). Use IncreaseRetentionPeriod API.", h, st.Name, current)
	}
	return struct{}{}, s.controlError(ctl.SetRetention(ctx, st.Name, time.Duration(h)*time.Hour))
}

type s3DestinationConfiguration struct {
	BucketARN         string          `json:"BucketARN"`
	RoleARN           string          `json:"RoleARN"`
	Prefix            string          `json:"Prefix,omitempty"`
	ErrorOutputPrefix string          `json:"ErrorOutputPrefix,omitempty"`
	BufferingHints    *bufferingHints `json:"BufferingHints,omitempty"`
	CompressionFormat string          `json:"CompressionFormat,omitempty"`
	// ProcessingConfiguration: see Processing.Transforms for what runs.
	ProcessingConfiguration *Processing `json:"ProcessingConfiguration,omitempty"`
}

type createDeliveryStreamRequest struct {
	DeliveryStreamName                 string                      `json:"DeliveryStreamName"`
	DeliveryStreamType                 string                      `json:"DeliveryStreamType,omitempty"`
	ExtendedS3DestinationConfiguration *s3DestinationConfiguration `json:"ExtendedS3DestinationConfiguration,omitempty"`
	S3DestinationConfiguration         *s3DestinationConfiguration `json:"S3DestinationConfiguration,omitempty"`
	// Any other destination is refused; their presence is all that matters.
	RedshiftDestinationConfiguration      json.RawMessage `json:"RedshiftDestinationConfiguration,omitempty"`
	ElasticsearchDestinationConfiguration json.RawMessage `json:"ElasticsearchDestinationConfiguration,omitempty"`
	HTTPEndpointDestinationConfiguration  json.RawMessage `json:"HttpEndpointDestinationConfiguration,omitempty"`
	SplunkDestinationConfiguration        json.RawMessage `json:"SplunkDestinationConfiguration,omitempty"`
	AmazonopensearchserviceDestination    json.RawMessage `json:"AmazonopensearchserviceDestinationConfiguration,omitempty"`
	Tags                                  []tag           `json:"Tags,omitempty"`
}

func (s *Server) createDeliveryStream(ctx context.Context, c *call, req *createDeliveryStreamRequest) (any, *apiError) {
	ctl, aerr := s.control()
	if aerr != nil {
		return nil, aerr
	}
	if !streamNamePattern.MatchString(req.DeliveryStreamName) || len(req.DeliveryStreamName) > 64 {
		return nil, errValidation("%s", validationMessage(req.DeliveryStreamName, "deliveryStreamName",
			"Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 1 and 64"))
	}
	if t := req.DeliveryStreamType; t != "" && t != "DirectPut" {
		return nil, errInvalidArgument("DeliveryStreamType %s: only DirectPut delivery streams can be created through the API; declare the others in the config file", t)
	}
	dest := req.ExtendedS3DestinationConfiguration
	if dest == nil {
		dest = req.S3DestinationConfiguration
	}
	if dest == nil || req.RedshiftDestinationConfiguration != nil || req.ElasticsearchDestinationConfiguration != nil ||
		req.HTTPEndpointDestinationConfiguration != nil || req.SplunkDestinationConfiguration != nil || req.AmazonopensearchserviceDestination != nil {
		return nil, errInvalidArgument("only ExtendedS3 (or S3) destinations can be created through the API")
	}
	bucket, ok := strings.CutPrefix(dest.BucketARN, "arn:aws:s3:::")
	if !ok || bucket == "" || strings.Contains(bucket, "/") {
		return nil, errInvalidArgument("BucketARN %q: want arn:aws:s3:::<bucket>", dest.BucketARN)
	}
	spec := DeliverySpec{Name: req.DeliveryStreamName, Bucket: bucket, Prefix: dest.Prefix, ErrorOutputPrefix: dest.ErrorOutputPrefix,
		Compression: "none", SizeInMBs: 5, IntervalInSeconds: 300, RetryDuration: 24 * time.Hour}
	if h := dest.BufferingHints; h != nil {
		spec.SizeInMBs, spec.IntervalInSeconds = h.SizeInMBs, h.IntervalInSeconds
		if spec.SizeInMBs < 1 || spec.SizeInMBs > 128 || spec.IntervalInSeconds < 0 || spec.IntervalInSeconds > 900 {
			return nil, errInvalidArgument("BufferingHints: SizeInMBs must be 1..128 and IntervalInSeconds 0..900")
		}
	}
	switch dest.CompressionFormat {
	case "", "UNCOMPRESSED":
	case "GZIP":
		spec.Compression = "gzip"
	default:
		return nil, errInvalidArgument("CompressionFormat %s is not supported; use UNCOMPRESSED or GZIP", dest.CompressionFormat)
	}
	if aerr := checkProcessing(dest.ProcessingConfiguration); aerr != nil {
		return nil, aerr
	}
	spec.Processing = dest.ProcessingConfiguration
	tags, aerr := createTags(req.Tags)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.controlError(ctl.CreateDelivery(ctx, spec)); aerr != nil {
		return nil, aerr
	}
	if _, aerr := s.newResourceTags(ctx, settingsKey(kindDelivery, spec.Name), tags); aerr != nil {
		return nil, aerr
	}
	return map[string]string{"DeliveryStreamARN": s.arn("firehose", c.region, "deliverystream/"+spec.Name)}, nil
}

type deleteDeliveryStreamRequest struct {
	DeliveryStreamName string `json:"DeliveryStreamName"`
	AllowForceDelete   bool   `json:"AllowForceDelete,omitempty"`
}

func (s *Server) deleteDeliveryStream(ctx context.Context, c *call, req *deleteDeliveryStreamRequest) (any, *apiError) {
	ctl, aerr := s.control()
	if aerr != nil {
		return nil, aerr
	}
	d, aerr := s.delivery(req.DeliveryStreamName)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.controlError(ctl.DeleteDelivery(ctx, d.Name)); aerr != nil {
		return nil, aerr
	}
	if err := s.store.DeleteMeta(context.WithoutCancel(ctx), settingsKey(kindDelivery, d.Name)); err != nil {
		return nil, s.internal("delete a delivery stream's settings", err)
	}
	return struct{}{}, nil
}
