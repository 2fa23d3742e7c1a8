package opensearch_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/e2e/opensearch"
)

// The server behaves as the Elasticsearch destination relies on: _bulk takes
// NDJSON, plain or gzip-compressed; a document the mapping rejects fails alone
// (400) and a duplicate create fails alone (409) inside an HTTP 200; indices
// survive a restart.
func TestServer(t *testing.T) {
	t0 := time.Now()
	s := opensearch.Start(t)
	t.Logf("started in %v at %s (data in %s)", time.Since(t0).Round(time.Millisecond), s.URL, s.Dir)

	docs := "" +
		`{"index":{"_index":"plain"}}` + "\n" + `{"n":1,"s":"a"}` + "\n" +
		`{"index":{"_index":"plain"}}` + "\n" + `{"n":2,"s":"b"}` + "\n" +
		`{"index":{"_index":"plain"}}` + "\n" + `{"n":3,"s":"c"}` + "\n"

	t.Run("bulk", func(t *testing.T) {
		code, hdr, body := s.Do(t, "POST", "/_bulk", []byte(docs), "Content-Type", "application/x-ndjson")
		t.Logf("response headers: %v (X-Elastic-Product: %q)", hdr, hdr.Get("X-Elastic-Product"))
		r := bulk(t, code, body)
		if r.Errors || len(r.Items) != 3 {
			t.Fatalf("bulk: %s", body)
		}
		if n := s.Count(t, "plain"); n != 3 {
			t.Fatalf("count = %d, want 3", n)
		}
	})

	t.Run("gzip", func(t *testing.T) {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		io.WriteString(zw, strings.ReplaceAll(docs, `"plain"`, `"gz"`))
		zw.Close()
		code, _, body := s.Do(t, "POST", "/_bulk", zb.Bytes(),
			"Content-Type", "application/x-ndjson", "Content-Encoding", "gzip")
		if r := bulk(t, code, body); r.Errors || len(r.Items) != 3 {
			t.Fatalf("bulk: %s", body)
		}
		if n := s.Count(t, "gz"); n != 3 {
			t.Fatalf("count = %d, want 3", n)
		}
	})

	t.Run("mapping conflict", func(t *testing.T) {
		code, _, body := s.Do(t, "PUT", "/typed", []byte(`{"mappings":{"properties":{"n":{"type":"long"}}}}`),
			"Content-Type", "application/json")
		if code != http.StatusOK {
			t.Fatalf("create index: %d %s", code, body)
		}
		req := `{"index":{"_index":"typed"}}` + "\n" + `{"n":1}` + "\n" +
			`{"index":{"_index":"typed"}}` + "\n" + `{"n":"not-a-number"}` + "\n" +
			`{"index":{"_index":"typed"}}` + "\n" + `{"n":3}` + "\n"
		code, _, body = s.Do(t, "POST", "/_bulk", []byte(req), "Content-Type", "application/x-ndjson")
		r := bulk(t, code, body)
		if !r.Errors {
			t.Fatalf("errors = false: %s", body)
		}
		items, want := r.items(t), []int{201, 400, 201}
		if len(items) != len(want) {
			t.Fatalf("%d items, want %d: %s", len(items), len(want), body)
		}
		for i, it := range items {
			if it.Status != want[i] {
				t.Errorf("item %d status %d, want %d: %s", i, it.Status, want[i], it.raw)
			}
		}
		bad := items[1]
		t.Logf("rejected item: %s", bad.raw)
		if bad.Error.Type != "mapper_parsing_exception" {
			t.Errorf("error type %q, want mapper_parsing_exception", bad.Error.Type)
		}
	})

	t.Run("create conflict", func(t *testing.T) {
		req := []byte(`{"create":{"_index":"dup","_id":"a"}}` + "\n" + `{"n":1}` + "\n")
		code, _, body := s.Do(t, "POST", "/_bulk", req, "Content-Type", "application/x-ndjson")
		if r := bulk(t, code, body); r.Errors {
			t.Fatalf("first create: %s", body)
		}
		code, _, body = s.Do(t, "POST", "/_bulk", req, "Content-Type", "application/x-ndjson")
		r := bulk(t, code, body)
		it := r.items(t)[0]
		t.Logf("duplicate create item: %s", it.raw)
		if !r.Errors || it.Status != http.StatusConflict || it.Error.Type != "version_conflict_engine_exception" {
			t.Fatalf("duplicate create: %s", body)
		}
	})

	t.Run("restart", func(t *testing.T) {
		port, dir := s.Port, s.Dir
		t0 := time.Now()
		s.Stop(t)
		t.Logf("stopped in %v", time.Since(t0).Round(time.Millisecond))
		t0 = time.Now()
		s.Start(t)
		t.Logf("restarted in %v", time.Since(t0).Round(time.Millisecond))
		if s.Port != port || s.Dir != dir {
			t.Fatalf("restarted on port %d dir %s, want %d %s", s.Port, s.Dir, port, dir)
		}
		for _, idx := range []string{"plain", "gz"} {
			if n := s.Count(t, idx); n != 3 {
				t.Errorf("%s: count after restart = %d, want 3", idx, n)
			}
		}
	})
}

type bulkResponse struct {
	Errors bool                         `json:"errors"`
	Items  []map[string]json.RawMessage `json:"items"` // one {action: result} per request line pair
}

type bulkItem struct {
	Status int `json:"status"`
	Error  struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
	raw json.RawMessage
}

func (r bulkResponse) items(t *testing.T) []bulkItem {
	t.Helper()
	var out []bulkItem
	for _, m := range r.Items {
		for _, raw := range m {
			var it bulkItem
			if err := json.Unmarshal(raw, &it); err != nil {
				t.Fatal(err)
			}
			it.raw = raw
			out = append(out, it)
		}
	}
	return out
}

func bulk(t *testing.T, code int, body []byte) bulkResponse {
	t.Helper()
	if code != http.StatusOK {
		t.Fatalf("_bulk: HTTP %d %s", code, body)
	}
	var r bulkResponse
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("_bulk: %v: %s", err, body)
	}
	return r
}
