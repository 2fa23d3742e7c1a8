package httpendpoint

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
)

// Error codes of failed attempts, as Firehose writes them in errorCode.
const (
	CodeDestinationException = "HttpEndpoint.DestinationException"           // an answer other than 200
	CodeInvalidResponse      = "HttpEndpoint.InvalidResponseFromDestination" // 200 without the JSON or the request id
	CodeRequestTimeout       = "HttpEndpoint.RequestTimeout"
	CodeConnectionFailed     = "HttpEndpoint.ConnectionFailed"
	CodeResponseTooLarge     = "HttpEndpoint.ResponseTooLarge"
)

// requestNamespace scopes the name-based request ids to Hydrant's.
var requestNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/hydrant-dev/hydrant/http-endpoint"))

// RequestID returns the id of the request that carries records [from, to)
// of b: the same for the same records of the same delivery and shard.
func RequestID(b *buffer.Batch, from, to int) string {
	first, last := b.Records[from], b.Records[to-1]
	name := make([]byte, 0, 96)
	name = append(name, b.Delivery...)
	name = append(name, 0)
	name = append(name, b.ShardID...)
	name = append(name, 0)
	for _, v := range []uint64{first.Sequence, uint64(first.SubSequence), last.Sequence, uint64(last.SubSequence), uint64(to - from)} {
		name = strconv.AppendUint(name, v, 10)
		name = append(name, '/')
	}
	return uuid.NewSHA1(requestNamespace, name).String()
}

// recordOverhead is the body bytes of one record besides its base64 data:
// {"data":""} and a comma.
const recordOverhead = len(`{"data":""},`)

// bodyOverhead bounds the body bytes besides the records.
const bodyOverhead = len(`{"requestId":"00000000-0000-0000-0000-000000000000","timestamp":,"records":[]}`) + 20

// requests cuts b into requests — at the requests the ledger remembers
// where the batch holds their records, else of at most MaxRequestBytes (a
// record larger than that goes alone) — notes the new ones in the ledger
// and builds their bodies, all with one timestamp. The ledger is a hint:
// when it fails the batch is sent all the same (a later re-read may then
// carry other ids).
func (d *Destination) requests(b *buffer.Batch) []*request {
	var known []Span
	if d.cfg.Ledger != nil {
		var err error
		if known, err = d.cfg.Ledger.Spans(b.ShardID); err != nil {
			d.logger.Warn("request ledger unreadable; cutting the batch afresh", "shard", b.ShardID, "error", err)
		}
	}
	seen := make(map[Span]bool, len(known))
	for _, s := range known {
		seen[s] = true
	}
	now := d.cfg.Now().UnixMilli()
	var (
		out   []*request
		fresh []Span
	)
	for _, rng := range cut(b.Records, known, d.cfg.MaxRequestBytes) {
		if s := spanOf(b.Records[rng[0]:rng[1]]); !seen[s] {
			fresh = append(fresh, s)
		}
		out = append(out, d.newRequest(b, rng[0], rng[1], now))
	}
	if d.cfg.Ledger != nil && len(fresh) > 0 {
		if err := d.cfg.Ledger.Add(b.ShardID, fresh); err != nil {
			d.logger.Warn("request ledger not written; a re-read may send other ids", "shard", b.ShardID, "error", err)
		}
	}
	return out
}

func (d *Destination) newRequest(b *buffer.Batch, from, to int, now int64) *request {
	size := bodyOverhead
	for _, r := range b.Records[from:to] {
		size += recordOverhead + base64.StdEncoding.EncodedLen(len(r.Data))
	}
	r := &request{from: from, to: to, id: RequestID(b, from, to)}
	r.body = AppendBody(make([]byte, 0, size), r.id, now, b.Records[from:to])
	if d.cfg.Gzip {
		r.body = d.gzipBody(r.body)
	}
	return r
}

// AppendBody appends the request body of records to dst.
func AppendBody(dst []byte, id string, timestamp int64, records []buffer.Record) []byte {
	dst = append(dst, `{"requestId":"`...)
	dst = append(dst, id...) // a UUID: nothing to escape
	dst = append(dst, `","timestamp":`...)
	dst = strconv.AppendInt(dst, timestamp, 10)
	dst = append(dst, `,"records":[`...)
	for i, r := range records {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"data":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, r.Data)
		dst = append(dst, `"}`...)
	}
	return append(dst, "]}"...)
}

// Response is the endpoint's answer body.
type Response struct {
	RequestID    string `json:"requestId"`
	Timestamp    int64  `json:"timestamp"`
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// send makes one attempt at r. A failure is a *destinations.DocumentError,
// wrapped as throttling when the endpoint asked to slow down.
func (d *Destination) send(ctx context.Context, r *request) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(r.body))
	if err != nil {
		return &destinations.DocumentError{Code: CodeConnectionFailed, Message: err.Error()}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	if d.cfg.Gzip {
		h.Set("Content-Encoding", "gzip")
	}
	h.Set(HeaderProtocolVersion, ProtocolVersion)
	h.Set(HeaderRequestID, r.id)
	if d.cfg.AccessKey != "" {
		h.Set(HeaderAccessKey, d.cfg.AccessKey)
	}
	if d.attributes != "" {
		h.Set(HeaderCommonAttributes, d.attributes)
	}
	if d.cfg.SourceARN != "" {
		h.Set(HeaderSourceARN, d.cfg.SourceARN)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return &destinations.DocumentError{Code: CodeRequestTimeout,
				Message: fmt.Sprintf("no response within %s", d.cfg.RequestTimeout)}
		}
		return &destinations.DocumentError{Code: CodeConnectionFailed, Message: redactURL(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			return &destinations.DocumentError{Code: CodeRequestTimeout,
				Message: fmt.Sprintf("no complete response within %s", d.cfg.RequestTimeout)}
		}
		return &destinations.DocumentError{Code: CodeConnectionFailed, Message: "reading the response: " + err.Error()}
	}
	return checkResponse(resp, body, r.id)
}

// checkResponse maps an answer to nil (accepted) or the attempt's error.
func checkResponse(resp *http.Response, body []byte, id string) error {
	if len(body) > maxResponseBytes {
		return &destinations.DocumentError{Code: CodeResponseTooLarge,
			Message: fmt.Sprintf("HTTP %d with a response body over %d bytes", resp.StatusCode, maxResponseBytes)}
	}
	if resp.StatusCode != http.StatusOK {
		de := &destinations.DocumentError{Code: CodeDestinationException,
			Message: fmt.Sprintf("The following response was received from the endpoint destination. %d: %s",
				resp.StatusCode, truncate(body, 512))}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			return throttled{de, retryAfter(resp.Header.Get("Retry-After"))}
		}
		return de
	}
	var answer Response
	if err := json.Unmarshal(body, &answer); err != nil {
		return &destinations.DocumentError{Code: CodeInvalidResponse,
			Message: fmt.Sprintf("HTTP 200 whose body is not the response JSON (%v): %s", err, truncate(body, 512))}
	}
	if answer.RequestID != id {
		return &destinations.DocumentError{Code: CodeInvalidResponse,
			Message: fmt.Sprintf("HTTP 200 for request %s answered with requestId %q", id, truncate([]byte(answer.RequestID), 64))}
	}
	return nil
}

// throttled is a failed attempt after which the endpoint asked to wait.
type throttled struct {
	*destinations.DocumentError
	after time.Duration
}

func (t throttled) Unwrap() []error {
	return []error{t.DocumentError, destinations.Throttled(t.DocumentError, t.after)}
}

// retryAfter reads a Retry-After header in seconds; 0 when absent or a
// date.
func retryAfter(v string) time.Duration {
	s, err := strconv.Atoi(v)
	if err != nil || s < 0 {
		return 0
	}
	return min(time.Duration(s)*time.Second, 5*time.Minute)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// redactURL drops the URL from a client error: it may hold credentials in
// its user info or query.
func redactURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}
