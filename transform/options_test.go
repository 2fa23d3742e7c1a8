package transform

import (
	"strings"
	"testing"
	"time"
)

func TestOptions(t *testing.T) {
	raw := map[string]any{
		"query": ".a", "retries": 5, "timeout": "2s", "buffer_size": "2MiB", "fields": []any{"a", "b"},
		"headers": map[string]any{"X-Key": "v"}, "verbose": true, "typo": 1,
	}
	o := NewOptions(raw)
	if o.String("query", "") != ".a" || o.Int("retries", 3) != 5 || o.Duration("timeout", 0) != 2*time.Second ||
		o.Size("buffer_size", 0) != 2<<20 || strings.Join(o.Strings("fields"), ",") != "a,b" ||
		o.StringMap("headers")["X-Key"] != "v" || !o.Bool("verbose", false) || o.Int("missing", 7) != 7 {
		t.Fatal("options read wrong")
	}
	err := o.Err()
	if err == nil || !strings.Contains(err.Error(), "typo: unknown option (valid: buffer_size, fields, headers, missing, query, retries, timeout, verbose)") {
		t.Fatalf("err = %v", err)
	}

	bad := NewOptions(map[string]any{"query": 1, "timeout": "soon", "fields": "a"})
	bad.String("query", "")
	bad.Duration("timeout", 0)
	bad.Strings("fields")
	bad.Required("url")
	err = bad.Err()
	for _, want := range []string{"query: must be a string", "timeout:", "fields: must be a list", "url: required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}
}
