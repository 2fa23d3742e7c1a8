package awsapi

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"sort"
	"unicode/utf8"

	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/hydrant-dev/hydrant/shards"
)

const (
	maxPutRecords = 500
	// A PutRecords request may carry 5 MiB of data and partition keys in
	// all where records are at most 1 MiB (the Kinesis developer guide),
	// and 10 MiB where they may be larger (streams with
	// MaxRecordSizeInKiB raised, the API reference): past it the whole
	// request is InvalidArgumentException.
	maxPutRecordsBytes      = 5 << 20
	maxPutRecordsBytesLarge = 10 << 20
	kinesisMinRecordSize    = 1 << 20 // Kinesis takes records of at least 1 MiB
	maxPartitionKey         = 256
)

var (
	streamNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)
	hashKeyPattern    = regexp.MustCompile(`^(0|[1-9]\d{0,38})$`)
	sequencePattern   = regexp.MustCompile(`^(0|[1-9]\d{0,128})$`)
)

// streamRef is how requests name a stream.
type streamRef struct {
	StreamName string `json:"StreamName,omitempty"`
	StreamARN  string `json:"StreamARN,omitempty"`
}

// stream resolves a request's stream.
func (s *Server) stream(ref streamRef) (Stream, *apiError) {
	name := ref.StreamName
	if name == "" && ref.StreamARN != "" {
		n, ok := nameFromARN(ref.StreamARN, "stream")
		if !ok {
			return Stream{}, errInvalidArgument("StreamARN %q is not a Kinesis stream ARN", ref.StreamARN)
		}
		name = n
	}
	if name == "" {
		return Stream{}, errValidation("%s", validationMessage(nil, "streamName", "Member must not be null"))
	}
	if !streamNamePattern.MatchString(name) {
		return Stream{}, errValidation("%s", validationMessage(name, "streamName", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"))
	}
	st, ok := s.catalog.Stream(name)
	if !ok {
		return Stream{}, errNotFound("Stream %s under account %s not found.", name, s.opts.AccountID)
	}
	return st, nil
}

type kinesisRecord struct {
	Data            []byte `json:"Data"`
	PartitionKey    string `json:"PartitionKey"`
	ExplicitHashKey string `json:"ExplicitHashKey,omitempty"`
}

type putRecordRequest struct {
	streamRef
	kinesisRecord
	SequenceNumberForOrdering string `json:"SequenceNumberForOrdering,omitempty"`
}

type putRecordResponse struct {
	ShardID        string `json:"ShardId"`
	SequenceNumber string `json:"SequenceNumber"`
	EncryptionType string `json:"EncryptionType"`
}

func (s *Server) kinesisPutRecord(ctx context.Context, c *call, req *putRecordRequest) (any, *apiError) {
	st, aerr := s.stream(req.streamRef)
	if aerr != nil {
		return nil, aerr
	}
	if req.SequenceNumberForOrdering != "" && !sequencePattern.MatchString(req.SequenceNumberForOrdering) {
		return nil, errInvalidArgument("SequenceNumberForOrdering %q is not a sequence number", req.SequenceNumberForOrdering)
	}
	rec, aerr := s.kinesisRecord(req.kinesisRecord, "")
	if aerr != nil {
		return nil, aerr
	}
	recs := []shards.Record{rec}
	results := st.Log.Put(ctx, c.now, recs)
	s.countPuts(st.Name, metrics.APIKinesis, recs, results)
	res := results[0]
	if res.Err != nil {
		return nil, s.putError(st.Name, res)
	}
	return putRecordResponse{ShardID: shards.ShardID(res.Shard), SequenceNumber: res.Sequence.String(), EncryptionType: s.encryptionType()}, nil
}

// kinesisRecord validates one record; field prefixes paths in messages.
func (s *Server) kinesisRecord(r kinesisRecord, field string) (shards.Record, *apiError) {
	if r.Data == nil {
		return shards.Record{}, errValidation("%s", validationMessage(nil, field+"data", "Member must not be null"))
	}
	switch n := utf8.RuneCountInString(r.PartitionKey); {
	case n < 1:
		return shards.Record{}, errValidation("%s", validationMessage(r.PartitionKey, field+"partitionKey",
			"Member must have length greater than or equal to 1"))
	case n > maxPartitionKey:
		return shards.Record{}, errValidation("%s", validationMessage(r.PartitionKey, field+"partitionKey",
			"Member must have length less than or equal to "+itoa(maxPartitionKey)))
	}
	if limit := max(s.opts.MaxRecordSize, kinesisMinRecordSize); len(r.Data)+len(r.PartitionKey) > limit {
		return shards.Record{}, errValidation("%s", validationMessage("java.nio.HeapByteBuffer", field+"data",
			"Member must have length less than or equal to "+itoa(limit)))
	}
	rec := shards.Record{PartitionKey: r.PartitionKey, Data: r.Data}
	if r.ExplicitHashKey != "" {
		if !hashKeyPattern.MatchString(r.ExplicitHashKey) {
			return shards.Record{}, errValidation("%s", validationMessage(r.ExplicitHashKey, field+"explicitHashKey",
				"Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})"))
		}
		h, err := shards.ParseHashKey(r.ExplicitHashKey)
		if err != nil {
			return shards.Record{}, errInvalidArgument("Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was %s", r.ExplicitHashKey)
		}
		rec.HashKey = &h
	}
	return rec, nil
}

// putError maps a failed single put to the API's error.
func (s *Server) putError(stream string, res shards.PutResult) *apiError {
	if errors.Is(res.Err, shards.ErrThrottled) {
		return newError(http.StatusBadRequest, "ProvisionedThroughputExceededException",
			"Rate exceeded for shard %s in stream %s under account %s.", shards.ShardID(res.Shard), stream, s.opts.AccountID)
	}
	if errors.Is(res.Err, shards.ErrUnavailable) {
		return errUnavailable()
	}
	return s.internal("put to "+stream+" failed", res.Err)
}

type putRecordsRequest struct {
	streamRef
	Records []kinesisRecord `json:"Records"`
}

type putRecordsEntry struct {
	SequenceNumber string `json:"SequenceNumber,omitempty"`
	ShardID        string `json:"ShardId,omitempty"`
	ErrorCode      string `json:"ErrorCode,omitempty"`
	ErrorMessage   string `json:"ErrorMessage,omitempty"`
}

type putRecordsResponse struct {
	FailedRecordCount int               `json:"FailedRecordCount"`
	Records           []putRecordsEntry `json:"Records"`
	EncryptionType    string            `json:"EncryptionType"`
}

func (s *Server) kinesisPutRecords(ctx context.Context, c *call, req *putRecordsRequest) (any, *apiError) {
	st, aerr := s.stream(req.streamRef)
	if aerr != nil {
		return nil, aerr
	}
	if len(req.Records) < 1 || len(req.Records) > maxPutRecords {
		return nil, errValidation("%s", recordsCountMessage(len(req.Records), maxPutRecords))
	}
	recs := make([]shards.Record, len(req.Records))
	total := 0
	for i, r := range req.Records {
		rec, aerr := s.kinesisRecord(r, "records."+itoa(i+1)+".member.")
		if aerr != nil {
			return nil, aerr
		}
		recs[i] = rec
		total += rec.Size()
	}
	if limit := s.putRecordsLimit(); total > limit {
		return nil, errInvalidArgument("Records size exceeds %d bytes: a PutRecords request may carry %d bytes of data and partition keys in all.", limit, limit)
	}
	out := putRecordsResponse{Records: make([]putRecordsEntry, len(recs)), EncryptionType: s.encryptionType()}
	results := st.Log.Put(ctx, c.now, recs)
	s.countPuts(st.Name, metrics.APIKinesis, recs, results)
	for i, res := range results {
		if res.Err == nil {
			out.Records[i] = putRecordsEntry{SequenceNumber: res.Sequence.String(), ShardID: shards.ShardID(res.Shard)}
			continue
		}
		out.FailedRecordCount++
		if errors.Is(res.Err, shards.ErrThrottled) {
			out.Records[i] = putRecordsEntry{ErrorCode: "ProvisionedThroughputExceededException",
				ErrorMessage: "Rate exceeded for shard " + shards.ShardID(res.Shard) + " in stream " + st.Name + " under account " + s.opts.AccountID + "."}
			continue
		}
		out.Records[i] = putRecordsEntry{ErrorCode: "InternalFailure", ErrorMessage: "Internal service failure."}
	}
	return out, nil
}

// putRecordsLimit is the most data and partition keys a PutRecords
// request may carry in all.
func (s *Server) putRecordsLimit() int {
	if s.opts.MaxRecordSize > kinesisMinRecordSize {
		return maxPutRecordsBytesLarge
	}
	return maxPutRecordsBytes
}

type listStreamsRequest struct {
	Limit                    int    `json:"Limit,omitempty"`
	ExclusiveStartStreamName string `json:"ExclusiveStartStreamName,omitempty"`
	NextToken                string `json:"NextToken,omitempty"`
}

type streamSummary struct {
	StreamName              string            `json:"StreamName"`
	StreamARN               string            `json:"StreamARN"`
	StreamStatus            string            `json:"StreamStatus"`
	StreamModeDetails       streamModeDetails `json:"StreamModeDetails"`
	StreamCreationTimestamp epochTime         `json:"StreamCreationTimestamp"`
}

type streamModeDetails struct {
	StreamMode string `json:"StreamMode"`
}

type listStreamsResponse struct {
	StreamNames     []string        `json:"StreamNames"`
	StreamSummaries []streamSummary `json:"StreamSummaries"`
	HasMoreStreams  bool            `json:"HasMoreStreams"`
	NextToken       string          `json:"NextToken,omitempty"`
}

func (s *Server) listStreams(_ context.Context, c *call, req *listStreamsRequest) (any, *apiError) {
	limit := req.Limit
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > 10000 {
		return nil, errValidation("%s", validationMessage(req.Limit, "limit", "Member must have value between 1 and 10000"))
	}
	after := req.ExclusiveStartStreamName
	if req.NextToken != "" {
		after = req.NextToken
	}
	out := listStreamsResponse{StreamNames: []string{}, StreamSummaries: []streamSummary{}}
	all := s.catalog.Streams()
	i := sort.Search(len(all), func(i int) bool { return all[i].Name > after })
	for ; i < len(all); i++ {
		if len(out.StreamNames) == limit {
			out.HasMoreStreams = true
			out.NextToken = out.StreamNames[len(out.StreamNames)-1]
			break
		}
		st := all[i]
		out.StreamNames = append(out.StreamNames, st.Name)
		out.StreamSummaries = append(out.StreamSummaries, streamSummary{
			StreamName: st.Name, StreamARN: s.arn("kinesis", c.region, "stream/"+st.Name), StreamStatus: streamStatus(st),
			StreamModeDetails: streamMode(st), StreamCreationTimestamp: epochTime{st.Created},
		})
	}
	return out, nil
}

type describeStreamRequest struct {
	streamRef
	Limit                 int    `json:"Limit,omitempty"`
	ExclusiveStartShardID string `json:"ExclusiveStartShardId,omitempty"`
}

type enhancedMetrics struct {
	ShardLevelMetrics []string `json:"ShardLevelMetrics"`
}

type streamDescription struct {
	StreamName              string             `json:"StreamName"`
	StreamARN               string             `json:"StreamARN"`
	StreamStatus            string             `json:"StreamStatus"`
	StreamModeDetails       streamModeDetails  `json:"StreamModeDetails"`
	Shards                  []shardDescription `json:"Shards"`
	HasMoreShards           bool               `json:"HasMoreShards"`
	RetentionPeriodHours    int                `json:"RetentionPeriodHours"`
	StreamCreationTimestamp epochTime          `json:"StreamCreationTimestamp"`
	EnhancedMonitoring      []enhancedMetrics  `json:"EnhancedMonitoring"`
	EncryptionType          string             `json:"EncryptionType"`
	KeyID                   string             `json:"KeyId,omitempty"`
}

func (s *Server) describeStream(ctx context.Context, c *call, req *describeStreamRequest) (any, *apiError) {
	st, aerr := s.stream(req.streamRef)
	if aerr != nil {
		return nil, aerr
	}
	limit := req.Limit
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > 10000 {
		return nil, errValidation("%s", validationMessage(req.Limit, "limit", "Member must have value between 1 and 10000"))
	}
	set := s.streamSettings(ctx, st.Name)
	page := []shardDescription{}
	more := false
	view := newShardView(st, c.now)
	for _, sh := range view.lin.Shards {
		if shards.ShardID(sh.ID) <= req.ExclusiveStartShardID || view.expired(sh) {
			continue
		}
		if len(page) == limit {
			more = true
			break
		}
		page = append(page, describeShard(sh))
	}
	return map[string]streamDescription{"StreamDescription": {
		StreamName: st.Name, StreamARN: s.arn("kinesis", c.region, "stream/"+st.Name), StreamStatus: streamStatus(st),
		StreamModeDetails: streamMode(st), Shards: page, HasMoreShards: more,
		RetentionPeriodHours: int(st.Retention.Hours()), StreamCreationTimestamp: epochTime{st.Created},
		EnhancedMonitoring: enhancedMonitoring(set), EncryptionType: s.encryptionType(), KeyID: s.keyID(set),
	}}, nil
}

type streamDescriptionSummary struct {
	StreamName              string            `json:"StreamName"`
	StreamARN               string            `json:"StreamARN"`
	StreamStatus            string            `json:"StreamStatus"`
	StreamModeDetails       streamModeDetails `json:"StreamModeDetails"`
	RetentionPeriodHours    int               `json:"RetentionPeriodHours"`
	StreamCreationTimestamp epochTime         `json:"StreamCreationTimestamp"`
	EnhancedMonitoring      []enhancedMetrics `json:"EnhancedMonitoring"`
	EncryptionType          string            `json:"EncryptionType"`
	KeyID                   string            `json:"KeyId,omitempty"`
	OpenShardCount          int               `json:"OpenShardCount"`
	ConsumerCount           int               `json:"ConsumerCount"`
}

func (s *Server) describeStreamSummary(ctx context.Context, c *call, req *streamRef) (any, *apiError) {
	st, aerr := s.stream(*req)
	if aerr != nil {
		return nil, aerr
	}
	set := s.streamSettings(ctx, st.Name)
	return map[string]streamDescriptionSummary{"StreamDescriptionSummary": {
		StreamName: st.Name, StreamARN: s.arn("kinesis", c.region, "stream/"+st.Name), StreamStatus: streamStatus(st),
		StreamModeDetails: streamMode(st), RetentionPeriodHours: int(st.Retention.Hours()),
		StreamCreationTimestamp: epochTime{st.Created}, EnhancedMonitoring: enhancedMonitoring(set),
		EncryptionType: s.encryptionType(), KeyID: s.keyID(set), OpenShardCount: st.Log.OpenShards(), ConsumerCount: s.consumerCountOf(ctx, st, c.now),
	}}, nil
}
