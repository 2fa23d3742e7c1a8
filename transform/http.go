package transform

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/internal/retry"
)

// Limits of the Lambda contract, and the transform's defaults.
const (
	httpMaxPayload     = 6 << 20                 // Lambda's invocation limit, each way
	httpMaxResponse    = httpMaxPayload + 64<<10 // a larger response is a bad response
	httpDefaultBuffer  = 1 << 20                 // Firehose's BufferSizeInMBs default
	httpDefaultTimeout = 60 * time.Second        // per invocation
	httpDefaultRetries = 3                       // Firehose's NumberOfRetries default
	httpMaxRetries     = 300                     // Firehose's NumberOfRetries maximum
	httpInitialBackoff = 200 * time.Millisecond  // before the first retry
	httpMaxBackoff     = 5 * time.Second         // between any two attempts
	httpErrorSnippet   = 256                     // bytes of a non-200 body kept in messages
	httpInvocationLen  = len("00000000-0000-4000-8000-000000000000")
)

// Error codes of ProcessingFailed outputs, as Firehose writes them to
// processing-failed/ objects.
const (
	httpCodeProcessingFailed = "Lambda.ProcessingFailed" // the function said so
	httpCodeMissingRecordID  = "Lambda.MissingRecordId"  // the response has no result for the record
	httpCodeInvalidResponse  = "Lambda.InvalidResponse"  // the record's result breaks the contract
	httpCodeInvokeFailed     = "Lambda.InvokeFailed"     // no usable response after every retry
)

// httpTransform sends records to an HTTP endpoint that implements Firehose's
// Lambda transformation contract. It is immutable once built and safe for
// concurrent use.
type httpTransform struct {
	url        string
	headers    http.Header // sent with every request; values are never logged
	bufferSize int         // most record data bytes per invocation
	timeout    time.Duration
	retries    int // attempts after the first failure
	backoff    retry.Backoff
	client     *http.Client
	arn        string
	region     string
	envelope   int // request JSON bytes outside the records array's elements
	logger     *slog.Logger
}

// NewHTTP builds http: it runs records through a Firehose Lambda data
// transformation served at a URL, so existing transformation code works
// unchanged behind any HTTP server. Options:
//
//	url:         required; the http or https endpoint that is POSTed each invocation
//	buffer_size: most record data per invocation (default 1MiB, as BufferSizeInMBs);
//	             a request is also kept under Lambda's 6MiB, base64 included
//	timeout:     per invocation (default 60s)
//	retries:     attempts after a failed invocation (default 3, as NumberOfRetries)
//	headers:     a mapping of header names to values, e.g. for authentication
//
// An invocation fails when the endpoint answers other than 200 with the
// contract's JSON, cannot be reached, or does not answer within timeout; it
// is then retried with exponential backoff, and after the last retry its
// records are ProcessingFailed with error code Lambda.InvokeFailed. A
// response that breaks the contract for some records (a missing, unknown or
// repeated recordId, an unknown result, bad base64) fails only those.
// Redirects are not followed, so headers never reach another host.
func NewHTTP(env Env, options map[string]any) (Transform, error) {
	o := NewOptions(options)
	o.Required("url")
	rawURL := o.String("url", "")
	bufferSize := o.Size("buffer_size", httpDefaultBuffer)
	timeout := o.Duration("timeout", httpDefaultTimeout)
	retries := o.Int("retries", httpDefaultRetries)
	headers := o.StringMap("headers")

	if s, isString := options["url"].(string); isString {
		if err := httpCheckURL(s); err != nil {
			o.Fail("url", "%v", err)
		}
	}
	if bufferSize <= 0 || bufferSize > httpMaxPayload {
		o.Fail("buffer_size", "must be between 1B and 6MiB (the invocation limit), got %d bytes", bufferSize)
	}
	if timeout <= 0 {
		o.Fail("timeout", "must be positive, got %v", timeout)
	}
	if retries < 0 || retries > httpMaxRetries {
		o.Fail("retries", "must be between 0 and %d, got %d", httpMaxRetries, retries)
	}
	header := httpHeaders(o, headers)
	if err := o.Err(); err != nil {
		return nil, err
	}

	u, _ := url.Parse(rawURL) // checked above
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	arn, _ := json.Marshal(env.DeliveryARN)
	region, _ := json.Marshal(env.Region)
	return &httpTransform{
		url:        rawURL,
		headers:    header,
		bufferSize: bufferSize,
		timeout:    timeout,
		retries:    retries,
		backoff:    retry.Backoff{Initial: httpInitialBackoff, Max: httpMaxBackoff},
		client: &http.Client{
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		arn:    env.DeliveryARN,
		region: env.Region,
		envelope: len(`{"invocationId":"","deliveryStreamArn":,"region":,"records":[]}`) +
			httpInvocationLen + len(arn) + len(region),
		// Only the scheme, host and path: userinfo and query may hold secrets.
		logger: logger.With("transform", "http", "delivery", env.Delivery,
			"endpoint", u.Scheme+"://"+u.Host+u.Path),
	}, nil
}

// httpCheckURL says what is wrong with an endpoint URL, without repeating it:
// it may hold credentials.
func httpCheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("must be an http or https URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("must be an http or https URL, got scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("must be an http or https URL with a host")
	}
	return nil
}

// httpReserved are headers the transform sets itself.
var httpReserved = []string{"Content-Length", "Content-Type", "Host", "Transfer-Encoding"}

// httpHeaders checks the headers option, reporting problems without values.
func httpHeaders(o *Options, headers map[string]string) http.Header {
	h := make(http.Header, len(headers))
	names := make([]string, 0, len(headers))
	for name := range headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		path := "headers." + name
		canonical := http.CanonicalHeaderKey(name)
		switch {
		case !httpIsToken(name):
			o.Fail(path, "not a valid header name")
		case slices.Contains(httpReserved, canonical):
			o.Fail(path, "is set by the transform")
		case strings.ContainsAny(headers[name], "\r\n\x00"):
			o.Fail(path, "the value must not contain CR, LF or NUL")
		case h.Get(name) != "":
			o.Fail(path, "given twice (header names are case-insensitive)")
		default:
			h.Set(name, headers[name])
		}
	}
	return h
}

// httpIsToken reports whether s is an RFC 9110 token, as header names are.
func httpIsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// Process sends recs in invocations of at most buffer_size data bytes, one
// after another. It returns an error only when ctx ends.
func (t *httpTransform) Process(ctx context.Context, recs []buffer.Record) ([]Output, error) {
	out := make([]Output, len(recs))
	for start := 0; start < len(recs); {
		end := t.nextInvocation(recs, start)
		if err := t.invoke(ctx, recs, start, end, out[start:end]); err != nil {
			return nil, err
		}
		start = end
	}
	return out, nil
}

// nextInvocation returns the end of the invocation that starts at recs[start]:
// as many records as fit buffer_size and the request limit, and at least one.
func (t *httpTransform) nextInvocation(recs []buffer.Record, start int) int {
	data, size := 0, t.envelope
	end := start
	for ; end < len(recs); end++ {
		n := len(recs[end].Data)
		rs := httpRecordSize(recs[end], end)
		if end > start {
			rs++ // the comma before it
			if data+n > t.bufferSize || size+rs > httpMaxPayload {
				break
			}
		}
		data, size = data+n, size+rs
	}
	return end
}

// httpRecordSize returns the JSON bytes request encodes recs[i] as.
func httpRecordSize(r buffer.Record, i int) int {
	var digits [20]byte
	return len(`{"recordId":"-","approximateArrivalTimestamp":,"data":""}`) +
		len(strconv.AppendUint(digits[:0], r.Sequence, 10)) + len(strconv.AppendInt(digits[:0], int64(i), 10)) +
		len(strconv.AppendInt(digits[:0], r.Arrival.UnixMilli(), 10)) + base64.StdEncoding.EncodedLen(len(r.Data))
}

// invoke runs recs[start:end] through the endpoint, retrying failed
// attempts, and fills out. It returns an error only when ctx ends.
func (t *httpTransform) invoke(ctx context.Context, recs []buffer.Record, start, end int, out []Output) error {
	ids, body, err := t.request(recs, start, end)
	if err != nil {
		for i := range out {
			out[i] = Output{Result: ProcessingFailed, ErrorCode: httpCodeInvokeFailed, ErrorMessage: err.Error()}
		}
		return nil
	}
	for attempt := 1; attempt <= t.retries+1; attempt++ {
		if attempt > 1 {
			wait := t.backoff.Delay(attempt-1, err)
			t.logger.Warn("invocation failed, retrying", "records", len(ids), "attempt", attempt-1,
				"wait", wait, "error", err)
			if err := retry.Sleep(ctx, wait); err != nil {
				return err
			}
		}
		var resp *httpResponse
		resp, err = t.post(ctx, body)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			t.apply(resp, ids, out)
			return nil
		}
	}
	t.logger.Warn("invocation failed, giving up", "records", len(ids), "attempts", t.retries+1, "error", err)
	msg := fmt.Sprintf("after %d attempts: %v", t.retries+1, err)
	for i := range out {
		out[i] = Output{Result: ProcessingFailed, ErrorCode: httpCodeInvokeFailed, ErrorMessage: msg}
	}
	return nil
}

// httpRequest is the Lambda transformation event.
type httpRequest struct {
	InvocationID      string              `json:"invocationId"`
	DeliveryStreamARN string              `json:"deliveryStreamArn"`
	Region            string              `json:"region"`
	Records           []httpRequestRecord `json:"records"`
}

type httpRequestRecord struct {
	RecordID string `json:"recordId"`
	Arrival  int64  `json:"approximateArrivalTimestamp"` // epoch milliseconds
	Data     []byte `json:"data"`                        // base64 by encoding/json
}

// request encodes the event for recs[start:end]. A record's id is its
// sequence number and its index in recs, "<sequence>-<index>", unique within
// the batch. Retries resend the same body, invocationId included, so an
// endpoint can recognise them.
func (t *httpTransform) request(recs []buffer.Record, start, end int) ([]string, []byte, error) {
	req := httpRequest{
		InvocationID:      httpInvocationID(),
		DeliveryStreamARN: t.arn,
		Region:            t.region,
		Records:           make([]httpRequestRecord, 0, end-start),
	}
	ids := make([]string, 0, end-start)
	for i := start; i < end; i++ {
		r := recs[i]
		id := strconv.FormatUint(r.Sequence, 10) + "-" + strconv.Itoa(i)
		ids = append(ids, id)
		data := r.Data
		if data == nil {
			data = []byte{} // "", not null
		}
		req.Records = append(req.Records, httpRequestRecord{RecordID: id, Arrival: r.Arrival.UnixMilli(), Data: data})
	}
	body, err := json.Marshal(req)
	if err != nil { // strings, numbers and bytes always encode; never panic on it
		return nil, nil, fmt.Errorf("encoding the invocation: %w", err)
	}
	return ids, body, nil
}

// httpInvocationID returns a random (version 4) UUID.
func httpInvocationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// httpResponse is the Lambda transformation result.
type httpResponse struct {
	Records []httpResponseRecord `json:"records"`
}

type httpResponseRecord struct {
	RecordID string `json:"recordId"`
	Result   string `json:"result"`
	Data     string `json:"data"`
	Metadata struct {
		PartitionKeys map[string]string `json:"partitionKeys"`
	} `json:"metadata"`
}

// post makes one attempt at an invocation. Any error means the whole
// invocation may be retried.
func (t *httpTransform) post(ctx context.Context, body []byte) (*httpResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = t.headers.Clone()
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, t.attemptError(ctx, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, httpMaxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", t.attemptError(ctx, err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, httpSnippet(raw))
	}
	if len(raw) > httpMaxResponse {
		return nil, fmt.Errorf("the response is larger than %d bytes", httpMaxResponse)
	}
	var r httpResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("the response is not a transformation result: %v", err)
	}
	if r.Records == nil {
		return nil, errors.New(`the response is not a transformation result: no "records" array`)
	}
	return &r, nil
}

// attemptError makes a transport error readable: it drops the URL, which may
// hold credentials, and names a timeout as such.
func (t *httpTransform) attemptError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no response within %v", t.timeout)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// httpSnippet returns the start of a response body for an error message.
func httpSnippet(raw []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(raw[:min(len(raw), httpErrorSnippet)]), "?"))
	if len(raw) > httpErrorSnippet {
		s += "…"
	}
	if s == "" {
		return "(empty body)"
	}
	return s
}

// apply maps a response's records back to the invocation's by recordId and
// fills out. Records the response breaks the contract for are
// ProcessingFailed; the rest keep their results.
func (t *httpTransform) apply(resp *httpResponse, ids []string, out []Output) {
	index := make(map[string]int, len(ids))
	for i, id := range ids {
		index[id] = i
	}
	seen := make([]int, len(ids))
	var unknown, invalid int
	for _, rr := range resp.Records {
		i, ok := index[rr.RecordID]
		if !ok {
			unknown++
			continue
		}
		seen[i]++
		if seen[i] > 1 {
			out[i] = Output{Result: ProcessingFailed, ErrorCode: httpCodeInvalidResponse,
				ErrorMessage: fmt.Sprintf("recordId %q appears %d times in the response", rr.RecordID, seen[i])}
			continue
		}
		out[i] = httpOutput(rr)
		if out[i].ErrorCode == httpCodeInvalidResponse {
			invalid++
		}
	}
	var missing, repeated int
	for i, n := range seen {
		switch {
		case n == 0:
			missing++
			out[i] = Output{Result: ProcessingFailed, ErrorCode: httpCodeMissingRecordID,
				ErrorMessage: fmt.Sprintf("the response has no result for recordId %q", ids[i])}
		case n > 1:
			repeated++
		}
	}
	if missing+repeated+unknown+invalid > 0 {
		t.logger.Warn("response breaks the transformation contract", "records", len(ids),
			"missing_ids", missing, "repeated_ids", repeated, "unknown_ids", unknown, "invalid_results", invalid)
	}
}

// httpOutput converts one response record.
func httpOutput(rr httpResponseRecord) Output {
	switch rr.Result {
	case "Ok":
		data, err := base64.StdEncoding.DecodeString(rr.Data)
		if err != nil {
			return Output{Result: ProcessingFailed, ErrorCode: httpCodeInvalidResponse,
				ErrorMessage: fmt.Sprintf("the data of recordId %q is not valid base64: %v", rr.RecordID, err)}
		}
		o := Output{Result: Ok, Data: data}
		if len(rr.Metadata.PartitionKeys) > 0 {
			o.PartitionKeys = rr.Metadata.PartitionKeys
			return checkPartitionKeys(o, httpCodeInvalidResponse)
		}
		return o
	case "Dropped":
		return Output{Result: Dropped}
	case "ProcessingFailed":
		return Output{Result: ProcessingFailed, ErrorCode: httpCodeProcessingFailed,
			ErrorMessage: fmt.Sprintf("the transformation returned ProcessingFailed for recordId %q", rr.RecordID)}
	}
	result := rr.Result
	if len(result) > 64 {
		result = result[:64]
		for !utf8.ValidString(result) {
			result = result[:len(result)-1]
		}
		result += "…"
	}
	return Output{Result: ProcessingFailed, ErrorCode: httpCodeInvalidResponse,
		ErrorMessage: fmt.Sprintf("recordId %q has result %q; want Ok, Dropped or ProcessingFailed", rr.RecordID, result)}
}
