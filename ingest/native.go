package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hydrant-dev/hydrant/ingest/auth"
	"github.com/hydrant-dev/hydrant/internal/jsonpointer"
	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/hydrant-dev/hydrant/shards"
)

// maxPartitionKeyLength is Kinesis' limit on partition keys.
const maxPartitionKeyLength = 256

// Target is a name producers put to: a stream, with how to pick partition
// keys — or a delivery that reads a stream, which takes no direct puts.
type Target struct {
	Stream *shards.Stream
	// PartitionKeyField is a JSON pointer into each JSON record; empty: random keys.
	PartitionKeyField string
	// ReadsFrom, for a delivery with a source stream, names that stream:
	// as in Firehose, puts to such a delivery are refused.
	ReadsFrom string
	// DirectPut marks a Firehose DirectPut delivery's stream: a put to it
	// is authorized as firehose:PutRecordBatch on the delivery stream,
	// where a put to a stream is kinesis:PutRecords on the stream.
	DirectPut bool
	// AtomicPuts stores each native put whole or refuses it whole (429 or
	// 503 with Retry-After), as ?atomic=true asks for one request: for
	// clients that count any 2xx as delivered and would lose the records
	// a 207 refuses.
	AtomicPuts bool
}

type target struct {
	stream    *shards.Stream
	pointer   jsonpointer.Pointer
	readsFrom string
	directPut bool
	atomic    bool
	puts      *metrics.Puts // nil for a target that takes no puts
}

// Limits bound what one request may carry.
type Limits struct {
	MaxRequestSize int // bytes, after decompression
	MaxRecordSize  int // bytes of one record's data
}

// Settings are the server's injected dependencies.
type Settings struct {
	Logger *slog.Logger
	Now    func() time.Time // the quota clock
	// Metrics count puts per target name (api native) and time every put
	// request (nil: kept on a registry of the server's own that nobody
	// reads).
	Metrics *metrics.Ingest
	// Region and AccountID make the ARNs puts are authorized on
	// (default us-east-1 and 000000000000, as the AWS APIs').
	Region, AccountID string
	_                 struct{}
}

// Server serves the native ingest API and health endpoints.
type Server struct {
	limits  Limits
	logger  *slog.Logger
	now     func() time.Time
	metrics *metrics.Ingest
	putTime prometheus.Observer // the native API's put durations
	mu      sync.RWMutex
	targets map[string]target
	ready   func() bool
	aws     http.Handler
	auth    *auth.Authenticator         // nil: no credential needed
	arn     string                      // "arn:aws:%s:REGION:ACCOUNT:%s"
	bufs    [len(bodyClasses)]sync.Pool // *[]byte, by class of bodyClasses
}

// NewServer returns a server for the given targets, keyed by the name
// producers use: stream names and DirectPut delivery names.
func NewServer(limits Limits, targets map[string]Target, ready func() bool, set Settings) (*Server, error) {
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	if set.Metrics == nil {
		set.Metrics = metrics.NewIngest(prometheus.NewRegistry())
	}
	if set.Region == "" {
		set.Region = "us-east-1"
	}
	if set.AccountID == "" {
		set.AccountID = "000000000000"
	}
	s := &Server{limits: limits, logger: set.Logger, now: set.Now, targets: make(map[string]target), ready: ready,
		metrics: set.Metrics, putTime: set.Metrics.PutDuration.WithLabelValues(metrics.APINative),
		arn: "arn:aws:%s:" + set.Region + ":" + set.AccountID + ":%s"}
	for name, t := range targets {
		if err := s.SetTarget(name, t); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SetTarget adds or replaces the target producers reach by name (a stream
// created while the server runs, say). Its put counters are resolved here,
// once: a name only becomes a metric label when it is a target.
func (s *Server) SetTarget(name string, t Target) error {
	p, err := jsonpointer.Compile(t.PartitionKeyField)
	if err != nil {
		return fmt.Errorf("stream %s: partition_key_field: %w", name, err)
	}
	tg := target{stream: t.Stream, pointer: p, readsFrom: t.ReadsFrom, directPut: t.DirectPut, atomic: t.AtomicPuts}
	if t.Stream != nil && t.ReadsFrom == "" {
		tg.puts = s.metrics.Puts(name, metrics.APINative)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.targets[name] = tg
	return nil
}

// RemoveTarget stops taking puts for name.
func (s *Server) RemoveTarget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.targets, name)
}

// RequireAuth makes every native API request carry a credential a
// accepts, whose principal may put to the stream it names; call it before
// Handler.
func (s *Server) RequireAuth(a *auth.Authenticator) { s.auth = a }

// HandleAWS serves the AWS APIs (POST / with X-Amz-Target) with h; call it
// before Handler.
func (s *Server) HandleAWS(h http.Handler) { s.aws = h }

// Handler returns the HTTP routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	if s.aws != nil {
		mux.Handle("POST /{$}", s.aws)
	}
	mux.HandleFunc("POST /v1/streams/{name}/records", s.putRecords)
	mux.HandleFunc("PUT /v1/streams/{name}/records", s.putRecords)
	mux.HandleFunc("/v1/streams/{name}/records", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "POST, PUT")
		writeError(w, &requestError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed",
			message: fmt.Sprintf("%s is not allowed here; put records with POST or PUT", r.Method)})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &requestError{status: http.StatusNotFound, code: "NotFound",
			message: fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path)})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if s.ready != nil && !s.ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}

// recordResult is one record's outcome.
type recordResult struct {
	shard   int
	seq     shards.Sequence
	errCode string
	errMsg  string
}

// putRecords serves a put. Every request is timed; only those handed to
// the shard log count in the target's put counters (a request for a name
// that is no target creates no metric label).
func (s *Server) putRecords(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { s.putTime.Observe(time.Since(start).Seconds()) }()
	name := r.PathValue("name")
	if !validName(name) {
		writeError(w, badRequest("stream name %q: must be 1-%d characters of a-z A-Z 0-9 _ . -", name, maxNameLength))
		return
	}
	s.mu.RLock()
	t, ok := s.targets[name]
	s.mu.RUnlock()
	if aerr := s.authorizePut(w, r, name, t.directPut); aerr != nil {
		writeAuthError(w, aerr)
		return
	}
	if !ok {
		writeError(w, &requestError{status: http.StatusNotFound, code: "ResourceNotFoundException",
			message: fmt.Sprintf("stream %q not found", name)})
		return
	}
	if t.readsFrom != "" {
		writeError(w, badRequest("delivery %q reads stream %q and takes no direct puts: put to stream %q", name, t.readsFrom, t.readsFrom))
		return
	}
	mt, err := mediaType(r.Header.Get("Content-Type"))
	if err != nil {
		writeError(w, err)
		return
	}
	buf := s.getBuffer(r.ContentLength)
	defer s.putBuffer(buf)
	// r.Body itself stays as it is: replaced, the server would not see how
	// much of it is unread after an early refusal, and would wait to discard it.
	body := http.MaxBytesReader(w, r.Body, int64(s.limits.MaxRequestSize))
	if *buf, err = readBody(*buf, r, body, mt, s.limits.MaxRequestSize, s.limits.MaxRecordSize); err != nil {
		if err.status == http.StatusServiceUnavailable {
			RefuseBusy(w, r)
			return
		}
		writeError(w, err)
		return
	}
	recs, err := s.parse(r, t, mt, *buf)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(recs) == 0 {
		writeError(w, badRequest("the body holds no records"))
		return
	}
	atomic := t.atomic
	if v := r.URL.Query().Get("atomic"); v != "" {
		if atomic, err = parseAtomic(v); err != nil {
			writeError(w, err)
			return
		}
	}
	results, stored, bytes := s.store(r.Context(), name, t.stream, recs, atomic)
	t.puts.Count(stored, bytes)
	writeResults(w, results)
}

// maxNameLength is the longest name of a stream or delivery (Kinesis'
// limit; the config's own are at most 64).
const maxNameLength = 128

// validName reports whether name is 1-128 of [a-zA-Z0-9_.-], as Kinesis
// and Firehose names are.
func validName(name string) bool {
	if len(name) < 1 || len(name) > maxNameLength {
		return false
	}
	for _, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

// parse splits the body into records with their partition keys; it writes
// nothing, so a request it rejects leaves no trace.
func (s *Server) parse(r *http.Request, t target, mt string, body []byte) ([]shards.Record, *requestError) {
	if indexNonSpace(body) < 0 {
		return nil, nil // only whitespace: no records, in any format (not lines of spaces)
	}
	format := detectFormat(mt, body)
	datas, err := splitRecords(nil, format, body, s.limits.MaxRecordSize)
	if err != nil {
		return nil, err
	}
	key := r.URL.Query().Get("partition_key")
	if key == "" {
		key = r.Header.Get("X-Partition-Key")
	}
	if len(key) > maxPartitionKeyLength {
		return nil, badRequest("partition key is %d bytes; the limit is %d", len(key), maxPartitionKeyLength)
	}
	recs := make([]shards.Record, len(datas))
	var random shards.RandomKeys
	for i, d := range datas {
		k := key
		if k == "" && !t.pointer.IsZero() && format != formatLines {
			if v, ok := t.pointer.LookupString(d); ok {
				if len(v) > maxPartitionKeyLength {
					v = v[:maxPartitionKeyLength]
				}
				k = v
			}
		}
		if k == "" {
			k = random.Next()
		}
		recs[i] = shards.Record{PartitionKey: k, Data: d}
	}
	return recs, nil
}

// parseAtomic reads the atomic query parameter: true or false.
func parseAtomic(v string) (bool, *requestError) {
	switch v {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, badRequest("atomic=%.20q: want true or false", v)
}

// store puts recs on the stream and returns a result per record, and the
// number and data bytes of the records stored. atomic stores them whole or
// refuses them whole (shards.Stream.PutAll).
func (s *Server) store(ctx context.Context, name string, st *shards.Stream, recs []shards.Record, atomic bool) (results []recordResult, stored, bytes int) {
	put := st.Put
	if atomic {
		put = st.PutAll
	}
	puts := put(ctx, s.now(), recs)
	results = make([]recordResult, len(puts))
	failed := 0
	for i, p := range puts {
		results[i] = recordResult{shard: p.Shard, seq: p.Sequence}
		switch {
		case p.Err == nil:
			stored++
			bytes += len(recs[i].Data)
		case errors.Is(p.Err, shards.ErrDiskBudget):
			results[i].errCode = "ProvisionedThroughputExceededException"
			results[i].errMsg = "The shard log is at its disk budget: retry once deliveries have caught up."
		case errors.Is(p.Err, shards.ErrThrottled):
			results[i].errCode = "ProvisionedThroughputExceededException"
			results[i].errMsg = "Rate exceeded for shard " + shards.ShardID(p.Shard) + " in stream " + name + "."
		case errors.Is(p.Err, shards.ErrUnavailable):
			results[i].errCode = "ServiceUnavailable"
			results[i].errMsg = "The shard log cannot store records now (its disk is full): retry later."
		default:
			results[i].errCode = "InternalFailure"
			results[i].errMsg = "the record was not stored; retry it"
			failed++
		}
	}
	if failed > 0 {
		s.logger.Error("append failed", "stream", name, "records", failed, "error", firstError(puts))
	}
	return results, stored, bytes
}

func firstError(puts []shards.PutResult) error {
	for _, p := range puts {
		if p.Err != nil && !errors.Is(p.Err, shards.ErrThrottled) {
			return p.Err
		}
	}
	return nil
}

// bodyClasses are the capacities of the body buffers kept for reuse. A
// body gets a buffer of the smallest class that holds it and one byte more
// (to see its end without growing), so that reusing a buffer never makes a
// request reserve (see InFlight) more than about twice its size; a body of
// unknown length gets the smallest class, and grows it as it is read.
var bodyClasses = [...]int{64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20}

// bodyClass returns the class of a body of n bytes (-1 past the largest);
// n ≤ 0 (unknown) is the smallest.
func bodyClass(n int64) int {
	for i, c := range bodyClasses {
		if n < int64(c) {
			return i
		}
	}
	return -1
}

func (s *Server) getBuffer(n int64) *[]byte {
	c := bodyClass(n)
	if c < 0 {
		return new([]byte)
	}
	if b, ok := s.bufs[c].Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, bodyClasses[c])
	return &b
}

// putBuffer keeps b for reuse when it is of a class (one that grew is not).
func (s *Server) putBuffer(b *[]byte) {
	for i, c := range bodyClasses {
		if cap(*b) == c {
			s.bufs[i].Put(b)
			return
		}
	}
}

// writeResults answers 200 when every record was stored, 429 with
// Retry-After when every record was throttled, 503 when none was stored for
// another reason, and 207 for a mix.
func writeResults(w http.ResponseWriter, results []recordResult) {
	failed, throttled := 0, 0
	for _, r := range results {
		if r.errCode != "" {
			failed++
			if r.errCode == "ProvisionedThroughputExceededException" {
				throttled++
			}
		}
	}
	status := http.StatusOK
	switch {
	case failed == 0:
	case throttled == len(results):
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", "1")
	case failed == len(results):
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
	default:
		status = http.StatusMultiStatus
	}
	out := make([]byte, 0, 64+len(results)*72)
	out = append(out, `{"failed_record_count":`...)
	out = strconv.AppendInt(out, int64(failed), 10)
	out = append(out, `,"records":[`...)
	for i, r := range results {
		if i > 0 {
			out = append(out, ',')
		}
		if r.errCode != "" {
			out = append(out, `{"error_code":"`...)
			out = append(out, r.errCode...)
			out = append(out, `","error_message":`...)
			out = appendJSONString(out, r.errMsg)
			out = append(out, '}')
			continue
		}
		out = append(out, `{"shard_id":"`...)
		out = shards.AppendShardID(out, r.shard)
		out = append(out, `","sequence_number":"`...)
		out = strconv.AppendUint(out, uint64(r.seq), 10)
		out = append(out, `"}`...)
	}
	out = append(out, "]}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(out)
}

func writeError(w http.ResponseWriter, e *requestError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	out := append([]byte(`{"error":{"code":`), appendJSONString(nil, e.code)...)
	out = append(out, `,"message":`...)
	out = appendJSONString(out, e.message)
	w.Write(append(out, "}}\n"...))
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // cannot fail for a string
	return append(dst, b...)
}
