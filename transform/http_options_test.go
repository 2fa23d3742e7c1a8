package transform

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/internal/retry"
)

func TestHTTPOptions(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		tr, err := NewHTTP(Env{}, map[string]any{"url": "https://transform.internal/firehose"})
		if err != nil {
			t.Fatal(err)
		}
		h := tr.(*httpTransform)
		if h.bufferSize != 1<<20 || h.timeout != 60*time.Second || h.retries != 3 ||
			h.backoff != (retry.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second}) {
			t.Errorf("defaults: buffer_size %d, timeout %v, retries %d, backoff %+v", h.bufferSize, h.timeout, h.retries, h.backoff)
		}
	})
	t.Run("set", func(t *testing.T) {
		tr, err := NewHTTP(Env{}, map[string]any{"url": "http://127.0.0.1:9000/", "buffer_size": "3MiB",
			"timeout": "5m", "retries": 0, "headers": map[string]any{"X-Api-Key": "k"}})
		if err != nil {
			t.Fatal(err)
		}
		h := tr.(*httpTransform)
		if h.bufferSize != 3<<20 || h.timeout != 5*time.Minute || h.retries != 0 || h.headers.Get("X-Api-Key") != "k" {
			t.Errorf("buffer_size %d, timeout %v, retries %d, headers %v", h.bufferSize, h.timeout, h.retries, h.headers)
		}
	})

	const u = "https://transform.internal/"
	tests := map[string]struct {
		options map[string]any
		want    string
	}{
		"missing url":       {options: map[string]any{}, want: "url: required"},
		"url not a string":  {options: map[string]any{"url": 80}, want: "url: must be a string"},
		"empty url":         {options: map[string]any{"url": ""}, want: "url: must be an http or https URL"},
		"bad url":           {options: map[string]any{"url": "://transform"}, want: "url: must be an http or https URL"},
		"ftp url":           {options: map[string]any{"url": "ftp://transform/"}, want: `got scheme "ftp"`},
		"no host":           {options: map[string]any{"url": "https://user:pa55w0rd@/x"}, want: "url: must be an http or https URL with a host"},
		"unknown option":    {options: map[string]any{"url": u, "batch_size": 10}, want: "batch_size: unknown option"},
		"buffer_size zero":  {options: map[string]any{"url": u, "buffer_size": 0}, want: "buffer_size: must be between"},
		"buffer_size big":   {options: map[string]any{"url": u, "buffer_size": "7MiB"}, want: "buffer_size: must be between"},
		"buffer_size word":  {options: map[string]any{"url": u, "buffer_size": "lots"}, want: "buffer_size: invalid size"},
		"timeout zero":      {options: map[string]any{"url": u, "timeout": "0s"}, want: "timeout: must be positive"},
		"timeout word":      {options: map[string]any{"url": u, "timeout": "soon"}, want: "timeout: invalid duration"},
		"retries negative":  {options: map[string]any{"url": u, "retries": -1}, want: "retries: must be between 0 and 300"},
		"retries word":      {options: map[string]any{"url": u, "retries": "three"}, want: "retries: must be an integer"},
		"headers list":      {options: map[string]any{"url": u, "headers": []any{"a"}}, want: "headers: must be a mapping"},
		"header name":       {options: map[string]any{"url": u, "headers": map[string]any{"Bad Name": "x"}}, want: "headers.Bad Name: not a valid header name"},
		"header value":      {options: map[string]any{"url": u, "headers": map[string]any{"X-Key": "s3cret\r\nX-Evil: 1"}}, want: "headers.X-Key: the value must not contain CR"},
		"header not string": {options: map[string]any{"url": u, "headers": map[string]any{"X-Key": 1}}, want: "headers.X-Key: must be a string"},
		"header reserved":   {options: map[string]any{"url": u, "headers": map[string]any{"content-type": "text/plain"}}, want: "headers.content-type: is set by the transform"},
		"header twice":      {options: map[string]any{"url": u, "headers": map[string]any{"X-Key": "a", "x-key": "b"}}, want: "given twice"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := NewHTTP(Env{}, tt.options)
			if err == nil {
				t.Fatalf("accepted %v", tt.options)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "pa55w0rd") {
				t.Errorf("error %q repeats a secret", err)
			}
		})
	}
}

func TestHTTPSplit(t *testing.T) {
	tests := map[string]struct {
		sizes      []int // of the records' data
		bufferSize any
		want       []int // records per invocation
	}{
		"buffer_size":    {sizes: []int{400, 400, 400}, bufferSize: 1000, want: []int{2, 1}},
		"exactly full":   {sizes: []int{500, 500, 1}, bufferSize: 1000, want: []int{2, 1}},
		"record too big": {sizes: []int{10, 2000, 10}, bufferSize: 1000, want: []int{1, 1, 1}},
		"one invocation": {sizes: []int{1000, 1000, 1000}, bufferSize: nil, want: []int{3}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			l := newHTTPTestLambda(t, httpTestUpper)
			opts := map[string]any{}
			if tt.bufferSize != nil {
				opts["buffer_size"] = tt.bufferSize
			}
			tr := newHTTPTestTransform(t, httpTestEnv, l.URL, opts, false)
			data := make([]string, len(tt.sizes))
			for i, n := range tt.sizes {
				data[i] = string(rune('a'+i)) + strings.Repeat("x", n-1)
			}
			in := httpTestRecords(data...)
			out, err := tr.Process(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			events, _, _ := l.calls()
			for _, e := range events {
				got = append(got, len(e.Records))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("records per invocation = %v, want %v", got, tt.want)
			}
			for i, o := range out {
				if o.Result != Ok || string(o.Data) != strings.ToUpper(data[i]) {
					t.Errorf("output %d: %v, %d bytes starting %q", i, o.Result, len(o.Data), o.Data[:min(len(o.Data), 1)])
				}
			}
		})
	}
}

// TestHTTPRequestLimit checks that requests stay under Lambda's 6MiB when
// base64 makes them bigger than buffer_size, without sending them.
func TestHTTPRequestLimit(t *testing.T) {
	const quarter = httpMaxPayload / 4 // base64 of 3 quarters is the whole limit
	tests := map[string]struct {
		sizes       []int
		want        []int // records per invocation; nil: only check the limit
		zeroArrival bool  // a negative approximateArrivalTimestamp
	}{
		"2MiB records":             {sizes: []int{2 << 20, 2 << 20, 2 << 20, 2 << 20, 2 << 20}, want: []int{2, 2, 1}},
		"room for another":         {sizes: []int{3*quarter - 4096, 100}, want: []int{2}},
		"no room left":             {sizes: []int{3*quarter - 30, 100}, want: []int{1, 1}},
		"record too big":           {sizes: []int{100, 5 << 20, 100}, want: []int{1, 1, 1}},
		"tiny records":             {sizes: slices.Repeat([]int{1}, 100000)},
		"tiny records, no arrival": {sizes: slices.Repeat([]int{1}, 100000), zeroArrival: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			tr := newHTTPTestTransform(t, httpTestEnv, "http://127.0.0.1:1/", map[string]any{"buffer_size": "6MiB"}, false)
			recs := make([]buffer.Record, len(tt.sizes))
			for i, n := range tt.sizes {
				recs[i] = buffer.Record{Data: make([]byte, n), Sequence: math.MaxUint64 - uint64(i), Arrival: httpTestArrival}
				if tt.zeroArrival {
					recs[i].Arrival = time.Time{}
				}
			}
			var got []int
			for start := 0; start < len(recs); {
				end := tr.nextInvocation(recs, start)
				got = append(got, end-start)
				_, body, err := tr.request(recs, start, end)
				if err != nil {
					t.Fatal(err)
				}
				if len(body) > httpMaxPayload && end-start > 1 {
					t.Errorf("records %d-%d make %d bytes of request, over 6MiB", start, end, len(body))
				}
				if end < len(recs) {
					if _, more, _ := tr.request(recs, start, end+1); len(more) <= httpMaxPayload {
						t.Errorf("records %d-%d: the next record would have fitted (%d bytes)", start, end, len(more))
					}
				}
				start = end
			}
			if tt.want != nil && fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("records per invocation = %v, want %v", got, tt.want)
			}
		})
	}
}
