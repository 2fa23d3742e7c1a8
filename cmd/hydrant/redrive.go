package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/destinations/file"
	"github.com/hydrant-dev/hydrant/destinations/s3"
	"github.com/hydrant-dev/hydrant/ingest"
	"github.com/hydrant-dev/hydrant/ingest/auth"
	"github.com/hydrant-dev/hydrant/redrive"
	"github.com/hydrant-dev/hydrant/transform"
)

// redriveRequest is POST /v1/deliveries/{name}/redrive's JSON body; every
// field is optional.
//
//	{"from": "2026-12-01T00:00:00Z", "to": "2026-12-02T00:00:00Z", "type": "postgres-failed"}
//
// from and to (RFC 3339) select error objects by their earliest record's
// arrival, in [from, to); type selects one error output type.
type redriveRequest struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	Type string    `json:"type"`
}

// redriveResponse is POST /v1/deliveries/{name}/redrive's answer:
//
//	{"objects": 3, "records": 40, "delivered": 38, "dropped": 0, "failed": 2, "skipped": 5, "skipped_busy": 0, "node": "a"}
//
// objects and records were redriven; delivered landed in the destination;
// dropped the transform dropped; failed failed again and are in the error
// output again (as new error objects); skipped error objects were done by
// an earlier redrive, skipped_busy are being redriven by another node.
// node is the answering node: error outputs in its data dir are its own.
type redriveResponse struct {
	redrive.Result
	Node string `json:"node"`
}

// GET /v1/deliveries/{name}/errors?type=&from=&to=&limit= answers
// errorsResponse: the failed records, as redrive.Entry.
type errorsResponse struct {
	Errors    []redrive.Entry `json:"errors"`
	Truncated bool            `json:"truncated"` // more matched than limit
	Node      string          `json:"node"`      // the answering node
}

// Bounds of GET /v1/deliveries/{name}/errors's limit.
const (
	defaultErrorsLimit = 100
	maxErrorsLimit     = 10000
)

// redriver serves the redrive and error-listing endpoints of the config's
// deliveries; one redrive of a delivery runs at a time.
type redriver struct {
	// lookup returns a delivery's current config: a redrive runs through
	// the transforms and destination it names at the time.
	lookup func(name string) (config.DeliveryConfig, bool)
	env    deliveryEnv
	// node is this node's name: in the redrive markers it writes, and in
	// the answers (a node sees its own data dir's error output only).
	node string
	mu   sync.Mutex
	// running holds the deliveries being redriven.
	running map[string]bool
}

// withRedrive serves POST /v1/deliveries/{name}/redrive (hydrant:RedriveDelivery)
// and GET /v1/deliveries/{name}/errors (hydrant:ListDeliveryErrors) beside h.
// lookup returns a delivery's current config.
func withRedrive(h http.Handler, lookup func(name string) (config.DeliveryConfig, bool), env deliveryEnv,
	authn *auth.Authenticator) http.Handler {
	rd := &redriver{lookup: lookup, env: env, node: nodeName(env.board), running: map[string]bool{}}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/deliveries/{name}/redrive", ingest.RequireActionOn(authn, auth.ActionRedriveDelivery, deliveryARN, 1<<16, http.HandlerFunc(rd.serveRedrive)))
	mux.Handle("GET /v1/deliveries/{name}/errors", ingest.RequireActionOn(authn, auth.ActionListDeliveryErrors, deliveryARN, 0, http.HandlerFunc(rd.serveErrors)))
	mux.Handle("/", h)
	return mux
}

// deliveryARN is the delivery stream ARN of the delivery r's path names:
// what a redrive and the error listing are authorized on.
func deliveryARN(r *http.Request) string {
	return "arn:aws:firehose:" + awsRegion + ":" + awsAccountID + ":deliverystream/" + r.PathValue("name")
}

// nodeName is this node's name: its cluster name, or the host name.
func nodeName(board *statusBoard) string {
	if board != nil && board.cluster != nil {
		return board.cluster.Self().Name
	}
	host, _ := os.Hostname()
	return host
}

// delivery returns the config of a delivery as it runs now (after the
// last reload), for the redrive.
func (l *live) delivery(name string) (config.DeliveryConfig, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return configDeliveries(l.cfg)(name)
}

// configDeliveries looks deliveries up in cfg.
func configDeliveries(cfg *config.Config) func(name string) (config.DeliveryConfig, bool) {
	return func(name string) (config.DeliveryConfig, bool) {
		for _, d := range cfg.Deliveries {
			if d.Name == name {
				return d, true
			}
		}
		return config.DeliveryConfig{}, false
	}
}

func (rd *redriver) serveRedrive(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	d, ok := rd.lookup(name)
	if !ok {
		writeJSONError(w, http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf("no delivery %q in the config", name))
		return
	}
	var req redriveRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "InvalidArgumentException", "body: want {\"from\": RFC 3339, \"to\": RFC 3339, \"type\": error type}: "+err.Error())
		return
	}
	rd.mu.Lock()
	if rd.running[name] {
		rd.mu.Unlock()
		writeJSONError(w, http.StatusConflict, "ResourceInUseException", "a redrive of "+name+" is running; try again when it is done")
		return
	}
	rd.running[name] = true
	rd.mu.Unlock()
	defer func() { rd.mu.Lock(); delete(rd.running, name); rd.mu.Unlock() }()

	// A redrive may run longer than the server's write timeout: the
	// caller waits for it (and stops it by going away).
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	logger := rd.env.logger.With("delivery", name)
	start := time.Now()
	res, err := rd.redrive(r.Context(), d, redrive.Filter{Type: req.Type, From: req.From, To: req.To}, logger)
	if err != nil {
		logger.Error("redrive stopped", "objects", res.Objects, "error", err)
		advice := "; what was redriven is marked: run the redrive again to go on"
		if destinations.IsPermanent(err) {
			advice = " (not retryable as it is); what was redriven is marked: fix the cause, then run the redrive again"
		}
		writeJSONError(w, http.StatusInternalServerError, "RedriveFailed", err.Error()+advice)
		return
	}
	logger.Info("redrive done", "objects", res.Objects, "records", res.Records, "delivered", res.Delivered,
		"dropped", res.Dropped, "failed", res.Failed, "skipped", res.Skipped, "skipped_busy", res.SkippedBusy, "took", time.Since(start))
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(redriveResponse{Result: res, Node: rd.node})
}

// redrive builds the delivery's transforms and destination from its
// current config and runs the redrive through them.
func (rd *redriver) redrive(ctx context.Context, d config.DeliveryConfig, filter redrive.Filter, logger *slog.Logger) (redrive.Result, error) {
	place, prefix, err := errorPlace(d, rd.env.dataDir)
	if err != nil {
		return redrive.Result{}, err
	}
	var ts []transform.Transform
	for _, t := range d.Transforms {
		tr, err := rd.env.regs.transforms.New(t.Type, transformEnv(d.Name, logger), t.Options)
		if err != nil {
			return redrive.Result{}, err
		}
		ts = append(ts, tr)
	}
	var tr transform.Transform
	if len(ts) > 0 {
		tr = transform.Chain(ts...)
	}
	// A short retry (also of the destinations that retry by themselves):
	// the caller waits, and a redrive stopped by an error goes on where it
	// was when run again. Its retries count as the delivery's
	// (hydrant_delivery_retries_total).
	d.Retry.Duration = config.Duration(min(d.Retry.Duration.Std(), maxRedriveRetry))
	built, err := buildDestination(d, rd.env.dataDir, rd.env.metrics.Retries.WithLabelValues(d.Name), logger)
	if err != nil {
		return redrive.Result{}, err
	}
	defer built.dest.Close(context.WithoutCancel(ctx))
	if built.start != nil {
		if err := built.start.Start(ctx); err != nil {
			return redrive.Result{}, fmt.Errorf("destination: %w", err)
		}
	}
	retry := destinations.RetryConfig{Duration: d.Retry.Duration.Std()}
	return redrive.Run(ctx, redrive.Delivery{Name: d.Name, Transform: tr, Destination: built.withRetry(retry, logger), Errors: built.errors,
		Place: place, Prefix: prefix, Node: rd.node, BatchBytes: int(d.Buffer.Size)}, filter, time.Now)
}

// maxRedriveRetry bounds how long a redrive retries one batch.
const maxRedriveRetry = time.Minute

func (rd *redriver) serveErrors(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	d, ok := rd.lookup(name)
	if !ok {
		writeJSONError(w, http.StatusNotFound, "ResourceNotFoundException", fmt.Sprintf("no delivery %q in the config", name))
		return
	}
	q := r.URL.Query()
	filter := redrive.Filter{Type: q.Get("type")}
	limit := defaultErrorsLimit
	var err error
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &filter.From}, {"to", &filter.To}} {
		if v := q.Get(p.name); v != "" && err == nil {
			if *p.t, err = time.Parse(time.RFC3339, v); err != nil {
				err = fmt.Errorf("%s: want an RFC 3339 time such as 2026-12-01T00:00:00Z", p.name)
			}
		}
	}
	if v := q.Get("limit"); v != "" && err == nil {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxErrorsLimit {
			err = fmt.Errorf("limit: want 1..%d", maxErrorsLimit)
		}
	}
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "InvalidArgumentException", err.Error())
		return
	}
	place, prefix, err := errorPlace(d, rd.env.dataDir)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalFailure", err.Error())
		return
	}
	entries, truncated, err := redrive.Entries(r.Context(), place, prefix, name, filter, limit)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalFailure", err.Error()+retryAdvice(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(errorsResponse{Errors: entries, Truncated: truncated, Node: rd.node})
}

// errorPlace is where the failed records of d are (as buildDestination
// sends them): an object destination's own error prefix, a search or HTTP
// destination's backup's, or else errors/<delivery>/ in the data dir,
// listed whole whatever its layout below.
func errorPlace(d config.DeliveryConfig, dataDir string) (redrive.Place, string, error) {
	switch {
	case d.Destination.Postgres == nil && d.Destination.Iceberg == nil && d.Destination.Elasticsearch == nil && d.Destination.HTTP == nil:
		return objectsPlace(d.Destination.File, d.Destination.S3)
	case (d.Destination.Elasticsearch != nil || d.Destination.HTTP != nil) && d.Backup != nil:
		return objectsPlace(d.Backup.File, d.Backup.S3)
	}
	root := filepath.Join(dataDir, "errors", d.Name)
	fs, err := file.New(root)
	if err != nil {
		return nil, "", err
	}
	return redrive.NewDir(root, fs), "", nil
}

// objectsPlace is the error place of a file or S3 destination.
func objectsPlace(fc *config.FileDestinationConfig, sc *config.S3DestinationConfig) (redrive.Place, string, error) {
	switch {
	case fc != nil:
		fs, err := file.New(fc.Dir)
		if err != nil {
			return nil, "", err
		}
		return redrive.NewDir(fc.Dir, fs), redrive.StaticPrefix(orDefault(fc.ErrorPrefix)), nil
	case sc != nil:
		var (
			ssec []byte
			get  minio.GetObjectOptions
			err  error
		)
		if sc.SSECKey != "" {
			if ssec, err = base64.StdEncoding.DecodeString(sc.SSECKey); err != nil {
				return nil, "", fmt.Errorf("sse_c_key: %w", err)
			}
			if get.ServerSideEncryption, err = encrypt.NewSSEC(ssec); err != nil {
				return nil, "", fmt.Errorf("sse_c_key: %w", err)
			}
		}
		store, err := s3.New(s3.Config{Endpoint: sc.Endpoint, Region: sc.Region, Bucket: sc.Bucket,
			AccessKeyID: sc.AccessKeyID, SecretAccessKey: sc.SecretAccessKey, SSE: sc.SSE, SSEKMSKeyID: sc.SSEKMSKeyID, SSECKey: ssec})
		if err != nil {
			return nil, "", err
		}
		return redrive.NewBucket(store.Client(), sc.Bucket, store, get), redrive.StaticPrefix(orDefault(sc.ErrorPrefix)), nil
	}
	return nil, "", errors.New("no destination configured")
}

// retryAdvice says whether the request that failed with err is worth
// making again.
func retryAdvice(err error) string {
	if destinations.IsPermanent(err) {
		return " (not retryable as it is)"
	}
	return " (retryable)"
}

func orDefault(errorPrefix string) string {
	if errorPrefix == "" {
		return config.DefaultErrorPrefix
	}
	return errorPrefix
}
