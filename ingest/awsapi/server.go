package awsapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hydrant-dev/hydrant/ingest/auth"
	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/hydrant-dev/hydrant/shards"
)

// Stream is a Kinesis stream as the APIs see it.
type Stream struct {
	Name      string
	Log       *shards.Stream
	Retention time.Duration
	Created   time.Time
}

// Delivery is a Firehose delivery stream as the APIs see it.
type Delivery struct {
	Name    string
	Source  string         // the stream it reads; empty for DirectPut
	Log     *shards.Stream // DirectPut: the implicit stream puts go to
	Created time.Time
	// Destination describes where the delivery writes, for DescribeDeliveryStream.
	Destination Destination
	// Version is the delivery stream's version, which UpdateDestination
	// raises (0: 1, never updated).
	Version int
}

// Destination describes a delivery's destination in Firehose's terms.
type Destination struct {
	BucketARN         string // arn:aws:s3:::bucket, or file://dir for the file destination
	Prefix            string
	ErrorOutputPrefix string
	CompressionFormat string // UNCOMPRESSED | GZIP | ZSTD (Hydrant's names in Firehose form)
	SizeInMBs         int
	IntervalInSeconds int
	RetryDuration     time.Duration
	Processing        *Processing // a delivery stream created through the API: its ProcessingConfiguration
}

// Catalog is what the APIs need of the running system: the streams and
// deliveries that exist. Implementations are safe for concurrent use.
type Catalog interface {
	Stream(name string) (Stream, bool)
	Streams() []Stream // sorted by name
	Delivery(name string) (Delivery, bool)
	Deliveries() []Delivery // sorted by name
}

// Options configure the server.
type Options struct {
	Region         string // for ARNs when a request does not name one (default us-east-1)
	AccountID      string // for ARNs (default 000000000000)
	MaxRequestSize int    // bytes of one request body
	MaxRecordSize  int    // Firehose record limit (Kinesis allows at least 1 MiB)
	// Auth, when set, decides who may call: each request is authenticated
	// (before its body is read, as far as possible) and each operation is
	// authorized on the resource it is about.
	Auth Authenticator
	// IteratorKey signs shard iterators (HMAC-SHA256), so that a client
	// cannot forge or alter one. Nodes sharing a log must share the key;
	// nil: a random key of this process (iterators do not survive a
	// restart).
	IteratorKey []byte
	// Control, when set, serves the operations that create and delete
	// streams and delivery streams.
	Control Control
	// Metrics count puts per stream or delivery stream (api kinesis or
	// firehose) and time every put request (nil: kept on a registry of the
	// server's own that nobody reads).
	Metrics *metrics.Ingest
	Logger  *slog.Logger
	Now     func() time.Time
	// FanOut configures enhanced fan-out (stream consumers and
	// SubscribeToShard); the zero value is AWS's limits.
	FanOut FanOutOptions
	_      struct{}
}

// Server serves the Firehose and Kinesis APIs.
type Server struct {
	opts    Options
	catalog Catalog
	store   *shards.Store
	ops     map[string]operation
	// putTimes times the put operations, by X-Amz-Target.
	putTimes map[string]prometheus.Observer
	logger   *slog.Logger
	now      func() time.Time
	// iteratorKey signs shard iterators.
	iteratorKey []byte
	// settingsChanging makes this node's changes of resource settings (tags,
	// monitoring, encryption) take turns, so that only another node's can
	// lose a compare-and-set to them.
	settingsChanging sync.Mutex
	// fanout tracks the open SubscribeToShard event streams.
	fanout *fanout
}

// operation handles one X-Amz-Target.
type operation func(ctx context.Context, c *call) (any, *apiError)

// handle makes an operation of a handler that takes its decoded request;
// the request is authorized (Server.authorize) before the handler runs.
func handle[Req any](s *Server, h func(ctx context.Context, c *call, req *Req) (any, *apiError)) func(target string) operation {
	return func(target string) operation {
		return func(ctx context.Context, c *call) (any, *apiError) {
			var req Req
			if err := c.decode(&req); err != nil {
				return nil, err
			}
			if err := s.authorize(c, target, &req); err != nil {
				return nil, err
			}
			return h(ctx, c, &req)
		}
	}
}

// call is one request being served.
type call struct {
	r      *http.Request
	body   []byte
	codec  codec
	region string
	now    time.Time
	// principal sent the request; nil when no credentials are configured.
	principal *auth.Principal
}

// decode reads the request body into v.
func (c *call) decode(v any) *apiError {
	body := bytes.TrimSpace(c.body)
	if len(body) == 0 {
		return nil // an empty body is an empty request
	}
	isCBOR := c.codec.contentType == cborCodec.contentType
	if err := c.codec.unmarshal(c.body, v); err != nil {
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if errors.Is(err, io.ErrUnexpectedEOF) {
			msg = "cbor: the body ends inside the data it declares (unexpected EOF)"
		}
		// A client with the wrong Content-Type: say what the body looks like.
		switch {
		case isCBOR && body[0] == '{':
			msg += "; the body looks like JSON: send it as application/x-amz-json-1.1"
		case !isCBOR && body[0] >= 0xa0 && body[0] <= 0xbf: // a CBOR map
			msg += "; the body looks like CBOR: send it as application/x-amz-cbor-1.1"
		}
		return errSerialization("%s", msg)
	}
	// Go's JSON decoder takes invalid UTF-8 in a string and stores U+FFFD in
	// its place: a partition key other than the one sent.
	if !isCBOR && !utf8.Valid(body) {
		return errSerialization("the body is not valid JSON: it is not UTF-8 (record data goes base64-encoded in Data)")
	}
	return nil
}

// New returns a server over catalog and the shard log.
func New(catalog Catalog, store *shards.Store, opts Options) *Server {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.AccountID == "" {
		opts.AccountID = "000000000000"
	}
	if opts.MaxRequestSize <= 0 {
		opts.MaxRequestSize = 16 << 20
	}
	if opts.MaxRecordSize <= 0 {
		opts.MaxRecordSize = 1000 << 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewIngest(prometheus.NewRegistry())
	}
	if len(opts.IteratorKey) == 0 {
		opts.IteratorKey = make([]byte, 32)
		rand.Read(opts.IteratorKey) // never fails (crypto/rand)
	}
	opts.FanOut.setDefaults()
	kinesisTime := opts.Metrics.PutDuration.WithLabelValues(metrics.APIKinesis)
	firehoseTime := opts.Metrics.PutDuration.WithLabelValues(metrics.APIFirehose)
	s := &Server{opts: opts, catalog: catalog, store: store, logger: opts.Logger, now: opts.Now, iteratorKey: opts.IteratorKey,
		putTimes: map[string]prometheus.Observer{
			"Kinesis_20131202.PutRecord":       kinesisTime,
			"Kinesis_20131202.PutRecords":      kinesisTime,
			"Firehose_20150804.PutRecord":      firehoseTime,
			"Firehose_20150804.PutRecordBatch": firehoseTime,
		}, fanout: newFanout(opts.FanOut.Stop)}
	ops := map[string]func(target string) operation{
		"Firehose_20150804.PutRecord":                    handle(s, s.firehosePutRecord),
		"Firehose_20150804.PutRecordBatch":               handle(s, s.firehosePutRecordBatch),
		"Firehose_20150804.ListDeliveryStreams":          handle(s, s.listDeliveryStreams),
		"Firehose_20150804.DescribeDeliveryStream":       handle(s, s.describeDeliveryStream),
		"Kinesis_20131202.PutRecord":                     handle(s, s.kinesisPutRecord),
		"Kinesis_20131202.PutRecords":                    handle(s, s.kinesisPutRecords),
		"Kinesis_20131202.ListStreams":                   handle(s, s.listStreams),
		"Kinesis_20131202.DescribeStream":                handle(s, s.describeStream),
		"Kinesis_20131202.DescribeStreamSummary":         handle(s, s.describeStreamSummary),
		"Kinesis_20131202.ListShards":                    handle(s, s.listShards),
		"Kinesis_20131202.GetShardIterator":              handle(s, s.getShardIterator),
		"Kinesis_20131202.GetRecords":                    handle(s, s.getRecords),
		"Kinesis_20131202.CreateStream":                  handle(s, s.createStream),
		"Kinesis_20131202.DeleteStream":                  handle(s, s.deleteStream),
		"Kinesis_20131202.IncreaseStreamRetentionPeriod": handle(s, s.increaseRetention),
		"Kinesis_20131202.DecreaseStreamRetentionPeriod": handle(s, s.decreaseRetention),
		"Kinesis_20131202.SplitShard":                    handle(s, s.splitShard),
		"Kinesis_20131202.MergeShards":                   handle(s, s.mergeShards),
		"Kinesis_20131202.UpdateShardCount":              handle(s, s.updateShardCount),
		"Kinesis_20131202.UpdateStreamMode":              handle(s, s.updateStreamMode),
		"Firehose_20150804.CreateDeliveryStream":         handle(s, s.createDeliveryStream),
		"Firehose_20150804.DeleteDeliveryStream":         handle(s, s.deleteDeliveryStream),
		"Kinesis_20131202.RegisterStreamConsumer":        handle(s, s.registerStreamConsumer),
		"Kinesis_20131202.DescribeStreamConsumer":        handle(s, s.describeStreamConsumer),
		"Kinesis_20131202.ListStreamConsumers":           handle(s, s.listStreamConsumers),
		"Kinesis_20131202.DeregisterStreamConsumer":      handle(s, s.deregisterStreamConsumer),
		"Kinesis_20131202.SubscribeToShard":              handle(s, s.subscribeToShard),
		"Kinesis_20131202.AddTagsToStream":               handle(s, s.addTagsToStream),
		"Kinesis_20131202.RemoveTagsFromStream":          handle(s, s.removeTagsFromStream),
		"Kinesis_20131202.ListTagsForStream":             handle(s, s.listTagsForStream),
		"Kinesis_20131202.TagResource":                   handle(s, s.tagResource),
		"Kinesis_20131202.UntagResource":                 handle(s, s.untagResource),
		"Kinesis_20131202.ListTagsForResource":           handle(s, s.listTagsForResource),
		"Kinesis_20131202.DescribeLimits":                handle(s, s.describeLimits),
		"Kinesis_20131202.DescribeAccountSettings":       handle(s, s.describeAccountSettings),
		"Kinesis_20131202.EnableEnhancedMonitoring":      handle(s, s.enableEnhancedMonitoring),
		"Kinesis_20131202.DisableEnhancedMonitoring":     handle(s, s.disableEnhancedMonitoring),
		"Kinesis_20131202.StartStreamEncryption":         handle(s, s.startStreamEncryption),
		"Kinesis_20131202.StopStreamEncryption":          handle(s, s.stopStreamEncryption),
		"Firehose_20150804.TagDeliveryStream":            handle(s, s.tagDeliveryStream),
		"Firehose_20150804.UntagDeliveryStream":          handle(s, s.untagDeliveryStream),
		"Firehose_20150804.ListTagsForDeliveryStream":    handle(s, s.listTagsForDeliveryStream),
		"Firehose_20150804.UpdateDestination":            handle(s, s.updateDestination),
	}
	s.ops = make(map[string]operation, len(ops))
	for target, op := range ops {
		s.ops[target] = op(target)
	}
	return s
}

// ServeHTTP serves POST / requests of the AWS APIs. Put operations are
// timed from here, whatever their outcome.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if putTime, ok := s.putTimes[r.Header.Get("X-Amz-Target")]; ok {
		start := time.Now()
		defer func() { putTime.Observe(time.Since(start).Seconds()) }()
	}
	w.Header().Set("x-amzn-RequestId", uuid.NewString())
	c, aerr := s.newCall(w, r)
	if aerr == nil {
		target := r.Header.Get("X-Amz-Target")
		op, ok := s.ops[target]
		switch {
		case target == "":
			aerr = newError(http.StatusBadRequest, "UnknownOperationException",
				"no X-Amz-Target header: it names the operation, such as Kinesis_20131202.PutRecords")
		case !ok:
			aerr = newError(http.StatusBadRequest, "UnknownOperationException", "unknown operation %q", target)
		default:
			var resp any
			resp, aerr = op(r.Context(), c)
			if sr, ok := resp.(streamResponder); ok && aerr == nil {
				sr.respond(w) // an event stream
				return
			}
			if aerr == nil {
				s.write(w, c.codec, http.StatusOK, resp)
				return
			}
		}
	}
	if aerr.status >= 500 {
		s.logger.Error("AWS API request failed", "target", r.Header.Get("X-Amz-Target"), "error", aerr)
	}
	codec := jsonCodec
	if c != nil {
		codec = c.codec
	}
	w.Header().Set("x-amzn-ErrorType", aerr.typ)
	s.write(w, codec, aerr.status, errorBody{Type: aerr.typ, Message: aerr.message})
}

type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// newCall reads and authenticates the request.
func (s *Server) newCall(w http.ResponseWriter, r *http.Request) (*call, *apiError) {
	c := &call{r: r, codec: jsonCodec, region: s.opts.Region, now: s.now()}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	codec, ok := codecs[mt]
	if !ok {
		return c, errSerialization("Content-Type %q is not supported: use application/x-amz-json-1.1 or application/x-amz-cbor-1.1", r.Header.Get("Content-Type"))
	}
	c.codec = codec
	if region := signingRegion(r.Header.Get("Authorization")); region != "" {
		c.region = region
	}
	// Credentials first: a request without a usable one costs no body.
	if s.opts.Auth != nil {
		if e := s.opts.Auth.Precheck(r, auth.FamilyAWS); e != nil {
			return c, &apiError{status: e.Status, typ: e.Code, message: e.Message}
		}
	}
	if r.ContentLength > int64(s.opts.MaxRequestSize) {
		return c, errTooLarge(s.opts.MaxRequestSize)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.opts.MaxRequestSize)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return c, errTooLarge(s.opts.MaxRequestSize)
		}
		return c, errSerialization("reading the request body: %v", err)
	}
	c.body = body
	if s.opts.Auth != nil {
		p, e := s.opts.Auth.Authenticate(r, body, auth.FamilyAWS)
		if e != nil {
			return c, &apiError{status: e.Status, typ: e.Code, message: e.Message}
		}
		c.principal = p
	}
	return c, nil
}

// signingRegion returns the region of a SigV4 Authorization header's
// credential scope, or "".
func signingRegion(authz string) string {
	_, cred, ok := strings.Cut(authz, "Credential=")
	if !ok {
		return ""
	}
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[2]
}

func (s *Server) write(w http.ResponseWriter, c codec, status int, v any) {
	if sv, ok := v.(jsonStreamer); ok && c.contentType != cborCodec.contentType {
		w.Header().Set("Content-Type", c.contentType)
		w.WriteHeader(status)
		if err := writeStream(w, sv); err != nil {
			s.logger.Debug("write AWS API response", "error", err) // the client went away
		}
		return
	}
	body, err := c.marshal(v)
	if err != nil {
		s.logger.Error("encode AWS API response", "error", err)
		status = http.StatusInternalServerError
		body, _ = json.Marshal(errorBody{Type: "InternalFailure", Message: "could not encode the response"})
		c = jsonCodec
	}
	w.Header().Set("Content-Type", c.contentType)
	w.WriteHeader(status)
	w.Write(body)
}

// countPuts counts a put request to name that reached the shard log, and
// the records of it that were stored. name comes from the catalog, never
// from a request that named no stream.
func (s *Server) countPuts(name, api string, recs []shards.Record, results []shards.PutResult) {
	stored, bytes := 0, 0
	for i, res := range results {
		if res.Err == nil {
			stored++
			bytes += len(recs[i].Data)
		}
	}
	s.opts.Metrics.Puts(name, api).Count(stored, bytes)
}

// arn builds an ARN of this server's account.
func (s *Server) arn(service, region, resource string) string {
	return "arn:aws:" + service + ":" + region + ":" + s.opts.AccountID + ":" + resource
}

// nameFromARN returns the resource name of arn:...:kind/name.
func nameFromARN(arn, kind string) (string, bool) {
	i := strings.LastIndex(arn, ":"+kind+"/")
	if !strings.HasPrefix(arn, "arn:") || i < 0 {
		return "", false
	}
	return arn[i+len(kind)+2:], true
}
