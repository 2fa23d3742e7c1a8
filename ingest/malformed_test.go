package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/shards"
)

// Hydrant's own default limits: what a hostile client meets in production.
var defaultLimits = Limits{MaxRequestSize: 16 << 20, MaxRecordSize: 1000 << 10}

// errorBody is the native API's error document, byte for byte.
func errorBody(code, message string) string {
	m, err := json.Marshal(message)
	if err != nil {
		panic(err)
	}
	return `{"error":{"code":"` + code + `","message":` + string(m) + "}}\n"
}

// cut returns the first half of b: a compressed body cut off in transit.
func cut(b []byte) []byte { return b[:len(b)/2] }

// Every hostile body gets the exact status and error document a client can
// act on, in the native API's own format, and leaves nothing in the log.
// Rules the table pins down:
//   - JSON records (NDJSON lines, array elements) must be UTF-8 JSON, as RFC
//     8259 says and as the destinations that parse them need; text lines
//     are opaque bytes, stored as sent, as Kinesis and Firehose store Data.
//   - Nesting deeper than Go's JSON limit (10,000) is a 400, never a crash.
//   - The Content-Type is checked before the body is read.
func TestHostileBodiesGetAClearErrorAndWriteNothing(t *testing.T) {
	ndjson := []byte(strings.Repeat("{\"user_id\":\"u-1\",\"n\":1}\n", 200))
	deep := strings.Repeat("[", 100_000)
	tests := map[string]struct {
		stream string
		header http.Header
		body   []byte
		status int
		want   string // the exact response body
	}{
		"a gzip body cut in the middle is refused whole": {"clicks",
			hdr("Content-Type", "application/x-ndjson", "Content-Encoding", "gzip"), cut(gz(ndjson)),
			400, errorBody("InvalidArgumentException", "cannot decode the gzip body: unexpected EOF")},
		"a zstd body cut in the middle is refused whole": {"clicks",
			hdr("Content-Type", "application/x-ndjson", "Content-Encoding", "zstd"), cut(zst(ndjson)),
			400, errorBody("InvalidArgumentException", "cannot decode the zstd body: unexpected EOF")},
		"a gzip body that is not gzip": {"clicks", hdr("Content-Encoding", "gzip"), []byte("{\"n\":1}\n{\"n\":2}\n"),
			400, errorBody("InvalidArgumentException", "body is not valid gzip: gzip: invalid header")},
		"invalid UTF-8 in an NDJSON record names the line and byte": {"clicks", hdr("Content-Type", "application/x-ndjson"),
			[]byte("{\"n\":1}\n{\"city\":\"Orl\xe9ans\"}\n"),
			400, errorBody("InvalidArgumentException", "line 2: invalid JSON: byte 13 of the record is not UTF-8 (send other encodings as text/plain)")},
		"invalid UTF-8 in a JSON array element": {"clicks", hdr("Content-Type", "application/json"),
			[]byte("[{\"n\":1},\n{\"city\":\"\xff\"}]"),
			400, errorBody("InvalidArgumentException", "line 2: element 1: invalid JSON: byte 10 of the record is not UTF-8 (send other encodings as text/plain)")},
		"100,000 nested arrays as an NDJSON record": {"clicks", hdr("Content-Type", "application/x-ndjson"), []byte(deep),
			400, errorBody("InvalidArgumentException", "line 1: invalid JSON: invalid character '[' exceeded max depth")},
		"100,000 nested arrays, closed, as an NDJSON record": {"clicks", nil,
			[]byte("{\"a\":" + deep + strings.Repeat("]", 100_000) + "}"),
			400, errorBody("InvalidArgumentException", "line 1: invalid JSON: invalid character '[' exceeded max depth")},
		"100,000 nested arrays as a JSON array body": {"clicks", hdr("Content-Type", "application/json"), []byte(deep),
			400, errorBody("InvalidArgumentException", "line 1: element 0: invalid JSON: invalid character '[' exceeded max depth")},
		"HTML is not a record format": {"clicks", hdr("Content-Type", "text/html; charset=utf-8"), []byte("<html></html>"),
			415, errorBody("UnsupportedMediaType", `Content-Type "text/html" is not supported (use application/x-ndjson, application/json or text/plain)`)},
		"the AWS JSON type is not the native API": {"clicks", hdr("Content-Type", "application/x-amz-json-1.1"), []byte(`{"n":1}`),
			415, errorBody("UnsupportedMediaType", `Content-Type "application/x-amz-json-1.1" is not supported (use application/x-ndjson, application/json or text/plain)`)},
		"a malformed Content-Type": {"clicks", hdr("Content-Type", "application/json; charset"), []byte(`{"n":1}`),
			400, errorBody("InvalidArgumentException", `Content-Type "application/json; charset": mime: invalid media parameter`)},
		"an empty body": {"plain", nil, nil,
			400, errorBody("InvalidArgumentException", "the body holds no records")},
		"a body of only whitespace holds no records": {"plain", nil, []byte(" \n\t \r\n  "),
			400, errorBody("InvalidArgumentException", "the body holds no records")},
		"an NDJSON body of only whitespace": {"plain", hdr("Content-Type", "application/x-ndjson"), []byte(" \n\t \r\n  "),
			400, errorBody("InvalidArgumentException", "the body holds no records")},
		"a text body of only whitespace": {"plain", hdr("Content-Type", "text/plain"), []byte(" \n\t \r\n  "),
			400, errorBody("InvalidArgumentException", "the body holds no records")},
		"a partition key over 256 bytes": {"plain?partition_key=" + strings.Repeat("k", 257), nil, []byte("x"),
			400, errorBody("InvalidArgumentException", "partition key is 257 bytes; the limit is 256")},
		"a multi-byte partition key over 256 bytes": {"plain", hdr("X-Partition-Key", strings.Repeat("é", 129)), []byte("x"),
			400, errorBody("InvalidArgumentException", "partition key is 258 bytes; the limit is 256")},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			env := newTestEnvLimits(t, generous, defaultLimits)
			status, body := env.send(t, tt.stream, tt.header, tt.body)
			if status != tt.status || body != tt.want {
				t.Fatalf("got %d %s\nwant %d %s", status, body, tt.status, tt.want)
			}
			env.assertEmpty(t)
		})
	}
}

// Text lines are bytes: Latin-1, NULs and lone continuation bytes are
// stored as sent (as Kinesis and Firehose store Data), never rewritten.
func TestTextLinesAreOpaqueBytes(t *testing.T) {
	env := newTestEnvLimits(t, generous, defaultLimits)
	status, body := env.send(t, "plain", hdr("Content-Type", "text/plain"), []byte("caf\xe9 cr\xe8me\n\x00\x80\xff\n"))
	want := `{"failed_record_count":0,"records":[{"shard_id":"shardId-000000000000","sequence_number":"1048576"},` +
		`{"shard_id":"shardId-000000000000","sequence_number":"1048577"}]}` + "\n"
	if status != 200 || body != want {
		t.Fatalf("got %d %s", status, body)
	}
	for seq, data := range map[shards.Sequence]string{1048576: "caf\xe9 cr\xe8me", 1048577: "\x00\x80\xff"} {
		if got := readOne(t, env.store, "plain", 0, seq); got != data {
			t.Errorf("record %d = %q, want %q", seq, got, data)
		}
	}
}

// send posts body and returns the status and the exact response body.
func (e *testEnv) send(t *testing.T, stream string, header http.Header, body []byte) (int, string) {
	t.Helper()
	status, _, raw := e.roundTrip(t, stream, header, body)
	return status, string(raw)
}

// assertEmpty checks that no shard of any stream holds a message.
func (e *testEnv) assertEmpty(t *testing.T) {
	t.Helper()
	for stream, n := range map[string]int{"clicks": 4, "plain": 1} {
		for shard := range n {
			info, err := e.store.ShardInfo(context.Background(), stream, shard)
			if err != nil {
				t.Fatal(err)
			}
			if info.Messages != 0 {
				t.Fatalf("a rejected request left %d messages on %s shard %d", info.Messages, stream, shard)
			}
		}
	}
}

// repeatReader yields pattern over and over, n bytes in all, and counts
// what the handler took: the bytes that crossed the wire.
type repeatReader struct {
	pattern []byte
	n, read int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.read >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.read)]
	for i := range p {
		p[i] = r.pattern[(r.read+int64(i))%int64(len(r.pattern))]
	}
	r.read += int64(len(p))
	return len(p), nil
}

// bomb compresses 1 MiB of pattern once and repeats the member (gzip) or
// frame (zstd) 1,024 times: 1 GiB once decoded, about 1 MiB on the wire.
func bomb(pattern []byte, compress func([]byte) []byte) []byte {
	return bytes.Repeat(compress(bytes.Repeat(pattern, (1<<20)/len(pattern))), 1024)
}

// A hostile body is refused while it streams in: the handler stops reading
// at the first limit it passes, and what it allocates is bounded by the
// limits, not by what the client sends (100 MB, or 1 GiB decompressed).
func TestOversizeBodiesAreRefusedWhileStreaming(t *testing.T) {
	zeros := []byte{0}
	lines := []byte("{\"n\":1}\n")
	tests := map[string]struct {
		header  http.Header
		body    []byte // compressed; nil: 100 MB of pattern
		pattern []byte
		want    string
		maxRead int64 // bytes the handler may take from the client
		// maxAlloc bounds what the handler allocates (twice that under the
		// race detector): a few times max_record_size for a long line, far
		// below the 16 MiB request limit; a few times the request limit for
		// a bomb (a bytes.Buffer doubles as it grows), far below its 1 GiB.
		maxAlloc uint64
	}{
		"a 100 MB text line is refused once it passes the record limit": {
			header: hdr("Content-Type", "text/plain"), pattern: []byte("x"),
			want:    errorBody("RequestEntityTooLarge", "line 1: record is over the 1024000-byte limit"),
			maxRead: 2 << 20, maxAlloc: 4 << 20,
		},
		"a 100 MB NDJSON line, sent with no type, is refused once it passes the record limit": {
			pattern: []byte(`{"k":"` + strings.Repeat("v", 100)),
			want:    errorBody("RequestEntityTooLarge", "line 1: record is over the 1024000-byte limit"),
			maxRead: 2 << 20, maxAlloc: 4 << 20,
		},
		"a gzip bomb of 1 GiB of zeros stops at the record limit": {
			header: hdr("Content-Type", "text/plain", "Content-Encoding", "gzip"), body: bomb(zeros, gz),
			want:    errorBody("RequestEntityTooLarge", "line 1: record is over the 1024000-byte limit"),
			maxRead: 64 << 10, maxAlloc: 4 << 20,
		},
		"a gzip bomb of 1 GiB of short lines stops at the request limit": {
			header: hdr("Content-Type", "application/x-ndjson", "Content-Encoding", "gzip"), body: bomb(lines, gz),
			want:    errorBody("RequestEntityTooLarge", "request body is over the 16777216-byte limit (after decompression)"),
			maxRead: 256 << 10, maxAlloc: 80 << 20,
		},
		"a zstd bomb of 1 GiB of short lines stops at the request limit": {
			header: hdr("Content-Type", "application/x-ndjson", "Content-Encoding", "zstd"), body: bomb(lines, zst),
			want:    errorBody("RequestEntityTooLarge", "request body is over the 16777216-byte limit (after decompression)"),
			maxRead: 256 << 10, maxAlloc: 80 << 20,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			env := newTestEnvLimits(t, generous, defaultLimits) // a fresh server: no pooled buffers
			body := &repeatReader{pattern: tt.pattern, n: 100 << 20}
			if tt.body != nil {
				body = &repeatReader{pattern: tt.body, n: int64(len(tt.body))}
			}
			req := httptest.NewRequest(http.MethodPost, "/v1/streams/plain/records", body)
			req.Header = tt.header.Clone()
			if req.Header == nil {
				req.Header = http.Header{}
			}
			rec := httptest.NewRecorder()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			env.srv.Config.Handler.ServeHTTP(rec, req)
			runtime.ReadMemStats(&after)
			if rec.Code != http.StatusRequestEntityTooLarge || rec.Body.String() != tt.want {
				t.Fatalf("got %d %s\nwant 413 %s", rec.Code, rec.Body, tt.want)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("read %d of %d bytes, allocated %d bytes", body.read, body.n, alloc)
			if body.read > tt.maxRead {
				t.Errorf("the handler read %d bytes from the client; it should stop by %d", body.read, tt.maxRead)
			}
			if alloc > tt.maxAlloc*allocFactor {
				t.Errorf("the handler allocated %d bytes; the bound is %d", alloc, tt.maxAlloc*allocFactor)
			}
			env.assertEmpty(t)
		})
	}
}

// rawRequest writes head (a request line and headers) and a body on a
// fresh connection and returns the response: what Go's server does with
// framing no HTTP client library would send.
func rawRequest(t *testing.T, addr, head, body string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second)) // a hang fails the test instead of stalling it
	if _, err := io.WriteString(conn, head+"\r\n"+body); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

// Lengths a client cannot mean: Go's server refuses a negative
// Content-Length itself (its own plain-text 400, before any handler), and a
// declared length over the request limit is refused at once, before a byte
// of the body is read — the client need not even send it.
func TestAbsurdContentLengths(t *testing.T) {
	env := newTestEnvLimits(t, generous, defaultLimits)
	addr := strings.TrimPrefix(env.srv.URL, "http://")
	tests := map[string]struct {
		head, body  string
		status      int
		contentType string
		want        string
	}{
		"Content-Length -1 never reaches the handler": {
			head:   "POST /v1/streams/plain/records HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n",
			body:   "x\n",
			status: 400, contentType: "text/plain; charset=utf-8", want: "400 Bad Request",
		},
		"Content-Length 2^62 is refused before the body is read": {
			head:   "POST /v1/streams/plain/records HTTP/1.1\r\nHost: x\r\nContent-Length: 4611686018427387904\r\n",
			body:   "x\n",
			status: 413, contentType: "application/json",
			want: errorBody("RequestEntityTooLarge", "request body is 4611686018427387904 bytes; the limit is 16777216"),
		},
		"a wrong Content-Type is refused before the body is read": {
			head:   "POST /v1/streams/plain/records HTTP/1.1\r\nHost: x\r\nContent-Type: text/html\r\nContent-Length: 1048576\r\n",
			status: 415, contentType: "application/json",
			want: errorBody("UnsupportedMediaType", `Content-Type "text/html" is not supported (use application/x-ndjson, application/json or text/plain)`),
		},
		"Content-Length one over the limit, none of it sent": {
			head:   fmt.Sprintf("POST /v1/streams/plain/records HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n", 16<<20+1),
			status: 413, contentType: "application/json",
			want: errorBody("RequestEntityTooLarge", "request body is 16777217 bytes; the limit is 16777216"),
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			resp, body := rawRequest(t, addr, tt.head, tt.body)
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != tt.contentType || body != tt.want {
				t.Fatalf("got %d %q %q\nwant %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body,
					tt.status, tt.contentType, tt.want)
			}
		})
	}
	env.assertEmpty(t)
}

// The guard that refuses long lines early only refuses what splitRecords,
// the exact check, refuses too: whatever the format and however the body
// arrives in pieces.
func FuzzLineGuardRefusesOnlyWhatSplitRefuses(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n  {\"b\":2}   \r\n"), uint8(0), uint8(3))
	f.Add([]byte(strings.Repeat("x", 70)+"\r\n"+strings.Repeat("y", 64)+"\r"), uint8(1), uint8(7))
	f.Add([]byte(" \t\n\xc2\xa0{\"k\":\"v\"}\xc2\xa0\n"), uint8(2), uint8(1))
	f.Add([]byte("[1,2,3]"), uint8(3), uint8(2))
	types := []string{"application/x-ndjson", "text/plain", "", "application/json"}
	f.Fuzz(func(t *testing.T, body []byte, typ, chunk uint8) {
		const max = 64
		mt := types[int(typ)%len(types)]
		g := &lineGuard{r: bytes.NewReader(body), mt: mt, max: max, line: 1, first: -1}
		var refused *requestError
		for off := 0; off < len(body) && refused == nil; off += int(chunk) + 1 {
			refused = g.scan(body[off:min(off+int(chunk)+1, len(body))])
		}
		_, err := splitRecords(nil, detectFormat(mt, body), body, max)
		if refused != nil && err == nil {
			t.Fatalf("the guard refused %q (%s) as %s, which splitRecords accepts", body, mt, refused.message)
		}
	})
}
