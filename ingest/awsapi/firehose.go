package awsapi

import (
	"context"
	"errors"
	"net/http"
	"sort"

	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/hydrant-dev/hydrant/shards"
)

const (
	maxBatchRecords = 500
	maxBatchBytes   = 4 << 20
)

// delivery resolves a request's delivery stream.
func (s *Server) delivery(name string) (Delivery, *apiError) {
	if name == "" {
		return Delivery{}, errValidation("%s", validationMessage(nil, "deliveryStreamName", "Member must not be null"))
	}
	if !streamNamePattern.MatchString(name) || len(name) > 64 {
		return Delivery{}, errValidation("%s", validationMessage(name, "deliveryStreamName",
			"Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 1 and 64"))
	}
	d, ok := s.catalog.Delivery(name)
	if !ok {
		return Delivery{}, errNotFound("Firehose %s under account %s not found.", name, s.opts.AccountID)
	}
	return d, nil
}

// directPut resolves a delivery that takes direct puts.
func (s *Server) directPut(name string) (Delivery, *apiError) {
	d, aerr := s.delivery(name)
	if aerr != nil {
		return d, aerr
	}
	if d.Source != "" {
		return d, errInvalidArgument("This operation is not permitted on KinesisStreamAsSource delivery stream type.")
	}
	return d, nil
}

type firehoseRecord struct {
	Data []byte `json:"Data"`
}

// firehoseRecord validates one Firehose record and gives it a random
// partition key from keys, spreading a delivery's records over its shards as
// Firehose does. field names the record in validation messages ("record."
// or "records.N.member."); it is only called on a failure.
func (s *Server) firehoseRecord(r firehoseRecord, keys *shards.RandomKeys, field func() string) (shards.Record, *apiError) {
	if r.Data == nil {
		return shards.Record{}, errValidation("%s", validationMessage(nil, field()+"data", "Member must not be null"))
	}
	if len(r.Data) > s.opts.MaxRecordSize {
		return shards.Record{}, errValidation("%s", validationMessage("java.nio.HeapByteBuffer", field()+"data",
			"Member must have length less than or equal to "+itoa(s.opts.MaxRecordSize)))
	}
	return shards.Record{PartitionKey: keys.Next(), Data: r.Data}, nil
}

// recordID is the RecordId of a stored record: where it is in the log.
func recordID(res shards.PutResult) string {
	return shards.ShardID(res.Shard) + "-" + res.Sequence.String()
}

type firehosePutRecordRequest struct {
	DeliveryStreamName string         `json:"DeliveryStreamName"`
	Record             firehoseRecord `json:"Record"`
}

type firehosePutRecordResponse struct {
	RecordID  string `json:"RecordId"`
	Encrypted bool   `json:"Encrypted"`
}

func (s *Server) firehosePutRecord(ctx context.Context, c *call, req *firehosePutRecordRequest) (any, *apiError) {
	d, aerr := s.directPut(req.DeliveryStreamName)
	if aerr != nil {
		return nil, aerr
	}
	var keys shards.RandomKeys
	rec, aerr := s.firehoseRecord(req.Record, &keys, func() string { return "record." })
	if aerr != nil {
		return nil, aerr
	}
	recs := []shards.Record{rec}
	results := d.Log.Put(ctx, c.now, recs)
	s.countPuts(d.Name, metrics.APIFirehose, recs, results)
	res := results[0]
	if errors.Is(res.Err, shards.ErrThrottled) {
		return nil, newError(http.StatusServiceUnavailable, "ServiceUnavailableException", "Slow down.")
	}
	if errors.Is(res.Err, shards.ErrUnavailable) {
		return nil, errUnavailable()
	}
	if res.Err != nil {
		return nil, s.internal("put to "+d.Name+" failed", res.Err)
	}
	return firehosePutRecordResponse{RecordID: recordID(res), Encrypted: s.store.EncryptedAtRest()}, nil
}

type putRecordBatchRequest struct {
	DeliveryStreamName string           `json:"DeliveryStreamName"`
	Records            []firehoseRecord `json:"Records"`
}

type putRecordBatchEntry struct {
	RecordID     string `json:"RecordId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

type putRecordBatchResponse struct {
	FailedPutCount   int                   `json:"FailedPutCount"`
	Encrypted        bool                  `json:"Encrypted"`
	RequestResponses []putRecordBatchEntry `json:"RequestResponses"`
}

func (s *Server) firehosePutRecordBatch(ctx context.Context, c *call, req *putRecordBatchRequest) (any, *apiError) {
	d, aerr := s.directPut(req.DeliveryStreamName)
	if aerr != nil {
		return nil, aerr
	}
	if len(req.Records) < 1 || len(req.Records) > maxBatchRecords {
		return nil, errValidation("%s", recordsCountMessage(len(req.Records), maxBatchRecords))
	}
	recs := make([]shards.Record, len(req.Records))
	total := 0
	var keys shards.RandomKeys
	for i, r := range req.Records {
		rec, aerr := s.firehoseRecord(r, &keys, func() string { return "records." + itoa(i+1) + ".member." })
		if aerr != nil {
			return nil, aerr
		}
		recs[i] = rec
		total += len(rec.Data)
	}
	if total > maxBatchBytes {
		return nil, errInvalidArgument("Records size exceeds 4 MiB limit")
	}
	out := putRecordBatchResponse{RequestResponses: make([]putRecordBatchEntry, len(recs)), Encrypted: s.store.EncryptedAtRest()}
	results := d.Log.Put(ctx, c.now, recs)
	s.countPuts(d.Name, metrics.APIFirehose, recs, results)
	for i, res := range results {
		switch {
		case res.Err == nil:
			out.RequestResponses[i] = putRecordBatchEntry{RecordID: recordID(res)}
		case errors.Is(res.Err, shards.ErrThrottled):
			out.FailedPutCount++
			out.RequestResponses[i] = putRecordBatchEntry{ErrorCode: "ServiceUnavailableException", ErrorMessage: "Slow down."}
		case errors.Is(res.Err, shards.ErrUnavailable):
			out.FailedPutCount++
			out.RequestResponses[i] = putRecordBatchEntry{ErrorCode: "ServiceUnavailableException", ErrorMessage: unavailableMessage}
		default:
			out.FailedPutCount++
			out.RequestResponses[i] = putRecordBatchEntry{ErrorCode: "InternalFailure", ErrorMessage: "Internal service failure."}
		}
	}
	return out, nil
}

type listDeliveryStreamsRequest struct {
	Limit                            int    `json:"Limit,omitempty"`
	DeliveryStreamType               string `json:"DeliveryStreamType,omitempty"`
	ExclusiveStartDeliveryStreamName string `json:"ExclusiveStartDeliveryStreamName,omitempty"`
}

type listDeliveryStreamsResponse struct {
	DeliveryStreamNames    []string `json:"DeliveryStreamNames"`
	HasMoreDeliveryStreams bool     `json:"HasMoreDeliveryStreams"`
}

func deliveryType(d Delivery) string {
	if d.Source != "" {
		return "KinesisStreamAsSource"
	}
	return "DirectPut"
}

func (s *Server) listDeliveryStreams(_ context.Context, c *call, req *listDeliveryStreamsRequest) (any, *apiError) {
	limit := req.Limit
	if limit == 0 {
		limit = 10
	}
	if limit < 1 || limit > 10000 {
		return nil, errValidation("%s", validationMessage(req.Limit, "limit", "Member must have value between 1 and 10000"))
	}
	switch req.DeliveryStreamType {
	case "", "DirectPut", "KinesisStreamAsSource", "MSKAsSource", "DatabaseAsSource":
	default:
		return nil, errValidation("%s", validationMessage(req.DeliveryStreamType, "deliveryStreamType",
			"Member must satisfy enum value set: [DirectPut, KinesisStreamAsSource, MSKAsSource, DatabaseAsSource]"))
	}
	all := s.catalog.Deliveries()
	i := sort.Search(len(all), func(i int) bool { return all[i].Name > req.ExclusiveStartDeliveryStreamName })
	out := listDeliveryStreamsResponse{DeliveryStreamNames: []string{}}
	for ; i < len(all); i++ {
		if req.DeliveryStreamType != "" && deliveryType(all[i]) != req.DeliveryStreamType {
			continue
		}
		if len(out.DeliveryStreamNames) == limit {
			out.HasMoreDeliveryStreams = true
			break
		}
		out.DeliveryStreamNames = append(out.DeliveryStreamNames, all[i].Name)
	}
	return out, nil
}

type bufferingHints struct {
	SizeInMBs         int `json:"SizeInMBs"`
	IntervalInSeconds int `json:"IntervalInSeconds"`
}

type extendedS3Description struct {
	RoleARN                 string            `json:"RoleARN"`
	BucketARN               string            `json:"BucketARN"`
	Prefix                  string            `json:"Prefix,omitempty"`
	ErrorOutputPrefix       string            `json:"ErrorOutputPrefix,omitempty"`
	BufferingHints          bufferingHints    `json:"BufferingHints"`
	CompressionFormat       string            `json:"CompressionFormat"`
	EncryptionConfiguration map[string]string `json:"EncryptionConfiguration"`
	S3BackupMode            string            `json:"S3BackupMode"`
	ProcessingConfiguration *Processing       `json:"ProcessingConfiguration,omitempty"`
}

type destinationDescription struct {
	DestinationID                    string                `json:"DestinationId"`
	ExtendedS3DestinationDescription extendedS3Description `json:"ExtendedS3DestinationDescription"`
}

type kinesisSourceDescription struct {
	KinesisStreamARN       string    `json:"KinesisStreamARN"`
	RoleARN                string    `json:"RoleARN"`
	DeliveryStartTimestamp epochTime `json:"DeliveryStartTimestamp"`
}

type sourceDescription struct {
	KinesisStreamSourceDescription kinesisSourceDescription `json:"KinesisStreamSourceDescription"`
}

type deliveryStreamDescription struct {
	DeliveryStreamName   string                   `json:"DeliveryStreamName"`
	DeliveryStreamARN    string                   `json:"DeliveryStreamARN"`
	DeliveryStreamStatus string                   `json:"DeliveryStreamStatus"`
	DeliveryStreamType   string                   `json:"DeliveryStreamType"`
	VersionID            string                   `json:"VersionId"`
	CreateTimestamp      epochTime                `json:"CreateTimestamp"`
	Source               *sourceDescription       `json:"Source,omitempty"`
	Destinations         []destinationDescription `json:"Destinations"`
	HasMoreDestinations  bool                     `json:"HasMoreDestinations"`
	// DeliveryStreamEncryptionConfiguration says whether records are
	// encrypted at rest while they wait for delivery.
	DeliveryStreamEncryptionConfiguration map[string]string `json:"DeliveryStreamEncryptionConfiguration"`
}

type describeDeliveryStreamRequest struct {
	DeliveryStreamName string `json:"DeliveryStreamName"`
}

func (s *Server) describeDeliveryStream(_ context.Context, c *call, req *describeDeliveryStreamRequest) (any, *apiError) {
	d, aerr := s.delivery(req.DeliveryStreamName)
	if aerr != nil {
		return nil, aerr
	}
	role := "arn:aws:iam::" + s.opts.AccountID + ":role/hydrant"
	dest := d.Destination
	desc := deliveryStreamDescription{
		DeliveryStreamName: d.Name, DeliveryStreamARN: s.arn("firehose", c.region, "deliverystream/"+d.Name),
		DeliveryStreamStatus: "ACTIVE", DeliveryStreamType: deliveryType(d), DeliveryStreamEncryptionConfiguration: s.deliveryEncryption(), VersionID: deliveryVersion(d), CreateTimestamp: epochTime{d.Created},
		Destinations: []destinationDescription{{
			DestinationID: "destinationId-000000000001",
			ExtendedS3DestinationDescription: extendedS3Description{
				RoleARN: role, BucketARN: dest.BucketARN, Prefix: dest.Prefix, ErrorOutputPrefix: dest.ErrorOutputPrefix,
				BufferingHints:          bufferingHints{SizeInMBs: dest.SizeInMBs, IntervalInSeconds: dest.IntervalInSeconds},
				CompressionFormat:       dest.CompressionFormat,
				EncryptionConfiguration: map[string]string{"NoEncryptionConfig": "NoEncryption"},
				S3BackupMode:            "Disabled",
				ProcessingConfiguration: dest.Processing,
			},
		}},
	}
	if d.Source != "" {
		desc.Source = &sourceDescription{KinesisStreamSourceDescription: kinesisSourceDescription{
			KinesisStreamARN: s.arn("kinesis", c.region, "stream/"+d.Source), RoleARN: role, DeliveryStartTimestamp: epochTime{d.Created},
		}}
	}
	return map[string]deliveryStreamDescription{"DeliveryStreamDescription": desc}, nil
}
