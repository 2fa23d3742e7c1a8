package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/hydrant-dev/hydrant/ingest/auth"
	"github.com/hydrant-dev/hydrant/internal/jsonpointer"
	"github.com/hydrant-dev/hydrant/shards"
)

type putResponse struct {
	FailedRecordCount int `json:"failed_record_count"`
	Records           []struct {
		ShardID        string `json:"shard_id"`
		SequenceNumber string `json:"sequence_number"`
		ErrorCode      string `json:"error_code"`
		ErrorMessage   string `json:"error_message"`
	} `json:"records"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type testEnv struct {
	store *shards.Store
	srv   *httptest.Server
	now   time.Time
}

func newTestEnv(t *testing.T, limits shards.Limits) *testEnv {
	t.Helper()
	return newTestEnvLimits(t, limits, Limits{MaxRequestSize: 64 << 10, MaxRecordSize: 1000})
}

// newTestEnvLimits serves streams "clicks" (4 shards, partition key field
// /user_id) and "plain" (1 shard), and delivery "clicks-archive" reading
// clicks, with request limits req.
func newTestEnvLimits(t *testing.T, limits shards.Limits, req Limits) *testEnv {
	t.Helper()
	ctx := context.Background()
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: t.TempDir(), SyncAlways: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clicks, err := store.CreateStream(ctx, shards.StreamSpec{Name: "clicks", Shards: 4, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := store.CreateStream(ctx, shards.StreamSpec{Name: "plain", Shards: 1, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	env := &testEnv{store: store, now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	s, err := NewServer(req,
		map[string]Target{
			"clicks":         {Stream: clicks, PartitionKeyField: "/user_id"},
			"plain":          {Stream: plain},
			"clicks-archive": {ReadsFrom: "clicks"},
		}, nil, Settings{Now: func() time.Time { return env.now }})
	if err != nil {
		t.Fatal(err)
	}
	env.srv = httptest.NewServer(s.Handler())
	t.Cleanup(env.srv.Close)
	return env
}

func (e *testEnv) put(t *testing.T, stream string, header http.Header, body []byte) (int, http.Header, putResponse) {
	t.Helper()
	status, respHeader, raw := e.roundTrip(t, stream, header, body)
	var out putResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, raw)
	}
	return status, respHeader, out
}

// roundTrip posts body to stream ("name?query") and returns the status,
// headers and body of the answer.
func (e *testEnv) roundTrip(t *testing.T, stream string, header http.Header, body []byte) (int, http.Header, []byte) {
	t.Helper()
	stream, query, _ := strings.Cut(stream, "?")
	if query != "" {
		query = "?" + query
	}
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/streams/"+stream+"/records"+query, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, raw
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zst(b []byte) []byte {
	enc, _ := zstd.NewWriter(nil)
	return enc.EncodeAll(b, nil)
}

var generous = shards.Limits{BytesPerSecond: 1 << 30, RecordsPerSecond: 1_000_000}

func TestPutFormats(t *testing.T) {
	ndjson := []byte("{\"user_id\":\"a\",\"n\":1}\n\n{\"user_id\":\"b\",\"n\":2}\r\n{\"n\":3}")
	tests := map[string]struct {
		stream  string
		header  http.Header
		body    []byte
		records []string // data read back from the log, in put order
	}{
		"ndjson": {"clicks", hdr("Content-Type", "application/x-ndjson"), ndjson,
			[]string{`{"user_id":"a","n":1}`, `{"user_id":"b","n":2}`, `{"n":3}`}},
		"ndjson without content type": {"clicks", nil, ndjson,
			[]string{`{"user_id":"a","n":1}`, `{"user_id":"b","n":2}`, `{"n":3}`}},
		"json array": {"clicks", hdr("Content-Type", "application/json"), []byte(`[{"user_id":"a"}, 7, "x"]`),
			[]string{`{"user_id":"a"}`, `7`, `"x"`}},
		"pretty json array is stored compact": {"clicks", hdr("Content-Type", "application/json"),
			[]byte("[\n  {\"user_id\": \"a\",\n   \"tags\": [1, 2]},\n  \"two\\nlines\"\n]\n"),
			[]string{`{"user_id":"a","tags":[1,2]}`, `"two\nlines"`}},
		"text lines": {"plain", hdr("Content-Type", "text/plain; charset=utf-8"), []byte("<13>Nov 25 host app: hello\nnot json {\n"),
			[]string{"<13>Nov 25 host app: hello", "not json {"}},
		"gzip": {"clicks", hdr("Content-Type", "application/x-ndjson", "Content-Encoding", "gzip"), gz(ndjson),
			[]string{`{"user_id":"a","n":1}`, `{"user_id":"b","n":2}`, `{"n":3}`}},
		"zstd": {"plain", hdr("Content-Type", "text/plain", "Content-Encoding", "zstd"), zst([]byte("a\nb\n")),
			[]string{"a", "b"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			env := newTestEnv(t, generous)
			status, _, resp := env.put(t, tt.stream, tt.header, tt.body)
			if status != http.StatusOK || resp.FailedRecordCount != 0 || len(resp.Records) != len(tt.records) {
				t.Fatalf("status %d, response %+v", status, resp)
			}
			for i, r := range resp.Records {
				shard, err := shards.ParseShardID(r.ShardID)
				if err != nil {
					t.Fatal(err)
				}
				seq, err := shards.ParseSequence(r.SequenceNumber)
				if err != nil {
					t.Fatal(err)
				}
				if got := readOne(t, env.store, tt.stream, shard, seq); got != tt.records[i] {
					t.Errorf("record %d = %q, want %q", i, got, tt.records[i])
				}
			}
		})
	}
}

// readOne reads the record stored at seq.
func readOne(t *testing.T, s *shards.Store, stream string, shard int, seq shards.Sequence) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := s.OpenReader(ctx, stream, shard, seq-1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	recs, err := r.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if recs[0].Sequence != seq {
		t.Fatalf("read sequence %d, want %d", recs[0].Sequence, seq)
	}
	return string(recs[0].Data)
}

func TestPartitionKeys(t *testing.T) {
	env := newTestEnv(t, generous)
	m := shards.NewShardMap(4)
	wantShard := func(key string) string { return shards.ShardID(m.Shard(shards.HashPartitionKey(key))) }
	tests := map[string]struct {
		url    string
		header http.Header
		body   string
		want   []string // shard ids
	}{
		"from the configured field": {"", nil, "{\"user_id\":\"user-1\"}\n{\"user_id\":\"hydrant\"}\n{\"user_id\":42}",
			[]string{wantShard("user-1"), wantShard("hydrant"), wantShard("42")}},
		"query parameter wins": {"?partition_key=a", nil, "{\"user_id\":\"user-1\"}", []string{wantShard("a")}},
		"header":               {"", hdr("X-Partition-Key", "partitionKey"), "{\"user_id\":\"user-1\"}", []string{wantShard("partitionKey")}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			status, _, resp := env.put(t, "clicks"+tt.url, tt.header, []byte(tt.body))
			if status != http.StatusOK {
				t.Fatalf("status %d: %+v", status, resp)
			}
			for i, want := range tt.want {
				if resp.Records[i].ShardID != want {
					t.Errorf("record %d went to %s, want %s", i, resp.Records[i].ShardID, want)
				}
			}
		})
	}
}

func TestRejectedRequestsWriteNothing(t *testing.T) {
	tests := map[string]struct {
		stream   string
		header   http.Header
		body     []byte
		status   int
		code     string
		contains string
	}{
		"malformed json names the line": {"clicks", hdr("Content-Type", "application/x-ndjson"),
			[]byte("{\"a\":1}\n{\"a\":\n{\"a\":3}\n"), 400, "InvalidArgumentException", "line 2"},
		"truncated array": {"clicks", hdr("Content-Type", "application/json"), []byte(`[{"a":1},`), 400, "InvalidArgumentException", "line 1: element 1: invalid JSON"},
		"bad array element names its line": {"clicks", hdr("Content-Type", "application/json"),
			[]byte("[\n{\"a\":1},\n{\"a\": nope}\n]"), 400, "InvalidArgumentException", "line 3: element 1: invalid JSON"},
		"content after the array": {"clicks", hdr("Content-Type", "application/json"), []byte("[1]\n[2]"), 400, "InvalidArgumentException", "line 2: content after the JSON array"},
		"oversize array element": {"plain", hdr("Content-Type", "application/json"),
			[]byte("[1,\n\"" + strings.Repeat("x", 1001) + "\"]"), 413, "RequestEntityTooLarge", "line 2: element 1: record is 1003 bytes"},
		"oversize record": {"plain", hdr("Content-Type", "text/plain"),
			[]byte("ok\n" + strings.Repeat("x", 1001) + "\n"), 413, "RequestEntityTooLarge", "line 2: record is 1001 bytes"},
		"oversize request": {"plain", hdr("Content-Type", "text/plain"),
			bytes.Repeat([]byte(strings.Repeat("y", 99)+"\n"), 700), 413, "RequestEntityTooLarge", "limit"},
		"gzip bomb": {"plain", hdr("Content-Type", "text/plain", "Content-Encoding", "gzip"),
			gz(bytes.Repeat([]byte(strings.Repeat("z", 99)+"\n"), 700)), 413, "RequestEntityTooLarge", "after decompression"},
		"garbage gzip":           {"plain", hdr("Content-Encoding", "gzip"), []byte("not gzip at all"), 400, "InvalidArgumentException", "gzip"},
		"unknown encoding":       {"plain", hdr("Content-Encoding", "br"), []byte("x"), 415, "UnsupportedContentEncoding", "br"},
		"unknown type":           {"plain", hdr("Content-Type", "image/png"), []byte("x"), 415, "UnsupportedMediaType", "image/png"},
		"unknown stream":         {"nope", nil, []byte("{}"), 404, "ResourceNotFoundException", `"nope"`},
		"delivery with a source": {"clicks-archive", nil, []byte("{}"), 400, "InvalidArgumentException", `put to stream "clicks"`},
		"empty body":             {"plain", nil, nil, 400, "InvalidArgumentException", "no records"},
		"long partition key": {"plain?partition_key=" + strings.Repeat("k", 257), nil, []byte("x"), 400,
			"InvalidArgumentException", "partition key"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			env := newTestEnv(t, generous)
			status, _, resp := env.put(t, tt.stream, tt.header, tt.body)
			if status != tt.status || resp.Error == nil || resp.Error.Code != tt.code || !strings.Contains(resp.Error.Message, tt.contains) {
				t.Fatalf("status %d, error %+v; want %d %s containing %q", status, resp.Error, tt.status, tt.code, tt.contains)
			}
			// Nothing was written, on any shard of any stream.
			for stream, n := range map[string]int{"clicks": 4, "plain": 1} {
				for shard := range n {
					info, err := env.store.ShardInfo(context.Background(), stream, shard)
					if err != nil {
						t.Fatal(err)
					}
					if info.Messages != 0 {
						t.Fatalf("a rejected request left %d messages on %s shard %d", info.Messages, stream, shard)
					}
				}
			}
		})
	}
}

func TestThrottling(t *testing.T) {
	env := newTestEnv(t, shards.Limits{BytesPerSecond: 1 << 20, RecordsPerSecond: 3})
	body := func(n int) []byte {
		var b bytes.Buffer
		for i := range n {
			fmt.Fprintf(&b, "line %d\n", i)
		}
		return b.Bytes()
	}
	// One shard with 3 records/s: 5 records -> 3 stored, 2 throttled, in place.
	status, _, resp := env.put(t, "plain", hdr("Content-Type", "text/plain"), body(5))
	if status != http.StatusMultiStatus || resp.FailedRecordCount != 2 {
		t.Fatalf("status %d, response %+v; want 207 with 2 failed", status, resp)
	}
	for i, r := range resp.Records {
		throttled := r.ErrorCode == "ProvisionedThroughputExceededException"
		if throttled != (i >= 3) {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	// Everything throttled: 429 with Retry-After.
	status, h, resp := env.put(t, "plain", hdr("Content-Type", "text/plain"), body(2))
	if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" || resp.FailedRecordCount != 2 {
		t.Fatalf("status %d Retry-After %q, response %+v", status, h.Get("Retry-After"), resp)
	}
	// A second later the shard takes records again.
	env.now = env.now.Add(time.Second)
	if status, _, _ := env.put(t, "plain", hdr("Content-Type", "text/plain"), body(3)); status != http.StatusOK {
		t.Fatalf("after refill: status %d", status)
	}
}

func TestHealth(t *testing.T) {
	ready := false
	s, err := NewServer(Limits{MaxRequestSize: 1 << 20, MaxRecordSize: 1000}, nil, func() bool { return ready }, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	get := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz while starting or draining = %d, want 503", got)
	}
	ready = true
	if got := get("/readyz"); got != http.StatusOK {
		t.Errorf("/readyz when ready = %d, want 200", got)
	}
	if got := get("/healthz"); got != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", got)
	}
}

func TestUnknownRoutesAnswerJSON(t *testing.T) {
	env := newTestEnv(t, generous)
	tests := map[string]struct {
		method, path string
		status       int
		code         string
	}{
		"unknown path":     {http.MethodGet, "/v2/nope", 404, "NotFound"},
		"wrong method":     {http.MethodGet, "/v1/streams/clicks/records", 405, "MethodNotAllowed"},
		"delete a records": {http.MethodDelete, "/v1/streams/clicks/records", 405, "MethodNotAllowed"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, env.srv.URL+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out putResponse
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatalf("%s %s: not JSON: %v", tt.method, tt.path, err)
			}
			if resp.StatusCode != tt.status || out.Error == nil || out.Error.Code != tt.code {
				t.Fatalf("%s %s = %d %+v", tt.method, tt.path, resp.StatusCode, out.Error)
			}
		})
	}
}

func FuzzSplitRecords(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n{\"b\":2}"), uint8(0))
	f.Add([]byte(`[1,2,{"x":[]}]`), uint8(1))
	f.Add([]byte("a\r\nb\n\n"), uint8(2))
	f.Fuzz(func(t *testing.T, body []byte, format uint8) {
		recs, err := splitRecords(nil, bodyFormat(format%3), body, 64)
		if err != nil {
			return
		}
		for _, r := range recs {
			if len(r) > 64 || len(r) == 0 && bodyFormat(format%3) != formatArray {
				t.Fatalf("record %q breaks the limits", r)
			}
		}
	})
}

func BenchmarkSplitRecordsNDJSON(b *testing.B) {
	var body bytes.Buffer
	for i := range 500 {
		fmt.Fprintf(&body, "{\"seq\":%d,\"user_id\":\"u-%d\",\"pad\":%q}\n", i, i%17, strings.Repeat("x", 980))
	}
	recs := make([][]byte, 0, 500)
	b.ReportAllocs()
	b.SetBytes(int64(body.Len()))
	for b.Loop() {
		var err *requestError
		recs, err = splitRecords(recs[:0], formatNDJSON, body.Bytes(), 1<<20)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPartitionKeyField(b *testing.B) {
	p, _ := jsonpointer.Compile("/user_id")
	rec := []byte(fmt.Sprintf("{\"seq\":1,\"user_id\":\"u-17\",\"pad\":%q}", strings.Repeat("x", 980)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := p.LookupString(rec); !ok {
			b.Fatal("not found")
		}
	}
}

func TestAPIKeys(t *testing.T) {
	env := newTestEnv(t, generous)
	keys, err := auth.NewAPIKeys([]auth.APIKey{
		{Key: "shipper-key-0123456789", Streams: []string{"click*"}, Actions: []auth.Action{auth.ActionPut}},
		{Key: "reader-key-0123456789", Streams: []string{"*"}, Actions: []auth.Action{auth.ActionRead}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(Limits{MaxRequestSize: 1 << 20, MaxRecordSize: 1000}, map[string]Target{
		"clicks": {Stream: mustStream(t, env, "clicks")}, "plain": {Stream: mustStream(t, env, "plain")},
	}, nil, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	s.RequireAuth(auth.NewAuthenticator(nil, keys, nil))
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	env.srv = srv
	tests := map[string]struct {
		stream string
		header http.Header
		status int
		code   string
	}{
		"no key":             {"clicks", nil, 401, "Unauthorized"},
		"unknown key":        {"clicks", hdr("Authorization", "Bearer nope-nope-nope-nope"), 401, "Unauthorized"},
		"bearer key":         {"clicks", hdr("Authorization", "Bearer shipper-key-0123456789"), 200, ""},
		"x-api-key header":   {"clicks", hdr("X-Api-Key", "shipper-key-0123456789"), 200, ""},
		"stream not allowed": {"plain", hdr("Authorization", "Bearer shipper-key-0123456789"), 403, "Forbidden"},
		"action not allowed": {"clicks", hdr("Authorization", "Bearer reader-key-0123456789"), 403, "Forbidden"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			status, h, resp := env.put(t, tt.stream, tt.header, []byte("{\"user_id\":\"u\"}"))
			if status != tt.status || (tt.code != "" && (resp.Error == nil || resp.Error.Code != tt.code)) {
				t.Fatalf("status %d error %+v; want %d %s", status, resp.Error, tt.status, tt.code)
			}
			if status == 401 && h.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			if resp.Error != nil && strings.Contains(resp.Error.Message, "key-0123456789") {
				t.Fatal("an error message shows the key")
			}
		})
	}
}

func mustStream(t *testing.T, env *testEnv, name string) *shards.Stream {
	t.Helper()
	st, ok := env.store.Stream(name)
	if !ok {
		t.Fatalf("stream %s not open", name)
	}
	return st
}

// FuzzValidMatchesEncodingJSON: the fast validator splitRecords uses
// accepts exactly the records encoding/json accepts.
func FuzzValidMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `[1,2]`, `{"a":"\u00e9"}`, `{"a":1}x`, `{"a":}`, `1e5`, `"x"`,
		`{"a":[1,{"b":null}]}`, `{"a":1,}`, "{\"a\":\"\x01\"}", `01`, `-0`, `1.`, `{"a":tru}`, ` {} `, "", "[[[[", `{"a":"\ud800"}`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if std, fast := json.Valid(b), gojson.Valid(b); std != fast {
			t.Fatalf("%q: encoding/json %v, goccy/go-json %v", b, std, fast)
		}
	})
}
