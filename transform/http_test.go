package transform

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/internal/retry"
)

var httpTestEnv = Env{
	Delivery:    "clicks-to-s3",
	DeliveryARN: "arn:aws:firehose:eu-west-1:000000000000:deliverystream/clicks-to-s3",
	Region:      "eu-west-1",
}

// httpTestEvent is a transformation event as the endpoint reads it.
type httpTestEvent struct {
	InvocationID      string `json:"invocationId"`
	DeliveryStreamARN string `json:"deliveryStreamArn"`
	Region            string `json:"region"`
	Records           []struct {
		RecordID string `json:"recordId"`
		Arrival  int64  `json:"approximateArrivalTimestamp"`
		Data     string `json:"data"`
	} `json:"records"`
}

// httpTestResult is one record of a transformation result.
type httpTestResult struct {
	RecordID string          `json:"recordId"`
	Result   string          `json:"result"`
	Data     string          `json:"data,omitempty"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// httpTestLambda is an in-process endpoint of the Lambda contract. It decodes
// every event strictly, keeps it with its headers, and answers with fn's
// results.
type httpTestLambda struct {
	*httptest.Server
	mu      sync.Mutex
	events  []httpTestEvent
	headers []http.Header
	sizes   []int64
}

func newHTTPTestLambda(t *testing.T, fn func(e httpTestEvent) []httpTestResult) *httpTestLambda {
	l := &httpTestLambda{}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			t.Errorf("method = %s, want POST", r.Method)
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading the event: %v", err)
			return
		}
		if bytes.Contains(body, []byte(`"data":null`)) {
			t.Errorf("event has null data: %.200s", body)
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		var e httpTestEvent
		if err := dec.Decode(&e); err != nil {
			t.Errorf("decoding the event: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		l.mu.Lock()
		l.events = append(l.events, e)
		l.headers = append(l.headers, r.Header.Clone())
		l.sizes = append(l.sizes, r.ContentLength)
		l.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(map[string]any{"records": fn(e)}); err != nil {
			t.Errorf("encoding the result: %v", err)
		}
	}))
	t.Cleanup(l.Close)
	return l
}

// calls returns the events received so far, their headers and sizes.
func (l *httpTestLambda) calls() ([]httpTestEvent, []http.Header, []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.events, l.headers, l.sizes
}

// httpTestUpper upper-cases every record and keys it by its first byte.
func httpTestUpper(e httpTestEvent) []httpTestResult {
	out := make([]httpTestResult, len(e.Records))
	for i, r := range e.Records {
		data, _ := base64.StdEncoding.DecodeString(r.Data)
		out[i] = httpTestResult{
			RecordID: r.RecordID, Result: "Ok",
			Data:     base64.StdEncoding.EncodeToString(bytes.ToUpper(data)),
			Metadata: json.RawMessage(fmt.Sprintf(`{"partitionKeys":{"first":%q}}`, data[:1])),
		}
	}
	return out
}

// newHTTPTestServer serves h and counts its requests.
func newHTTPTestServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &attempts
}

// newHTTPTestTransform builds http for url with options and retries waiting
// fast (1ms) unless keepBackoff.
func newHTTPTestTransform(t *testing.T, env Env, url string, options map[string]any, keepBackoff bool) *httpTransform {
	t.Helper()
	opts := map[string]any{"url": url}
	for k, v := range options {
		opts[k] = v
	}
	tr, err := NewHTTP(env, opts)
	if err != nil {
		t.Fatal(err)
	}
	h := tr.(*httpTransform)
	if !keepBackoff {
		h.backoff = retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond}
	}
	t.Cleanup(h.client.CloseIdleConnections)
	return h
}

// httpTestArrival has sub-millisecond digits, which the event drops.
var httpTestArrival = time.UnixMilli(1507217624302).Add(123456)

func httpTestRecords(data ...string) []buffer.Record {
	recs := make([]buffer.Record, len(data))
	for i, d := range data {
		recs[i] = buffer.Record{Data: []byte(d), PartitionKey: "pk", Sequence: uint64(1000 + i),
			Arrival: httpTestArrival.Add(time.Duration(i) * time.Millisecond)}
	}
	return recs
}

var httpTestUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestHTTPTransform(t *testing.T) {
	l := newHTTPTestLambda(t, httpTestUpper)
	tr := newHTTPTestTransform(t, httpTestEnv, l.URL, map[string]any{
		"headers": map[string]any{"Authorization": "Bearer s3cret", "x-api-key": "k3y"},
	}, false)
	in := httpTestRecords("alpha", "beta", "x", "gamma\x00\n\"}")
	out, err := tr.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d outputs for %d records", len(out), len(in))
	}
	for i, o := range out {
		want := strings.ToUpper(string(in[i].Data))
		if o.Result != Ok || string(o.Data) != want || o.PartitionKeys["first"] != string(in[i].Data[:1]) {
			t.Errorf("output %d = %+v, want Ok %q keyed first=%q", i, o, want, in[i].Data[:1])
		}
	}
	if string(in[0].Data) != "alpha" {
		t.Error("http changed its input")
	}

	events, headers, _ := l.calls()
	if len(events) != 1 {
		t.Fatalf("%d invocations, want 1", len(events))
	}
	e, h := events[0], headers[0]
	if !httpTestUUID.MatchString(e.InvocationID) {
		t.Errorf("invocationId = %q, want a UUID", e.InvocationID)
	}
	if e.DeliveryStreamARN != httpTestEnv.DeliveryARN || e.Region != httpTestEnv.Region {
		t.Errorf("deliveryStreamArn, region = %q, %q", e.DeliveryStreamARN, e.Region)
	}
	ids := map[string]bool{}
	for i, r := range e.Records {
		if r.RecordID == "" || ids[r.RecordID] {
			t.Errorf("record %d: recordId %q is empty or repeated", i, r.RecordID)
		}
		ids[r.RecordID] = true
		if want := fmt.Sprintf("%d-%d", in[i].Sequence, i); r.RecordID != want {
			t.Errorf("record %d: recordId = %q, want %q", i, r.RecordID, want)
		}
		if want := in[i].Arrival.UnixMilli(); r.Arrival != want {
			t.Errorf("record %d: approximateArrivalTimestamp = %d, want %d (ms)", i, r.Arrival, want)
		}
		if data, err := base64.StdEncoding.DecodeString(r.Data); err != nil || !bytes.Equal(data, in[i].Data) {
			t.Errorf("record %d: data = %q (%v), want base64 of %q", i, r.Data, err, in[i].Data)
		}
	}
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if h.Get("Authorization") != "Bearer s3cret" || h.Get("X-Api-Key") != "k3y" {
		t.Errorf("custom headers not sent: %v", h)
	}
}

func TestHTTPRegistry(t *testing.T) {
	reg := NewRegistry()
	if err := reg.Register("http", NewHTTP); err != nil {
		t.Fatal(err)
	}
	l := newHTTPTestLambda(t, httpTestUpper)
	tr, err := reg.New("http", httpTestEnv, map[string]any{"url": l.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.(*httpTransform).client.CloseIdleConnections)
	out, err := tr.Process(context.Background(), nil)
	if events, _, _ := l.calls(); err != nil || len(out) != 0 || len(events) != 0 {
		t.Fatalf("empty batch: %d outputs, %v, %d invocations", len(out), err, len(events))
	}
}

func TestHTTPResults(t *testing.T) {
	l := newHTTPTestLambda(t, func(e httpTestEvent) []httpTestResult {
		out := make([]httpTestResult, len(e.Records))
		for i, r := range e.Records {
			data, _ := base64.StdEncoding.DecodeString(r.Data)
			switch {
			case bytes.HasPrefix(data, []byte("drop")):
				out[i] = httpTestResult{RecordID: r.RecordID, Result: "Dropped"}
			case bytes.HasPrefix(data, []byte("fail")):
				out[i] = httpTestResult{RecordID: r.RecordID, Result: "ProcessingFailed", Data: r.Data}
			default:
				out[i] = httpTestResult{RecordID: r.RecordID, Result: "Ok", Data: r.Data}
			}
		}
		return out
	})
	tr := newHTTPTestTransform(t, httpTestEnv, l.URL, nil, false)
	in := httpTestRecords("keep", "drop me", "fail me", "keep too", "")
	in[4].Data = nil
	out, err := tr.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := []Output{
		{Result: Ok, Data: []byte("keep")},
		{Result: Dropped},
		{Result: ProcessingFailed, ErrorCode: "Lambda.ProcessingFailed"},
		{Result: Ok, Data: []byte("keep too")},
		{Result: Ok, Data: []byte{}},
	}
	for i, w := range want {
		o := out[i]
		if o.Result != w.Result || !bytes.Equal(o.Data, w.Data) || o.ErrorCode != w.ErrorCode || o.PartitionKeys != nil {
			t.Errorf("output %d = %+v, want %+v", i, o, w)
		}
		if o.Result == ProcessingFailed && o.ErrorMessage == "" {
			t.Errorf("output %d has no message", i)
		}
	}
}

func TestHTTPContractViolations(t *testing.T) {
	// Each response answers records "a", "b", "c" and breaks the contract for b.
	ok := func(id, data string) httpTestResult {
		return httpTestResult{RecordID: id, Result: "Ok", Data: base64.StdEncoding.EncodeToString([]byte(data))}
	}
	tests := map[string]struct {
		respond  func(ids []string) []httpTestResult
		wantB    Output // b's outcome; a and c are Ok
		wantText string // in b's message
	}{
		"missing recordId": {
			respond: func(ids []string) []httpTestResult { return []httpTestResult{ok(ids[0], "A"), ok(ids[2], "C")} },
			wantB:   Output{Result: ProcessingFailed, ErrorCode: "Lambda.MissingRecordId"}, wantText: "no result for recordId",
		},
		"unknown recordId": {
			respond: func(ids []string) []httpTestResult {
				return []httpTestResult{ok(ids[0], "A"), ok("not-"+ids[1], "B"), ok(ids[2], "C")}
			},
			wantB: Output{Result: ProcessingFailed, ErrorCode: "Lambda.MissingRecordId"}, wantText: "no result for recordId",
		},
		"repeated recordId": {
			respond: func(ids []string) []httpTestResult {
				return []httpTestResult{ok(ids[0], "A"), ok(ids[1], "B"), ok(ids[2], "C"), {RecordID: ids[1], Result: "Dropped"}}
			},
			wantB: Output{Result: ProcessingFailed, ErrorCode: "Lambda.InvalidResponse"}, wantText: "appears 2 times",
		},
		"unknown result": {
			respond: func(ids []string) []httpTestResult {
				return []httpTestResult{ok(ids[0], "A"), {RecordID: ids[1], Result: "OK", Data: "Qg=="}, ok(ids[2], "C")}
			},
			wantB: Output{Result: ProcessingFailed, ErrorCode: "Lambda.InvalidResponse"}, wantText: `result "OK"`,
		},
		"bad base64": {
			respond: func(ids []string) []httpTestResult {
				return []httpTestResult{ok(ids[0], "A"), {RecordID: ids[1], Result: "Ok", Data: "not base64!"}, ok(ids[2], "C")}
			},
			wantB: Output{Result: ProcessingFailed, ErrorCode: "Lambda.InvalidResponse"}, wantText: "not valid base64",
		},
		"reordered": {
			respond: func(ids []string) []httpTestResult {
				return []httpTestResult{ok(ids[2], "C"), ok(ids[1], "B"), ok(ids[0], "A")}
			},
			wantB: Output{Result: Ok, Data: []byte("B")},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			l := newHTTPTestLambda(t, func(e httpTestEvent) []httpTestResult {
				ids := make([]string, len(e.Records))
				for i, r := range e.Records {
					ids[i] = r.RecordID
				}
				return tt.respond(ids)
			})
			tr := newHTTPTestTransform(t, httpTestEnv, l.URL, nil, false)
			out, err := tr.Process(context.Background(), httpTestRecords("a", "b", "c"))
			if err != nil {
				t.Fatal(err)
			}
			if events, _, _ := l.calls(); len(events) != 1 {
				t.Errorf("%d attempts, want 1: a contract violation is not retried", len(events))
			}
			if string(out[0].Data) != "A" || string(out[2].Data) != "C" || out[0].Result != Ok || out[2].Result != Ok {
				t.Errorf("a, c = %+v, %+v; want Ok A, Ok C", out[0], out[2])
			}
			b := out[1]
			if b.Result != tt.wantB.Result || b.ErrorCode != tt.wantB.ErrorCode || !bytes.Equal(b.Data, tt.wantB.Data) ||
				!strings.Contains(b.ErrorMessage, tt.wantText) {
				t.Errorf("b = %+v, want %+v with a message containing %q", b, tt.wantB, tt.wantText)
			}
		})
	}
}

func TestHTTPInvokeFailed(t *testing.T) {
	tests := map[string]struct {
		handler  http.HandlerFunc
		wantText string
	}{
		"not JSON": {
			handler:  func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "<html>Bad Gateway</html>") },
			wantText: "not a transformation result",
		},
		"no records": {
			handler:  func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"errorMessage":"boom"}`) },
			wantText: `no "records" array`,
		},
		"records of the wrong type": {
			handler:  func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"records":"Ok"}`) },
			wantText: "not a transformation result",
		},
		"trailing garbage": {
			handler:  func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"records":[]} {"records":[]}`) },
			wantText: "not a transformation result",
		},
		"HTTP 500": {
			handler:  func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "function crashed", 500) },
			wantText: "HTTP 500: function crashed",
		},
		"redirect": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://example.com/", http.StatusFound)
			},
			wantText: "HTTP 302",
		},
		"response too large": {
			handler: func(w http.ResponseWriter, _ *http.Request) {
				fmt.Fprintf(w, `{"records":[],"padding":"%s"}`, strings.Repeat("x", httpMaxResponse))
			},
			wantText: "larger than",
		},
		"connection closed": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
			},
			wantText: "EOF",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			srv, attempts := newHTTPTestServer(t, tt.handler)
			var logs bytes.Buffer
			env := httpTestEnv
			env.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			tr := newHTTPTestTransform(t, env, srv.URL, map[string]any{
				"retries": 2, "headers": map[string]any{"Authorization": "Bearer s3cret"},
			}, false)
			out, err := tr.Process(context.Background(), httpTestRecords("a", "b"))
			if err != nil {
				t.Fatal(err)
			}
			if n := attempts.Load(); n != 3 {
				t.Errorf("%d attempts, want 3 (retries+1)", n)
			}
			for i, o := range out {
				if o.Result != ProcessingFailed || o.ErrorCode != "Lambda.InvokeFailed" ||
					!strings.Contains(o.ErrorMessage, "after 3 attempts") || !strings.Contains(o.ErrorMessage, tt.wantText) {
					t.Errorf("output %d = %+v, want Lambda.InvokeFailed after 3 attempts: …%s…", i, o, tt.wantText)
				}
			}
			if !strings.Contains(logs.String(), "retrying") {
				t.Errorf("retries were not logged:\n%s", logs.String())
			}
			if strings.Contains(logs.String(), "s3cret") || strings.Contains(out[0].ErrorMessage, "s3cret") {
				t.Errorf("a header value leaked:\n%s", logs.String())
			}
		})
	}
}

// httpTestHang never answers: it returns when the client goes away or the
// test ends. It reads the body first, as the server only notices a client
// going away once the body has been read.
func httpTestHang(t *testing.T, started chan<- struct{}) http.HandlerFunc {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	return func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if started != nil {
			started <- struct{}{}
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

func TestHTTPTimeout(t *testing.T) {
	srv, attempts := newHTTPTestServer(t, httpTestHang(t, nil))
	tr := newHTTPTestTransform(t, httpTestEnv, srv.URL, map[string]any{"timeout": "100ms", "retries": 1}, false)
	out, err := tr.Process(context.Background(), httpTestRecords("a"))
	if err != nil {
		t.Fatal(err)
	}
	if n := attempts.Load(); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
	if o := out[0]; o.ErrorCode != "Lambda.InvokeFailed" || !strings.Contains(o.ErrorMessage, "no response within 100ms") {
		t.Errorf("output = %+v, want Lambda.InvokeFailed: no response within 100ms", o)
	}
}

func TestHTTPRetryThenSucceed(t *testing.T) {
	var calls atomic.Int32
	l := newHTTPTestLambda(t, httpTestUpper)
	srv, attempts := newHTTPTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			var e httpTestEvent
			_ = json.NewDecoder(r.Body).Decode(&e)
			l.mu.Lock()
			l.events = append(l.events, e)
			l.mu.Unlock()
			http.Error(w, "cold start", http.StatusInternalServerError)
			return
		}
		l.Config.Handler.ServeHTTP(w, r)
	})
	tr := newHTTPTestTransform(t, httpTestEnv, srv.URL, nil, true) // the real 200ms backoff
	out, err := tr.Process(context.Background(), httpTestRecords("a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if n := attempts.Load(); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
	if out[0].Result != Ok || string(out[0].Data) != "A" || out[1].Result != Ok || string(out[1].Data) != "B" {
		t.Errorf("outputs = %+v", out)
	}
	if events, _, _ := l.calls(); len(events) != 2 || events[0].InvocationID != events[1].InvocationID {
		t.Errorf("want 2 attempts with one invocationId, got %d", len(events))
	}
}

func TestHTTPContextDone(t *testing.T) {
	tests := map[string]struct {
		handler func(t *testing.T, started chan<- struct{}) http.HandlerFunc
		backoff time.Duration
	}{
		"during a request": {handler: httpTestHang},
		"during backoff": {
			handler: func(_ *testing.T, started chan<- struct{}) http.HandlerFunc {
				return func(w http.ResponseWriter, _ *http.Request) {
					http.Error(w, "unavailable", http.StatusServiceUnavailable)
					started <- struct{}{}
				}
			},
			backoff: time.Hour,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			started := make(chan struct{}, 10)
			srv, _ := newHTTPTestServer(t, tt.handler(t, started))
			tr := newHTTPTestTransform(t, httpTestEnv, srv.URL, map[string]any{"timeout": "1h"}, false)
			if tt.backoff > 0 {
				tr.backoff = retry.Backoff{Initial: tt.backoff, Max: tt.backoff}
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := tr.Process(ctx, httpTestRecords("a"))
				done <- err
			}()
			<-started
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Process returned %v, want context.Canceled", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Process did not return after ctx was cancelled")
			}
		})
	}

	t.Run("already done", func(t *testing.T) {
		srv, attempts := newHTTPTestServer(t, func(http.ResponseWriter, *http.Request) {})
		tr := newHTTPTestTransform(t, httpTestEnv, srv.URL, nil, false)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := tr.Process(ctx, httpTestRecords("a")); !errors.Is(err, context.Canceled) {
			t.Errorf("Process returned %v, want context.Canceled", err)
		}
		if n := attempts.Load(); n != 0 {
			t.Errorf("%d requests with a done ctx", n)
		}
	})
}

// Partition keys a Lambda returns are path segments too: one that would
// climb out of its partition fails its record alone.
func TestHTTPTransformRefusesUnsafePartitionKeys(t *testing.T) {
	l := newHTTPTestLambda(t, httpTestUpper) // keys each record by its first byte
	tr := newHTTPTestTransform(t, httpTestEnv, l.URL, nil, false)
	out, err := tr.Process(context.Background(), httpTestRecords("/etc", "ok", "\nx"))
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Result != ProcessingFailed || !strings.Contains(out[0].ErrorMessage, `partition key "first" contains '/'`) {
		t.Errorf("a '/' key: %+v", out[0])
	}
	if out[1].Result != Ok {
		t.Errorf("a safe key: %+v", out[1])
	}
	if out[2].Result != ProcessingFailed || !strings.Contains(out[2].ErrorMessage, "control character") {
		t.Errorf("a newline key: %+v", out[2])
	}
}
