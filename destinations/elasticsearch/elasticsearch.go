package elasticsearch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
)

// ErrorType is the error output type of documents the server did not index.
const ErrorType = "elasticsearch-failed"

// Config configures a destination.
type Config struct {
	Flavor    string   // FlavorElasticsearch (default) or FlavorOpenSearch
	Endpoints []string // node URLs, e.g. http://127.0.0.1:9200
	Username  string   // basic auth, with Password
	Password  string
	APIKey    string // base64 "id:key", sent as Authorization: ApiKey
	CACert    []byte // PEM CAs to trust for https endpoints; nil: the system's
	// InsecureSkipVerify accepts any server certificate.
	InsecureSkipVerify bool

	Index      string // base index name
	Rotation   string // RotationNone (default), RotationHour, …
	DocumentID string // DocumentIDAuto (default), DocumentIDNone or a JSON pointer
	Action     string // ActionIndex (default) or ActionCreate
	Pipeline   string // ingest pipeline; optional
	Gzip       bool   // compress request bodies

	MaxBulkBytes   int           // largest bulk body before compression; default 10 MiB
	RequestTimeout time.Duration // per bulk request; default 60 s
	// Retry bounds how long items that failed for now are sent again,
	// counted from the first attempt; 0 means one attempt. Retry.Retries,
	// when set, counts each round of sending failed items again.
	Retry destinations.RetryConfig

	Transport http.RoundTripper // optional; default a new http.Transport
	Logger    *slog.Logger      // optional
	Now       func() time.Time  // optional clock
}

// Destination indexes batches with _bulk requests.
type Destination struct {
	cfg     Config
	client  client
	ids     idSource
	path    string // /_bulk?…
	backoff destinations.Backoff
	logger  *slog.Logger
	bodies  sync.Pool // *bytes.Buffer
	close   sync.Once
}

var _ destinations.Destination = (*Destination)(nil)

// New returns a destination; it does not contact the server.
func New(cfg Config) (*Destination, error) {
	if cfg.Index == "" {
		return nil, errors.New("elasticsearch: index is required")
	}
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("elasticsearch: at least one endpoint is required")
	}
	if cfg.Action == "" {
		cfg.Action = ActionIndex
	}
	if cfg.Action != ActionIndex && cfg.Action != ActionCreate {
		return nil, fmt.Errorf("elasticsearch: action must be index or create, not %q", cfg.Action)
	}
	if cfg.MaxBulkBytes <= 0 {
		cfg.MaxBulkBytes = 10 << 20
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ids, err := newIDSource(cfg.DocumentID)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
	c, err := newClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
	q := url.Values{"filter_path": {"errors,items.*.status,items.*.error"}}
	if cfg.Pipeline != "" {
		q.Set("pipeline", cfg.Pipeline)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Destination{
		cfg: cfg, client: c, ids: ids, path: "/_bulk?" + q.Encode(), logger: logger,
		backoff: destinations.Backoff{Initial: cfg.Retry.InitialBackoff, Max: cfg.Retry.MaxBackoff},
	}, nil
}

// Deliver indexes the batch. It returns nil when every record was indexed,
// a *destinations.RecordErrors (type ErrorType, each failure a
// *destinations.DocumentError) when some were not and retrying cannot help
// or the retry duration has passed, and ctx's error when ctx ended first —
// then the batch must be delivered again (ids keep that from duplicating).
// It retries by itself: do not wrap it in destinations.WithRetry.
func (d *Destination) Deliver(ctx context.Context, b *buffer.Batch) error {
	items, failed := d.prepare(b)
	start := d.cfg.Now()
	pending := items
	for attempt := 1; len(pending) > 0; attempt++ {
		var waitFor error
		pending, waitFor = d.send(ctx, pending)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if len(pending) == 0 {
			break
		}
		wait := d.backoff.Delay(attempt, waitFor)
		if d.cfg.Now().Sub(start)+wait > d.cfg.Retry.Duration {
			d.logger.Error("retry duration passed; documents go to the error output", "shard", b.ShardID,
				"documents", len(pending), "attempts", attempt, "error", pending[0].err.Code)
			break // pending items keep their last error
		}
		d.logger.Warn("bulk items failed, retrying them alone", "shard", b.ShardID, "documents", len(pending),
			"of", len(items), "attempt", attempt, "wait", wait, "error", pending[0].err.Code)
		if err := destinations.Sleep(ctx, wait); err != nil {
			return err
		}
		d.cfg.Retry.CountRetry()
	}
	for _, it := range items { // an item's error is cleared when it is sent again
		if it.err != nil {
			if failed == nil {
				failed = make(map[int]error)
			}
			failed[it.rec] = it.err
		}
	}
	if len(failed) > 0 {
		return &destinations.RecordErrors{Type: ErrorType, Code: "OS.BulkItemFailed", Failed: failed}
	}
	return nil
}

// send makes one attempt at every item, in bulk requests of at most
// MaxBulkBytes. It returns the items to try again and an error to size the
// wait by (a throttling error asks for at least its Retry-After). Items
// that failed for good keep their error and are not returned.
func (d *Destination) send(ctx context.Context, items []*item) (retry []*item, waitFor error) {
	queue := chunks(items, d.cfg.MaxBulkBytes)
	for len(queue) > 0 && ctx.Err() == nil {
		chunk := queue[0]
		queue = queue[1:]
		for _, it := range chunk {
			it.attempts++
			it.err = nil
		}
		status, body, err := d.bulk(ctx, chunk)
		switch {
		case err != nil:
			failAll(chunk, "ConnectionFailed", err.Error())
			retry, waitFor = append(retry, chunk...), err
		case status == http.StatusOK:
			results, err := itemResults(body, len(chunk))
			if err != nil {
				failAll(chunk, "MalformedResponse", err.Error())
				retry, waitFor = append(retry, chunk...), err
				continue
			}
			retry = append(retry, d.classify(chunk, results)...)
		case (status == http.StatusRequestEntityTooLarge || status == http.StatusBadRequest) && len(chunk) > 1:
			// Something in the request is refused: halve it until the
			// document that is stands alone; the halves count as this attempt.
			for _, it := range chunk {
				it.attempts--
			}
			half := len(chunk) / 2
			queue = append([][]*item{chunk[:half], chunk[half:]}, queue...)
		case status == http.StatusRequestEntityTooLarge || status == http.StatusBadRequest:
			failAll(chunk, strconv.Itoa(status), serverError(status, body))
		default: // 429, 5xx, and 401/403/404 that a fixed setting or a started node cures
			failAll(chunk, strconv.Itoa(status), serverError(status, body))
			retry = append(retry, chunk...)
			waitFor = errors.New(serverError(status, body))
			if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
				waitFor = destinations.Throttled(waitFor, 0)
			}
		}
	}
	return retry, waitFor
}

// classify applies a bulk response's item results to a chunk and returns
// the items to send again.
func (d *Destination) classify(chunk []*item, results []bulkItem) (retry []*item) {
	if results == nil {
		return nil // every item succeeded
	}
	for i, r := range results {
		it := chunk[i]
		switch {
		case r.Status >= 200 && r.Status < 300:
		case r.Status == http.StatusConflict && d.cfg.Action == ActionCreate && d.ids.mode == DocumentIDAuto:
			// The id is this record's own: an earlier attempt indexed it.
		case retryable(r.Status, r.Error):
			it.fail(code(r.Status, r.Error), itemMessage(r))
			retry = append(retry, it)
		default:
			it.fail(code(r.Status, r.Error), itemMessage(r))
		}
	}
	return retry
}

func itemMessage(r bulkItem) string {
	if r.Error == nil {
		return fmt.Sprintf("HTTP %d", r.Status)
	}
	return fmt.Sprintf("HTTP %d: %s", r.Status, r.Error)
}

func failAll(chunk []*item, code, msg string) {
	for _, it := range chunk {
		it.fail(code, msg)
	}
}

// bulk sends one _bulk request for chunk and returns the status and body.
func (d *Destination) bulk(ctx context.Context, chunk []*item) (int, []byte, error) {
	buf, _ := d.bodies.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() { buf.Reset(); d.bodies.Put(buf) }()
	for _, it := range chunk {
		buf.Write(it.line)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.path, bytes.NewReader(buf.Bytes()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := d.client.Perform(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the bulk response: %w", err)
	}
	return resp.StatusCode, body, nil
}

// Close releases the client's connections.
func (d *Destination) Close(ctx context.Context) error {
	var err error
	d.close.Do(func() { err = d.client.Close(ctx) })
	return err
}
