package httpendpoint

import (
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// received is one request as the receiver read it.
type received struct {
	id, accessKey, attributes, encoding string
	timestamp                           int64
	records                             []string
}

// receiver is an endpoint written from Firehose's specification: it checks
// the method, the headers and the body's shape, and answers 200 with
// {"requestId","timestamp"} unless answer says otherwise (a status, a
// body, or a wait longer than the client's timeout).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(n int, id string) (status int, body string, wait time.Duration)
}

func newReceiver(t *testing.T, answer func(n int, id string) (int, string, time.Duration)) *receiver {
	r := &receiver{t: t, answer: answer}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	fail := func(format string, args ...any) {
		r.t.Errorf(format, args...)
		w.WriteHeader(http.StatusBadRequest)
	}
	if req.Method != http.MethodPost {
		fail("method %s, want POST", req.Method)
		return
	}
	if got := req.Header.Get("X-Amz-Firehose-Protocol-Version"); got != "1.0" {
		fail("protocol version %q", got)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		fail("content type %q", ct)
		return
	}
	id := req.Header.Get("X-Amz-Firehose-Request-Id")
	if _, err := uuid.Parse(id); err != nil {
		fail("request id %q is not a GUID: %v", id, err)
		return
	}
	var body io.Reader = req.Body
	enc := req.Header.Get("Content-Encoding")
	switch enc {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			fail("gzip: %v", err)
			return
		}
		body = zr
	default:
		fail("content encoding %q", enc)
		return
	}
	var doc struct {
		RequestID string            `json:"requestId"`
		Timestamp *int64            `json:"timestamp"`
		Records   []json.RawMessage `json:"records"`
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		fail("body: %v", err)
		return
	}
	if doc.RequestID != id || doc.Timestamp == nil || doc.Records == nil {
		fail("body requestId %q (header %q), timestamp %v, records %v", doc.RequestID, id, doc.Timestamp, doc.Records != nil)
		return
	}
	got := received{id: id, accessKey: req.Header.Get("X-Amz-Firehose-Access-Key"),
		attributes: req.Header.Get("X-Amz-Firehose-Common-Attributes"), encoding: enc, timestamp: *doc.Timestamp}
	for _, raw := range doc.Records {
		var rec map[string]string
		if err := json.Unmarshal(raw, &rec); err != nil || len(rec) != 1 {
			fail("record %s is not {\"data\": …}", raw)
			return
		}
		data, err := base64.StdEncoding.DecodeString(rec["data"])
		if err != nil {
			fail("record data: %v", err)
			return
		}
		got.records = append(got.records, string(data))
	}
	r.mu.Lock()
	n := len(r.got)
	r.got = append(r.got, got)
	r.mu.Unlock()
	status, answer, wait := http.StatusOK, "", time.Duration(0)
	if r.answer != nil {
		status, answer, wait = r.answer(n, id)
	}
	if wait > 0 {
		select {
		case <-time.After(wait):
		case <-req.Context().Done():
			return
		}
	}
	if answer == "" {
		answer = fmt.Sprintf(`{"requestId":%q,"timestamp":%d}`, id, time.Now().UnixMilli())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, answer)
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func batch(n int) *buffer.Batch {
	b := &buffer.Batch{Delivery: "d", ShardID: "shardId-000000000000"}
	for i := range n {
		data := fmt.Sprintf(`{"n":%d}`, i)
		b.Records = append(b.Records, buffer.Record{Data: []byte(data), Sequence: uint64(100 + i)})
		b.Bytes += len(data)
	}
	return b
}

func newDest(t *testing.T, cfg Config) *Destination {
	t.Helper()
	if cfg.Retry.InitialBackoff == 0 {
		cfg.Retry.InitialBackoff, cfg.Retry.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
	}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d
}

func TestDeliverWireFormat(t *testing.T) {
	for name, gz := range map[string]bool{"plain": false, "gzip": true} {
		t.Run(name, func(t *testing.T) {
			rcv := newReceiver(t, nil)
			d := newDest(t, Config{URL: rcv.srv.URL + "/firehose?x=1", AccessKey: "k3y", Gzip: gz,
				CommonAttributes: map[string]string{"env": "test", "team": "a"}})
			b := batch(5)
			if err := d.Deliver(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			got := rcv.requests()
			if len(got) != 1 {
				t.Fatalf("%d requests, want 1", len(got))
			}
			r := got[0]
			if r.accessKey != "k3y" || r.attributes != `{"commonAttributes":{"env":"test","team":"a"}}` {
				t.Errorf("access key %q, attributes %q", r.accessKey, r.attributes)
			}
			if want := map[bool]string{true: "gzip"}[gz]; r.encoding != want {
				t.Errorf("encoding %q, want %q", r.encoding, want)
			}
			if r.id != RequestID(b, 0, 5) {
				t.Errorf("id %s, want %s", r.id, RequestID(b, 0, 5))
			}
			if strings.Join(r.records, ",") != `{"n":0},{"n":1},{"n":2},{"n":3},{"n":4}` {
				t.Errorf("records %v", r.records)
			}
			if age := time.Since(time.UnixMilli(r.timestamp)); age < 0 || age > time.Minute {
				t.Errorf("timestamp %d", r.timestamp)
			}
		})
	}
}

func TestNoHeadersWhenNotConfigured(t *testing.T) {
	rcv := newReceiver(t, nil)
	d := newDest(t, Config{URL: rcv.srv.URL})
	if err := d.Deliver(context.Background(), batch(1)); err != nil {
		t.Fatal(err)
	}
	if r := rcv.requests()[0]; r.accessKey != "" || r.attributes != "" || r.encoding != "" {
		t.Errorf("unexpected headers: %+v", r)
	}
}

// A failure of any kind is retried with the same request id and body
// until accepted.
func TestRetriedWithTheSameID(t *testing.T) {
	cases := map[string]func(n int, id string) (int, string, time.Duration){
		"429": func(n int, _ string) (int, string, time.Duration) { return pick(n, 429), "", 0 },
		"500": func(n int, _ string) (int, string, time.Duration) {
			return pick(n, 500), map[bool]string{true: `{"errorMessage":"boom"}`}[n < 2], 0
		},
		"204":      func(n int, _ string) (int, string, time.Duration) { return pick(n, 204), "", 0 },
		"413":      func(n int, _ string) (int, string, time.Duration) { return pick(n, 413), "", 0 },
		"not json": func(n int, _ string) (int, string, time.Duration) { return 200, map[bool]string{true: "OK"}[n < 2], 0 },
		"mismatched id": func(n int, _ string) (int, string, time.Duration) {
			return 200, map[bool]string{true: `{"requestId":"other","timestamp":1}`}[n < 2], 0
		},
		"timeout": func(n int, _ string) (int, string, time.Duration) {
			return 200, "", map[bool]time.Duration{true: time.Second}[n < 2]
		},
		"no requestId": func(n int, _ string) (int, string, time.Duration) {
			return 200, map[bool]string{true: `{"timestamp":1}`}[n < 2], 0
		},
		"huge 200 answer": func(n int, id string) (int, string, time.Duration) { return 200, hugeAnswer(n, id), 0 },
	}
	for name, answer := range cases {
		t.Run(name, func(t *testing.T) {
			rcv := newReceiver(t, answer)
			d := newDest(t, Config{URL: rcv.srv.URL, RequestTimeout: 100 * time.Millisecond,
				Retry: destinations.RetryConfig{Duration: time.Minute}})
			b := batch(3)
			if err := d.Deliver(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			got := rcv.requests()
			if len(got) != 3 {
				t.Fatalf("%d requests, want 3 (two failed, one accepted)", len(got))
			}
			for _, r := range got {
				if r.id != got[0].id || r.timestamp != got[0].timestamp || len(r.records) != 3 {
					t.Errorf("attempt %+v differs from the first %+v", r, got[0])
				}
			}
		})
	}
}

// pick fails the first two attempts with status, then accepts.
func pick(n, status int) int {
	if n < 2 {
		return status
	}
	return http.StatusOK
}

func hugeAnswer(n int, id string) string {
	if n >= 2 {
		return ""
	}
	return fmt.Sprintf(`{"requestId":%q,"timestamp":1,"errorMessage":%q}`, id, strings.Repeat("x", maxResponseBytes))
}

// Past the retry duration, the records go back as per-record errors of
// type http-endpoint-failed, with the last attempt's code and count.
func TestRetryDurationThenErrorOutput(t *testing.T) {
	cases := map[string]struct {
		answer   func(int, string) (int, string, time.Duration)
		code     string
		contains string
	}{
		"500": {func(int, string) (int, string, time.Duration) { return 500, `{"errorMessage":"disk full"}`, 0 },
			CodeDestinationException, "500: {\"errorMessage\":\"disk full\"}"},
		"mismatched id": {func(int, string) (int, string, time.Duration) { return 200, `{"requestId":"x","timestamp":1}`, 0 },
			CodeInvalidResponse, `answered with requestId "x"`},
		"timeout": {func(int, string) (int, string, time.Duration) { return 200, "", time.Second },
			CodeRequestTimeout, "no response within"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rcv := newReceiver(t, c.answer)
			d := newDest(t, Config{URL: rcv.srv.URL, RequestTimeout: 50 * time.Millisecond,
				Retry: destinations.RetryConfig{Duration: 150 * time.Millisecond}})
			err := d.Deliver(context.Background(), batch(4))
			var re *destinations.RecordErrors
			if !errors.As(err, &re) {
				t.Fatalf("error %v, want *RecordErrors", err)
			}
			if re.Type != ErrorType || re.Code != c.code || len(re.Failed) != 4 {
				t.Fatalf("type %s code %s failed %d", re.Type, re.Code, len(re.Failed))
			}
			var de *destinations.DocumentError
			if !errors.As(re.Failed[3], &de) || de.Attempts < 2 || de.Attempts != len(rcv.requests()) ||
				!strings.Contains(de.Message, c.contains) {
				t.Fatalf("failure %+v after %d requests", de, len(rcv.requests()))
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	d := newDest(t, Config{URL: url, Retry: destinations.RetryConfig{Duration: 30 * time.Millisecond}})
	err := d.Deliver(context.Background(), batch(2))
	var re *destinations.RecordErrors
	if !errors.As(err, &re) || re.Code != CodeConnectionFailed || len(re.Failed) != 2 {
		t.Fatalf("error %v", err)
	}
}

func TestContextEndsDelivery(t *testing.T) {
	rcv := newReceiver(t, func(int, string) (int, string, time.Duration) { return 503, "", 0 })
	d := newDest(t, Config{URL: rcv.srv.URL, Retry: destinations.RetryConfig{Duration: time.Hour}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := d.Deliver(ctx, batch(2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the context's", err)
	}
}

// MaxRequestBytes splits a batch; a request accepted is not sent again
// when a later one is retried, and only the refused one's records fail.
func TestSplitRequests(t *testing.T) {
	var refuse string
	rcv := newReceiver(t, func(n int, id string) (int, string, time.Duration) {
		if id == refuse {
			return 500, "", 0
		}
		return 200, "", 0
	})
	b := batch(10) // each record {"n":i} is 8 bytes, 12 in base64, 24 with its JSON
	d := newDest(t, Config{URL: rcv.srv.URL, MaxRequestBytes: bodyOverhead + 4*24,
		Retry: destinations.RetryConfig{Duration: 60 * time.Millisecond}})
	refuse = RequestID(b, 4, 8)
	err := d.Deliver(context.Background(), b)
	var re *destinations.RecordErrors
	if !errors.As(err, &re) || len(re.Failed) != 4 {
		t.Fatalf("error %v", err)
	}
	for i := 4; i < 8; i++ {
		if re.Failed[i] == nil {
			t.Errorf("record %d not failed", i)
		}
	}
	counts := map[string]int{}
	for _, r := range rcv.requests() {
		counts[r.id]++
	}
	if counts[RequestID(b, 0, 4)] != 1 || counts[RequestID(b, 8, 10)] != 1 || counts[refuse] < 2 {
		t.Fatalf("requests by id %v", counts)
	}
}

func TestRequestIDs(t *testing.T) {
	b := batch(5)
	id := RequestID(b, 0, 5)
	if _, err := uuid.Parse(id); err != nil {
		t.Fatal(err)
	}
	if RequestID(batch(5), 0, 5) != id {
		t.Error("the same records got another id")
	}
	other := map[string]*buffer.Batch{"shard": batch(5), "delivery": batch(5), "count": batch(6), "sub": batch(5)}
	other["shard"].ShardID = "shardId-000000000001"
	other["delivery"].Delivery = "e"
	other["sub"].Records[4].SubSequence = 1
	for name, ob := range other {
		if RequestID(ob, 0, len(ob.Records)) == id {
			t.Errorf("%s: same id", name)
		}
	}
	if RequestID(b, 0, 4) == id || RequestID(b, 1, 5) == id {
		t.Error("a part of the batch has the batch's id")
	}
}

func TestNewRefuses(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no url":    {},
		"ftp":       {URL: "ftp://x/"},
		"long key":  {URL: "http://x/", AccessKey: strings.Repeat("k", MaxAccessKeyBytes+1)},
		"not a url": {URL: "http://[::1"},
		"no host":   {URL: "http:///path"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func BenchmarkAppendBody(b *testing.B) {
	recs := make([]buffer.Record, 1000)
	data := []byte(strings.Repeat(`{"k":"value"}`, 80)) // ~1 KiB
	for i := range recs {
		recs[i] = buffer.Record{Data: data}
	}
	buf := make([]byte, 0, 2<<20)
	b.ReportAllocs()
	b.SetBytes(int64(len(data) * len(recs)))
	for b.Loop() {
		buf = AppendBody(buf[:0], "00000000-0000-0000-0000-000000000000", 1, recs)
	}
}
