package elasticsearch

import (
	"testing"
)

// FuzzItemResults: any bulk response body, however broken, is read or
// refused with an error; never a panic, and never results that do not match
// the documents sent.
func FuzzItemResults(f *testing.F) {
	f.Add([]byte(`{"errors":false,"items":[{"index":{"status":201}}]}`), 1)
	f.Add([]byte(`{"errors":true,"items":[{"index":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"r","caused_by":{"type":"x","reason":"y"}}}},{"create":{"status":201}}]}`), 2)
	f.Add([]byte(`{"errors":true,"items":[{}]}`), 1)
	f.Add([]byte(`{"errors":true,"items":null}`), 0)
	f.Add([]byte(`<html>`), 3)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > 10000 {
			return
		}
		results, err := itemResults(body, n)
		if err == nil && results != nil && len(results) != n {
			t.Fatalf("%d results for %d documents", len(results), n)
		}
		for _, r := range results {
			_ = code(r.Status, r.Error)
			_ = retryable(r.Status, r.Error)
			_ = itemMessage(r)
		}
		_ = serverError(500, body)
	})
}
