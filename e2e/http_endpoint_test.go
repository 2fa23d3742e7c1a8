package e2e

import (
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
)

// firehoseReceiver is an HTTP endpoint written here from Firehose's HTTP
// endpoint delivery request and response specification, independently of
// Hydrant's sender: it checks each request's method, headers and body,
// keeps the records of each request id, and answers 200 with
// {"requestId","timestamp"}. Requests to /refuse are answered 500. It can
// be stopped and started again on the same address.
type firehoseReceiver struct {
	t         *testing.T
	addr      string
	accessKey string // the X-Amz-Firehose-Access-Key expected; "" for none

	mu       sync.Mutex
	srv      *http.Server
	byID     map[string][]string // records of the first accepted request of each id
	requests int                 // accepted requests, repeats included
	repeats  int                 // accepted requests whose id was accepted before
	headers  http.Header         // of the last accepted request
	// hold, when set, takes the next accepted request's id; that request
	// then gets no answer until its connection is gone (the sender killed
	// with the request in flight).
	hold chan string
}

func startFirehoseReceiver(t *testing.T, accessKey string) *firehoseReceiver {
	r := &firehoseReceiver{t: t, addr: freeAddr(t), accessKey: accessKey, byID: map[string][]string{}}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *firehoseReceiver) start() {
	r.t.Helper()
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// stop closes the listener and every connection: senders see the
// endpoint gone.
func (r *firehoseReceiver) stop() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

func (r *firehoseReceiver) url(path string) string { return "http://" + r.addr + path }

func (r *firehoseReceiver) serve(w http.ResponseWriter, req *http.Request) {
	id := req.Header.Get("X-Amz-Firehose-Request-Id")
	answer := func(status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		body, _ := json.Marshal(map[string]any{"requestId": id, "timestamp": time.Now().UnixMilli(), "errorMessage": msg})
		_, _ = w.Write(body)
	}
	bad := func(format string, args ...any) {
		r.t.Errorf("receiver: "+format, args...)
		answer(http.StatusBadRequest, "bad request")
	}
	switch {
	case req.Method != http.MethodPost:
		bad("method %s", req.Method)
		return
	case req.Header.Get("X-Amz-Firehose-Protocol-Version") != "1.0":
		bad("protocol version %q", req.Header.Get("X-Amz-Firehose-Protocol-Version"))
		return
	case req.Header.Get("Content-Type") != "application/json":
		bad("content type %q", req.Header.Get("Content-Type"))
		return
	case id == "":
		bad("no request id")
		return
	case req.Header.Get("X-Amz-Firehose-Access-Key") != r.accessKey:
		answer(http.StatusUnauthorized, "wrong access key")
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			bad("gzip: %v", err)
			return
		}
		body = zr
	}
	var doc struct {
		RequestID string `json:"requestId"`
		Timestamp int64  `json:"timestamp"`
		Records   []struct {
			Data string `json:"data"`
		} `json:"records"`
	}
	if err := json.NewDecoder(body).Decode(&doc); err != nil || doc.RequestID != id || doc.Timestamp == 0 {
		bad("body: %v (requestId %q, header %q, timestamp %d)", err, doc.RequestID, id, doc.Timestamp)
		return
	}
	records := make([]string, len(doc.Records))
	for i, rec := range doc.Records {
		data, err := base64.StdEncoding.DecodeString(rec.Data)
		if err != nil {
			bad("record data: %v", err)
			return
		}
		records[i] = string(data)
	}
	if req.URL.Path == "/refuse" {
		answer(http.StatusInternalServerError, "refused by the test")
		return
	}
	r.mu.Lock()
	r.requests++
	r.headers = req.Header.Clone()
	if first, ok := r.byID[id]; ok {
		r.repeats++
		if !slices.Equal(first, records) {
			r.t.Errorf("request id %s came again with other records (%d, first %d)", id, len(records), len(first))
		}
	} else {
		r.byID[id] = records
	}
	hold := r.hold
	r.hold = nil
	r.mu.Unlock()
	if hold != nil {
		hold <- id
		<-req.Context().Done()
		return
	}
	answer(http.StatusOK, "")
}

// counts returns how many times each record arrived, counting each
// request id once (as a receiver that drops repeated ids sees them), and
// how many requests were accepted and how many were repeats.
func (r *firehoseReceiver) counts() (deduped map[string]int, requests, repeats int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	deduped = map[string]int{}
	for _, recs := range r.byID {
		for _, rec := range recs {
			deduped[rec]++
		}
	}
	return deduped, r.requests, r.repeats
}

const httpEndpointConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: events
    shards: 2
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
deliveries:
  - name: events-http
    source: events
    buffer: {size: 1MiB, interval: 200ms}
    retry: {duration: 600s}
    destination:
      http:
        url: "${RECEIVER_URL}/firehose"
        name: test-receiver
        access_key: "${RECEIVER_KEY}"
        common_attributes: {env: e2e, team: data}
        content_encoding: gzip
        request_timeout: 5s
  - name: events-refused
    source: events
    buffer: {size: 1MiB, interval: 200ms}
    retry: {duration: 1s}
    destination:
      http:
        url: "${RECEIVER_URL}/refuse"
        access_key: "${RECEIVER_KEY}"
`

// Records put to the real binary reach a receiver written from Firehose's
// specification, each exactly once, with the configured headers; records
// an endpoint keeps refusing go to the error output as http-endpoint-failed
// after the retry duration; and a receiver down for 3 s (15 flush
// intervals) while producers put loses nothing.
func TestHTTPEndpointDelivery(t *testing.T) {
	const key = "e2e-access-key-0123"
	rcv := startFirehoseReceiver(t, key)
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, httpEndpointConfig, "RECEIVER_URL=http://"+rcv.addr, "RECEIVER_KEY="+key)
	put := func(from, to int) {
		t.Helper()
		var body strings.Builder
		for n := from; n < to; n++ {
			fmt.Fprintf(&body, "{\"n\":%d}\n", n)
		}
		status, res, err := h.put("events", []byte(body.String()))
		if err != nil || status != http.StatusOK || res.FailedRecordCount != 0 {
			t.Fatalf("put: %d %+v %v", status, res, err)
		}
	}
	exactlyOnce := func(total int) {
		t.Helper()
		await.Cond(t, 60*time.Second, fmt.Sprintf("%d records at the receiver", total), func() bool {
			got, _, _ := rcv.counts()
			return len(got) >= total
		})
		got, requests, repeats := rcv.counts()
		for n := range total {
			if c := got[fmt.Sprintf("{\"n\":%d}", n)]; c != 1 {
				t.Fatalf("record %d received %d times", n, c)
			}
		}
		if len(got) != total || repeats != 0 {
			t.Fatalf("%d distinct records, %d repeated requests; want %d and 0", len(got), repeats, total)
		}
		t.Logf("%d records in %d requests", total, requests)
	}
	for i := 0; i < 1000; i += 100 {
		put(i, i+100)
	}
	exactlyOnce(1000)
	rcv.mu.Lock()
	hdr := rcv.headers
	rcv.mu.Unlock()
	if hdr.Get("Content-Encoding") != "gzip" || hdr.Get("X-Amz-Firehose-Common-Attributes") != `{"commonAttributes":{"env":"e2e","team":"data"}}` ||
		hdr.Get("X-Amz-Firehose-Source-Arn") == "" || !strings.HasSuffix(hdr.Get("X-Amz-Firehose-Source-Arn"), ":deliverystream/events-http") {
		t.Errorf("headers %v", hdr)
	}

	// The refusing endpoint's records go to the error output once the 1 s
	// retry duration has passed, in Firehose's error format.
	var failed []map[string]any
	await.Cond(t, 30*time.Second, "1,000 records in the error output", func() bool {
		failed = httpErrorDocuments(t, filepath.Join(dir, "data", "errors", "events-refused"))
		return len(failed) >= 1000
	})
	for _, doc := range failed[:5] {
		raw, _ := base64.StdEncoding.DecodeString(doc["rawData"].(string))
		if doc["errorCode"] != "HttpEndpoint.DestinationException" || !strings.Contains(doc["errorMessage"].(string), "500") ||
			doc["attemptsMade"].(float64) < 2 || !strings.HasPrefix(string(raw), `{"n":`) {
			t.Errorf("error document %v", doc)
		}
	}
	if len(failed) != 1000 {
		t.Errorf("%d records in the error output, want 1000", len(failed))
	}

	// The receiver goes away for 3 s while producers put; once it is back,
	// every record arrives, each once.
	rcv.stop()
	down := time.Now()
	for i := 1000; i < 1500; i += 100 {
		put(i, i+100)
	}
	await.Cond(t, 30*time.Second, "hydrant retrying against the stopped receiver for 3 s", func() bool {
		log, _ := os.ReadFile(h.logPath)
		return strings.Contains(string(log), "endpoint did not accept the request, retrying") && time.Since(down) >= 3*time.Second
	})
	rcv.start()
	exactlyOnce(1500)
	h.stop()
	if leaked, _ := os.ReadFile(h.logPath); strings.Contains(string(leaked), key) {
		t.Error("the access key is in the log")
	}
}

// httpErrorDocuments reads the error documents under dir; none when dir
// does not exist yet.
func httpErrorDocuments(t *testing.T, dir string) []map[string]any {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return errorDocuments(t, dir)
}

const httpEndpointKillConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: orders
    shards: 2
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
deliveries:
  - name: orders-http
    source: orders
    buffer: {size: 1MiB, interval: 300ms}
    retry: {duration: 600s}
    destination:
      http: {url: "${RECEIVER_URL}/firehose"}
`

// Three kill -9s while producers put, each with a request the receiver
// took still unanswered, and each followed by a restart on the same data
// dir: every acknowledged record reaches the receiver, the requests in
// flight come again with the same ids and records (the receiver checks),
// and no record comes under a second id — a receiver that drops repeated
// ids sees each record once.
func TestHTTPEndpointKill9UnderLoad(t *testing.T) {
	rcv := startFirehoseReceiver(t, "")
	dir, listen := t.TempDir(), freeAddr(t)
	env := "RECEIVER_URL=http://" + rcv.addr
	h := startHydrant(t, dir, listen, httpEndpointKillConfig, env)
	rng := faultRand(t)
	load := newFaultLoad(t, "http://"+listen, "orders", "http")
	load.pace = 2 * time.Millisecond
	load.start(2)
	var heldIDs []string
	for kill := 1; kill <= 3; kill++ {
		before := load.ackedCount()
		_, delivered, _ := rcv.counts()
		await.Cond(t, 30*time.Second, fmt.Sprintf("1,000 records acknowledged and 2 requests delivered before kill %d", kill),
			func() bool {
				_, n, _ := rcv.counts()
				return load.ackedCount() >= before+1000 && n >= delivered+2
			})
		delay := time.Duration(rng.IntN(700)) * time.Millisecond
		select { // the random moment of the kill, among flushes
		case <-time.After(delay):
		case <-h.exited:
			t.Fatalf("hydrant exited by itself before kill %d", kill)
		}
		// The kill lands while a request the receiver took is unanswered:
		// the restarted process must send those records again, as the same
		// request.
		held := make(chan string, 1)
		rcv.mu.Lock()
		rcv.hold = held
		rcv.mu.Unlock()
		select {
		case id := <-held:
			heldIDs = append(heldIDs, id)
		case <-time.After(30 * time.Second):
			t.Fatalf("no request reached the receiver before kill %d", kill)
		}
		h.kill()
		t.Logf("kill -9 #%d after %v, a request in flight: %d records acknowledged so far", kill, delay, load.ackedCount())
		load.phase.Add(1)
		h = startHydrant(t, dir, listen, httpEndpointKillConfig, env)
	}
	before := load.ackedCount()
	await.Cond(t, 30*time.Second, "1,000 records acknowledged after the last restart",
		func() bool { return load.ackedCount() >= before+1000 })
	load.stopAndWait()
	acked := keys(load.ackedSnapshot())
	idOf := func(rec string) string {
		var r struct{ ID string }
		_ = json.Unmarshal([]byte(rec), &r)
		return r.ID
	}
	waitFor(t, time.Minute, "every acknowledged record at the receiver", acked, func(ids []string) []string {
		got, _, _ := rcv.counts()
		seen := make(map[string]bool, len(got))
		for rec := range got {
			seen[idOf(rec)] = true
		}
		var missing []string
		for _, id := range ids {
			if !seen[id] {
				missing = append(missing, id)
			}
		}
		return missing
	})
	h.stop()
	got, requests, repeats := rcv.counts()
	twice := 0
	for _, c := range got {
		twice += c - 1
	}
	t.Logf("%d acknowledged records; %d requests accepted, %d of them repeating an id (same records); "+
		"%d records also arrived under a second id", len(acked), requests, repeats, twice)
	if repeats < len(heldIDs) {
		t.Errorf("%d requests repeated, want at least the %d in flight at the kills", repeats, len(heldIDs))
	}
	if twice != 0 {
		t.Errorf("%d records arrived again under another request id: a receiver dropping repeated ids would see them twice", twice)
	}
}
