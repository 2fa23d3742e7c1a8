package elasticsearch

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
)

// bulkServer is an httptest Elasticsearch that answers _bulk requests with
// whatever its respond function decides, and remembers every request.
type bulkServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []bulkRequest
	// respond returns the whole request's status (0: 200 with items) and
	// each item's status and error type.
	respond func(req int, actions []bulkAction) (int, []itemResult)
}

type bulkRequest struct {
	gzip    bool
	path    string
	actions []bulkAction
}

type bulkAction struct {
	Action, Index, ID string
	Doc               map[string]any
}

type itemResult struct {
	status  int
	errType string
}

func newBulkServer(t *testing.T, product string, respond func(req int, actions []bulkAction) (int, []itemResult)) *bulkServer {
	s := &bulkServer{respond: respond}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if product != "" {
			w.Header().Set("X-Elastic-Product", product)
		}
		if r.URL.Path != "/_bulk" || r.Method != http.MethodPost {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		var body io.Reader = r.Body
		gz := r.Header.Get("Content-Encoding") == "gzip"
		if gz {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		actions, err := parseBulk(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		n := len(s.requests)
		s.requests = append(s.requests, bulkRequest{gzip: gz, path: r.URL.String(), actions: actions})
		s.mu.Unlock()
		status, items := s.respond(n, actions)
		if status != 0 {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"type":"test_exception","reason":"status %d"},"status":%d}`, status, status)
			return
		}
		writeItems(w, actions, items)
	}))
	t.Cleanup(s.Close)
	return s
}

func parseBulk(r io.Reader) ([]bulkAction, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<20)
	var out []bulkAction
	for sc.Scan() {
		var meta map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &meta); err != nil || len(meta) != 1 {
			return nil, fmt.Errorf("action line %q: %v", sc.Bytes(), err)
		}
		if !sc.Scan() {
			return nil, errors.New("action without a document")
		}
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			return nil, fmt.Errorf("document line %q: %v", sc.Bytes(), err)
		}
		for action, m := range meta {
			out = append(out, bulkAction{Action: action, Index: m.Index, ID: m.ID, Doc: doc})
		}
	}
	return out, sc.Err()
}

func writeItems(w io.Writer, actions []bulkAction, items []itemResult) {
	var buf bytes.Buffer
	errs := false
	buf.WriteString(`"items":[`)
	for i, a := range actions {
		r := itemResult{status: 201}
		if items != nil {
			r = items[i]
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{%q:{"status":%d`, a.Action, r.status)
		if r.status >= 300 {
			errs = true
			fmt.Fprintf(&buf, `,"error":{"type":%q,"reason":"item %d failed","caused_by":{"type":"cause","reason":"why"}}`, r.errType, i)
		}
		buf.WriteString("}}")
	}
	buf.WriteString("]}")
	fmt.Fprintf(w, `{"errors":%v,`, errs)
	w.Write(buf.Bytes())
}

func (s *bulkServer) all() []bulkRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bulkRequest(nil), s.requests...)
}

// batch makes n records {"n":i} with sequences 100+i.
func batch(n int) *buffer.Batch {
	b := &buffer.Batch{Delivery: "d", ShardID: "shardId-000000000001"}
	at := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
	for i := range n {
		data := fmt.Appendf(nil, `{"n":%d}`, i)
		b.Records = append(b.Records, buffer.Record{Data: data, Sequence: uint64(100 + i), Arrival: at})
		b.Bytes += len(data)
	}
	return b
}

// stepClock advances one second each time it is read.
func stepClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func newDest(t *testing.T, s *bulkServer, flavor string, edit func(*Config)) *Destination {
	t.Helper()
	cfg := Config{Flavor: flavor, Endpoints: []string{s.URL}, Index: "idx", Rotation: RotationDay,
		Retry: destinations.RetryConfig{Duration: time.Hour, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond},
		Now:   stepClock()}
	if edit != nil {
		edit(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	return d
}

func product(flavor string) string {
	if flavor == FlavorElasticsearch {
		return "Elasticsearch"
	}
	return ""
}

// Items answered 429 or 503 (or es_rejected_execution_exception) are sent
// again alone until they are indexed; the others are never sent twice.
func TestRetriesOnlyFailedItems(t *testing.T) {
	for _, flavor := range []string{FlavorElasticsearch, FlavorOpenSearch} {
		t.Run(flavor, func(t *testing.T) {
			s := newBulkServer(t, product(flavor), func(req int, actions []bulkAction) (int, []itemResult) {
				items := make([]itemResult, len(actions))
				for i, a := range actions {
					items[i] = itemResult{status: 201}
					n := int(a.Doc["n"].(float64))
					switch {
					case req == 0 && n%10 == 3:
						items[i] = itemResult{429, "es_rejected_execution_exception"}
					case req == 0 && n == 5:
						items[i] = itemResult{503, "unavailable_shards_exception"}
					case req == 1 && n == 13:
						items[i] = itemResult{500, "es_rejected_execution_exception"}
					}
				}
				return 0, items
			})
			d := newDest(t, s, flavor, nil)
			if err := d.Deliver(context.Background(), batch(100)); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			reqs := s.all()
			if len(reqs) != 3 {
				t.Fatalf("%d requests, want 3 (all, the 11 failed, the one that failed again)", len(reqs))
			}
			var second []int
			for _, a := range reqs[1].actions {
				second = append(second, int(a.Doc["n"].(float64)))
			}
			if fmt.Sprint(second) != "[3 5 13 23 33 43 53 63 73 83 93]" {
				t.Errorf("second request sent %v", second)
			}
			if len(reqs[2].actions) != 1 || reqs[2].actions[0].ID != "d-shardId-000000000001-113" {
				t.Errorf("third request: %+v", reqs[2].actions)
			}
			if a := reqs[0].actions[7]; a.Action != "index" || a.Index != "idx-2026-11-25" || a.ID != "d-shardId-000000000001-107" {
				t.Errorf("action %+v", a)
			}
			if !strings.Contains(reqs[0].path, "filter_path=") {
				t.Errorf("path %s", reqs[0].path)
			}
		})
	}
}

// Mapping errors and other 4xx items go to the error output at once, with
// index, id, type and reason; the rest of the batch is indexed.
func TestPermanentItemFailures(t *testing.T) {
	s := newBulkServer(t, "Elasticsearch", func(req int, actions []bulkAction) (int, []itemResult) {
		items := make([]itemResult, len(actions))
		for i, a := range actions {
			items[i] = itemResult{status: 201}
			if n := int(a.Doc["n"].(float64)); n%200 == 7 {
				items[i] = itemResult{400, "mapper_parsing_exception"}
			}
		}
		return 0, items
	})
	d := newDest(t, s, FlavorElasticsearch, nil)
	err := d.Deliver(context.Background(), batch(1000))
	var re *destinations.RecordErrors
	if !errors.As(err, &re) {
		t.Fatalf("Deliver: %v, want RecordErrors", err)
	}
	if re.Type != ErrorType || len(re.Failed) != 5 {
		t.Fatalf("%s: %d failed, want %s: 5", re.Type, len(re.Failed), ErrorType)
	}
	var de *destinations.DocumentError
	if !errors.As(re.Failed[207], &de) {
		t.Fatalf("record 207: %v", re.Failed[207])
	}
	want := destinations.DocumentError{Code: "mapper_parsing_exception", Attempts: 1, Index: "idx-2026-11-25",
		DocumentID: "d-shardId-000000000001-307",
		Message:    "HTTP 400: mapper_parsing_exception: item 207 failed (caused by cause: why)"}
	if *de != want {
		t.Errorf("got  %+v\nwant %+v", *de, want)
	}
	if n := len(s.all()); n != 1 {
		t.Errorf("%d requests; permanent failures must not be retried", n)
	}
}

// A whole request answered 5xx, 429 or not answered at all is retried until
// the retry duration; then every document goes to the error output.
func TestWholeRequestFailures(t *testing.T) {
	t.Run("5xx then indexed", func(t *testing.T) {
		s := newBulkServer(t, "Elasticsearch", func(req int, actions []bulkAction) (int, []itemResult) {
			if req < 2 {
				return []int{502, 429}[req], nil
			}
			return 0, nil
		})
		d := newDest(t, s, FlavorElasticsearch, nil)
		if err := d.Deliver(context.Background(), batch(10)); err != nil {
			t.Fatal(err)
		}
		if reqs := s.all(); len(reqs) != 3 || len(reqs[2].actions) != 10 {
			t.Fatalf("%d requests", len(reqs))
		}
	})
	t.Run("connection refused until the retry duration", func(t *testing.T) {
		s := newBulkServer(t, "", nil)
		s.Close()
		d := newDest(t, s, FlavorOpenSearch, func(c *Config) { c.Retry.Duration = 3500 * time.Millisecond })
		err := d.Deliver(context.Background(), batch(4))
		var re *destinations.RecordErrors
		if !errors.As(err, &re) || len(re.Failed) != 4 {
			t.Fatalf("Deliver: %v; want all 4 records failed", err)
		}
		de := re.Failed[0].(*destinations.DocumentError)
		// The step clock moves 1 s a reading: attempts at 0, 1, 2, 3 s; the next would pass 3.5 s.
		if de.Code != "ConnectionFailed" || de.Attempts != 4 || !strings.Contains(de.Message, "refused") {
			t.Errorf("code %s, %d attempts: %s", de.Code, de.Attempts, de.Message)
		}
	})
	t.Run("no retry duration: one attempt", func(t *testing.T) {
		s := newBulkServer(t, "Elasticsearch", func(int, []bulkAction) (int, []itemResult) { return 503, nil })
		d := newDest(t, s, FlavorElasticsearch, func(c *Config) { c.Retry.Duration = 0 })
		err := d.Deliver(context.Background(), batch(2))
		var re *destinations.RecordErrors
		if !errors.As(err, &re) || len(re.Failed) != 2 || len(s.all()) != 1 {
			t.Fatalf("Deliver: %v after %d requests", err, len(s.all()))
		}
		if de := re.Failed[1].(*destinations.DocumentError); de.Code != "503" || !strings.Contains(de.Message, "test_exception") {
			t.Errorf("%+v", de)
		}
	})
}

// A request refused as too large (or as bad) is split in halves until the
// document that is stands alone; only that one fails.
func TestSplitsRefusedRequests(t *testing.T) {
	for _, status := range []int{413, 400} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			s := newBulkServer(t, "Elasticsearch", func(req int, actions []bulkAction) (int, []itemResult) {
				for _, a := range actions {
					if a.Doc["n"].(float64) == 6 {
						return status, nil
					}
				}
				return 0, nil
			})
			d := newDest(t, s, FlavorElasticsearch, nil)
			err := d.Deliver(context.Background(), batch(16))
			var re *destinations.RecordErrors
			if !errors.As(err, &re) || len(re.Failed) != 1 || re.Failed[6] == nil {
				t.Fatalf("Deliver: %v, want record 6 alone failed", err)
			}
			indexed := 0
			for _, r := range s.all() {
				if len(r.actions) > 1 || r.actions[0].Doc["n"].(float64) != 6 {
					indexed += len(r.actions)
				}
			}
			// 16 → 8 (holds 6) + 8 → 4 + 4 (holds 6) → 2 + 2 → 1 + 1
			if de := re.Failed[6].(*destinations.DocumentError); de.Attempts != 1 || de.Code != fmt.Sprint(status) {
				t.Errorf("%+v", de)
			}
			if got := len(s.all()); got != 9 {
				t.Errorf("%d requests, want 9", got)
			}
		})
	}
}

// max_bulk_bytes splits a batch into several requests, each at most that big.
func TestMaxBulkBytes(t *testing.T) {
	s := newBulkServer(t, "Elasticsearch", func(int, []bulkAction) (int, []itemResult) { return 0, nil })
	d := newDest(t, s, FlavorElasticsearch, func(c *Config) { c.MaxBulkBytes = 1000 })
	if err := d.Deliver(context.Background(), batch(100)); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, r := range s.all() {
		total += len(r.actions)
		if size := len(r.actions) * 80; size > 1000+80 {
			t.Errorf("request of %d documents", len(r.actions))
		}
	}
	if total != 100 || len(s.all()) < 8 {
		t.Errorf("%d documents in %d requests", total, len(s.all()))
	}
}

// create with auto ids: a 409 means an earlier attempt indexed the record.
// create with ids from the record: a 409 is a real conflict.
func TestCreateConflicts(t *testing.T) {
	respond := func(int, []bulkAction) (int, []itemResult) {
		return 0, []itemResult{{201, ""}, {409, "version_conflict_engine_exception"}}
	}
	s := newBulkServer(t, "Elasticsearch", respond)
	d := newDest(t, s, FlavorElasticsearch, func(c *Config) { c.Action = ActionCreate })
	if err := d.Deliver(context.Background(), batch(2)); err != nil {
		t.Fatalf("auto ids: %v", err)
	}
	if a := s.all()[0].actions[1]; a.Action != "create" {
		t.Errorf("action %q", a.Action)
	}
	d = newDest(t, s, FlavorElasticsearch, func(c *Config) { c.Action = ActionCreate; c.DocumentID = "/n" })
	err := d.Deliver(context.Background(), batch(2))
	var re *destinations.RecordErrors
	if !errors.As(err, &re) || len(re.Failed) != 1 {
		t.Fatalf("ids by pointer: %v", err)
	}
	if de := re.Failed[1].(*destinations.DocumentError); de.Code != "version_conflict_engine_exception" || de.DocumentID != "1" {
		t.Errorf("%+v", de)
	}
}

// Records that are not one JSON object, or lack their id, fail before any
// request; multi-line JSON is compacted onto one line.
func TestBadRecords(t *testing.T) {
	s := newBulkServer(t, "", func(int, []bulkAction) (int, []itemResult) { return 0, nil })
	d := newDest(t, s, FlavorOpenSearch, func(c *Config) { c.DocumentID = "/id" })
	b := batch(0)
	for _, data := range []string{"{\n  \"id\": \"a\",\n  \"n\": 1\n}\n", `[1,2]`, `not json`, `{"n":2}`, `{"id":"b"`, `{"id":"c"}`} {
		b.Records = append(b.Records, buffer.Record{Data: []byte(data)})
	}
	err := d.Deliver(context.Background(), b)
	var re *destinations.RecordErrors
	if !errors.As(err, &re) || len(re.Failed) != 4 {
		t.Fatalf("Deliver: %v", err)
	}
	for i, code := range map[int]string{1: "MalformedDocument", 2: "MalformedDocument", 3: "DocumentIdMissing", 4: "MalformedDocument"} {
		if de := re.Failed[i].(*destinations.DocumentError); de.Code != code {
			t.Errorf("record %d: %+v, want %s", i, de, code)
		}
	}
	reqs := s.all()
	if len(reqs) != 1 || len(reqs[0].actions) != 2 || reqs[0].actions[0].ID != "a" || reqs[0].actions[1].ID != "c" {
		t.Fatalf("requests %+v", reqs)
	}
}

// gzip bodies, the ingest pipeline, and basic auth reach the server.
func TestRequestOptions(t *testing.T) {
	for _, flavor := range []string{FlavorElasticsearch, FlavorOpenSearch} {
		t.Run(flavor, func(t *testing.T) {
			var auth string
			s := newBulkServer(t, product(flavor), func(int, []bulkAction) (int, []itemResult) { return 0, nil })
			inner := s.Config.Handler
			s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				auth = r.Header.Get("Authorization")
				inner.ServeHTTP(w, r)
			})
			d := newDest(t, s, flavor, func(c *Config) {
				c.Gzip, c.Pipeline, c.Username, c.Password = true, "geo ip", "u", "p"
			})
			if err := d.Deliver(context.Background(), batch(3)); err != nil {
				t.Fatal(err)
			}
			r := s.all()[0]
			if !r.gzip || !strings.Contains(r.path, "pipeline=geo+ip") || len(r.actions) != 3 {
				t.Errorf("request %+v", r)
			}
			if auth != "Basic dTpw" {
				t.Errorf("Authorization %q", auth)
			}
		})
	}
}

// The Elasticsearch flavour refuses a server that is not Elasticsearch, and
// says what to set.
func TestElasticsearchFlavorNeedsElasticsearch(t *testing.T) {
	s := newBulkServer(t, "", func(int, []bulkAction) (int, []itemResult) { return 0, nil })
	d := newDest(t, s, FlavorElasticsearch, func(c *Config) { c.Retry.Duration = 0 })
	err := d.Deliver(context.Background(), batch(1))
	var re *destinations.RecordErrors
	if !errors.As(err, &re) || !strings.Contains(re.Failed[0].Error(), "flavor: opensearch") {
		t.Fatalf("Deliver: %v", err)
	}
}

// Deliver gives up when ctx ends and says so, without an error output.
func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	// The first answer (503) cancels: Deliver is then waiting to retry.
	s := newBulkServer(t, "Elasticsearch", func(int, []bulkAction) (int, []itemResult) { cancel(); return 503, nil })
	d := newDest(t, s, FlavorElasticsearch, func(c *Config) { c.Retry.InitialBackoff, c.Retry.MaxBackoff = time.Hour, time.Hour })
	if err := d.Deliver(ctx, batch(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Deliver: %v, want context.Canceled", err)
	}
}

// An API key is sent as Elasticsearch expects it.
func TestAPIKey(t *testing.T) {
	var auth string
	s := newBulkServer(t, "Elasticsearch", func(int, []bulkAction) (int, []itemResult) { return 0, nil })
	inner := s.Config.Handler
	s.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		inner.ServeHTTP(w, r)
	})
	d := newDest(t, s, FlavorElasticsearch, func(c *Config) { c.APIKey = "aWQ6a2V5" })
	if err := d.Deliver(context.Background(), batch(1)); err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(auth, "ApiKey aWQ6a2V5") { // the scheme is case-insensitive; go-elasticsearch writes APIKey
		t.Errorf("Authorization %q", auth)
	}
}

// An https endpoint is trusted through the configured CA, and not without it.
func TestTLSCA(t *testing.T) {
	for _, flavor := range []string{FlavorElasticsearch, FlavorOpenSearch} {
		t.Run(flavor, func(t *testing.T) {
			s := &bulkServer{respond: func(int, []bulkAction) (int, []itemResult) { return 0, nil }}
			plain := newBulkServer(t, product(flavor), s.respond)
			s.Server = httptest.NewTLSServer(plain.Config.Handler)
			t.Cleanup(s.Close)
			ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})

			untrusted := newDest(t, s, flavor, func(c *Config) { c.Retry.Duration = 0 })
			err := untrusted.Deliver(context.Background(), batch(1))
			var re *destinations.RecordErrors
			if !errors.As(err, &re) || !strings.Contains(re.Failed[0].Error(), "certificate") {
				t.Fatalf("without the CA: %v", err)
			}
			trusted := newDest(t, s, flavor, func(c *Config) { c.CACert = ca })
			if err := trusted.Deliver(context.Background(), batch(1)); err != nil {
				t.Fatalf("with the CA: %v", err)
			}
			if _, err := New(Config{Endpoints: []string{s.URL}, Index: "i", CACert: []byte("not PEM")}); err == nil {
				t.Error("a CA file without a certificate was taken")
			}
		})
	}
}

// Each round of sending failed items again counts one retry in
// Retry.Retries (hydrant_delivery_retries_total): a whole request retried,
// or the items that failed for now. Permanent failures, and the halves of a
// request split because it was refused, are no retry.
func TestRetryRoundsCounted(t *testing.T) {
	tests := map[string]struct {
		respond     func(req int, actions []bulkAction) (int, []itemResult)
		duration    time.Duration
		wantRetries float64
		wantReqs    int
	}{
		"items retried twice": {
			respond: func(req int, actions []bulkAction) (int, []itemResult) {
				items := make([]itemResult, len(actions))
				for i, a := range actions {
					items[i] = itemResult{status: 201}
					if n := int(a.Doc["n"].(float64)); req < 2 && n == 3 {
						items[i] = itemResult{429, "es_rejected_execution_exception"}
					}
				}
				return 0, items
			},
			duration: time.Hour, wantRetries: 2, wantReqs: 3,
		},
		"whole request 502, then 429, then indexed": {
			respond: func(req int, _ []bulkAction) (int, []itemResult) {
				if req < 2 {
					return []int{502, 429}[req], nil
				}
				return 0, nil
			},
			duration: time.Hour, wantRetries: 2, wantReqs: 3,
		},
		"permanent item failures": {
			respond: func(_ int, actions []bulkAction) (int, []itemResult) {
				items := make([]itemResult, len(actions))
				for i := range items {
					items[i] = itemResult{400, "mapper_parsing_exception"}
				}
				return 0, items
			},
			duration: time.Hour, wantRetries: 0, wantReqs: 1,
		},
		"split halves": {
			respond: func(_ int, actions []bulkAction) (int, []itemResult) {
				if len(actions) > 2 {
					return 413, nil
				}
				return 0, nil
			},
			duration: time.Hour, wantRetries: 0, wantReqs: 3,
		},
		"no retry duration": {
			respond:  func(int, []bulkAction) (int, []itemResult) { return 503, nil },
			duration: 0, wantRetries: 0, wantReqs: 1,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			s := newBulkServer(t, "Elasticsearch", tt.respond)
			retries := prometheus.NewCounter(prometheus.CounterOpts{Name: "retries"})
			d := newDest(t, s, FlavorElasticsearch, func(c *Config) {
				c.Retry.Duration, c.Retry.Retries = tt.duration, retries
			})
			d.Deliver(context.Background(), batch(4))
			if got := testutil.ToFloat64(retries); got != tt.wantRetries || len(s.all()) != tt.wantReqs {
				t.Fatalf("%v retries counted in %d requests; want %v in %d", got, len(s.all()), tt.wantRetries, tt.wantReqs)
			}
		})
	}
}
