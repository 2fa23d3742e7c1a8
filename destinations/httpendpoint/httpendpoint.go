package httpendpoint

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
)

// ErrorType is the error output type of records the endpoint did not
// accept within the retry duration, as Firehose names it.
const ErrorType = "http-endpoint-failed"

// ProtocolVersion is the version of the request and response formats.
const ProtocolVersion = "1.0"

// Header names of the specification.
const (
	HeaderProtocolVersion  = "X-Amz-Firehose-Protocol-Version"
	HeaderRequestID        = "X-Amz-Firehose-Request-Id"
	HeaderAccessKey        = "X-Amz-Firehose-Access-Key"
	HeaderCommonAttributes = "X-Amz-Firehose-Common-Attributes"
	HeaderSourceARN        = "X-Amz-Firehose-Source-Arn"
)

// MaxAccessKeyBytes is the longest access key Firehose sends.
const MaxAccessKeyBytes = 4096

// maxResponseBytes bounds the response body read; a longer one is a
// failed attempt (HttpEndpoint.ResponseTooLarge).
const maxResponseBytes = 1 << 20

// Config configures a destination.
type Config struct {
	URL       string // the endpoint, sent to as is
	AccessKey string // sent verbatim as X-Amz-Firehose-Access-Key; optional
	// CommonAttributes are sent with every request as
	// X-Amz-Firehose-Common-Attributes; optional.
	CommonAttributes map[string]string
	SourceARN        string // sent as X-Amz-Firehose-Source-Arn; optional
	Gzip             bool   // compress request bodies
	// MaxRequestBytes bounds a request's body before compression; 0 sends
	// each batch in one request, as Firehose sends its buffer.
	MaxRequestBytes int
	RequestTimeout  time.Duration // per request; default 3 minutes, as Firehose
	// Ledger, when set, remembers each shard's requests so that a batch
	// read again after a crash is sent as the same requests.
	Ledger Ledger
	// Retry bounds how long requests that failed are sent again, counted
	// from the first attempt; 0 means one attempt. Retry.Retries, when
	// set, counts each round of sending again.
	Retry destinations.RetryConfig

	Transport http.RoundTripper // optional; default a new http.Transport
	Logger    *slog.Logger      // optional
	Now       func() time.Time  // optional clock
}

// Destination posts batches to one HTTP endpoint.
type Destination struct {
	cfg        Config
	client     *http.Client
	attributes string // the common attributes header; "" when none
	backoff    destinations.Backoff
	logger     *slog.Logger
	gzips      sync.Pool // *gzip.Writer
	close      sync.Once
}

var _ destinations.Destination = (*Destination)(nil)

// New returns a destination; it does not contact the endpoint.
func New(cfg Config) (*Destination, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("httpendpoint: url must be an http:// or https:// URL")
	}
	if len(cfg.AccessKey) > MaxAccessKeyBytes {
		return nil, fmt.Errorf("httpendpoint: access key longer than %d bytes", MaxAccessKeyBytes)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 3 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	transport := cfg.Transport
	if transport == nil {
		transport = &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 16,
			IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second, ForceAttemptHTTP2: true}
	}
	d := &Destination{cfg: cfg, client: &http.Client{Transport: transport}, logger: logger,
		backoff: destinations.Backoff{Initial: cfg.Retry.InitialBackoff, Max: cfg.Retry.MaxBackoff}}
	if len(cfg.CommonAttributes) > 0 {
		b, err := json.Marshal(struct {
			CommonAttributes map[string]string `json:"commonAttributes"`
		}{cfg.CommonAttributes})
		if err != nil {
			return nil, fmt.Errorf("httpendpoint: common attributes: %w", err)
		}
		d.attributes = string(b)
	}
	return d, nil
}

// request is one request of a batch: records [from, to), its id and its
// body, built once and sent as is on every attempt.
type request struct {
	from, to int
	id       string
	body     []byte
	attempts int
	err      *destinations.DocumentError // of the last attempt
}

// Deliver posts the batch. It returns nil when the endpoint accepted every
// record, a *destinations.RecordErrors (type ErrorType, each failure a
// *destinations.DocumentError) for the records of requests still refused
// when the retry duration has passed, and ctx's error when ctx ended first:
// the batch must then be delivered again, with the same request ids.
// It retries by itself: do not wrap it in destinations.WithRetry.
func (d *Destination) Deliver(ctx context.Context, b *buffer.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	pending := d.requests(b)
	start := d.cfg.Now()
	var failed []*request
	for attempt := 1; len(pending) > 0; attempt++ {
		var waitFor error
		pending, waitFor = d.sendAll(ctx, pending)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if len(pending) == 0 {
			break
		}
		wait := d.backoff.Delay(attempt, waitFor)
		if d.cfg.Now().Sub(start)+wait > d.cfg.Retry.Duration {
			d.logger.Error("retry duration passed; records go to the error output", "shard", b.ShardID,
				"requests", len(pending), "attempts", attempt, "error", pending[0].err.Code)
			failed = pending
			break
		}
		d.logger.Warn("endpoint did not accept the request, retrying", "shard", b.ShardID,
			"requests", len(pending), "attempt", attempt, "wait", wait, "error", pending[0].err.Code,
			"request_id", pending[0].id)
		if err := destinations.Sleep(ctx, wait); err != nil {
			return err
		}
		d.cfg.Retry.CountRetry()
	}
	if len(failed) == 0 {
		return nil
	}
	re := &destinations.RecordErrors{Type: ErrorType, Code: failed[0].err.Code, Failed: map[int]error{}}
	for _, r := range failed {
		for i := r.from; i < r.to; i++ {
			re.Failed[i] = r.err
		}
	}
	return re
}

// sendAll makes one attempt at each request, in order, and returns those
// to send again and an error to size the wait by.
func (d *Destination) sendAll(ctx context.Context, reqs []*request) (retry []*request, waitFor error) {
	for _, r := range reqs {
		if ctx.Err() != nil {
			return append(retry, r), ctx.Err()
		}
		r.attempts++
		err := d.send(ctx, r)
		if err == nil {
			continue
		}
		var de *destinations.DocumentError
		if !errors.As(err, &de) {
			de = &destinations.DocumentError{Code: CodeConnectionFailed, Message: err.Error()}
		}
		de.Attempts = r.attempts
		r.err = de
		retry, waitFor = append(retry, r), err
	}
	return retry, waitFor
}

// Close releases idle connections; it is idempotent.
func (d *Destination) Close(context.Context) error {
	d.close.Do(d.client.CloseIdleConnections)
	return nil
}

// gzipBody compresses body with a pooled writer.
func (d *Destination) gzipBody(body []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(body) / 4)
	zw, _ := d.gzips.Get().(*gzip.Writer)
	if zw == nil {
		zw = gzip.NewWriter(&out)
	} else {
		zw.Reset(&out)
	}
	_, _ = zw.Write(body) // a bytes.Buffer does not fail
	_ = zw.Close()
	d.gzips.Put(zw)
	return out.Bytes()
}
