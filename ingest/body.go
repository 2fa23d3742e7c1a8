package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// bodyFormat is how a request body splits into records.
type bodyFormat int

const (
	formatNDJSON bodyFormat = iota // one JSON value per line
	formatArray                    // a JSON array, one record per element
	formatLines                    // text lines, one record per non-empty line
)

// requestError is a client error with its HTTP status and error code.
type requestError struct {
	status  int
	code    string
	message string
}

func (e *requestError) Error() string { return e.message }

func badRequest(format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, code: "InvalidArgumentException", message: fmt.Sprintf(format, args...)}
}

func tooLarge(format string, args ...any) *requestError {
	return &requestError{status: http.StatusRequestEntityTooLarge, code: "RequestEntityTooLarge", message: fmt.Sprintf(format, args...)}
}

// readBody reads the whole (decoded) body of r from body into dst and
// returns it, refusing a declared length over limit before reading, more
// than limit bytes after decompression, and a line of a line format (mt and
// the body's first byte say which) as soon as its record is over
// maxRecord. The request's Budget covers what dst grows to before it
// grows; past the in-flight limit the request is refused (503).
func readBody(dst []byte, r *http.Request, body io.Reader, mt string, limit, maxRecord int) ([]byte, *requestError) {
	if r.ContentLength > int64(limit) {
		return dst, tooLarge("request body is %d bytes; the limit is %d", r.ContentLength, limit)
	}
	raw := body
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	switch enc {
	case "", "identity":
		if r.ContentLength > int64(cap(dst)) {
			// Its reservation was made before the request was served.
			dst = make([]byte, 0, r.ContentLength+1)
		}
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(raw)
		if err != nil {
			return dst, badRequest("body is not valid gzip: %v", err)
		}
		defer zr.Close()
		body = zr
	case "zstd":
		zr, err := zstd.NewReader(raw, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)+1<<20))
		if err != nil {
			return dst, badRequest("body is not valid zstd: %v", err)
		}
		defer zr.Close()
		body = zr
	default:
		return dst, &requestError{status: http.StatusUnsupportedMediaType, code: "UnsupportedContentEncoding",
			message: fmt.Sprintf("Content-Encoding %q is not supported (use gzip, zstd or none)", enc)}
	}
	guard := &lineGuard{r: io.LimitReader(body, int64(limit)+1), mt: mt, max: int64(maxRecord), line: 1, first: -1}
	dst, err := readAll(dst[:0], guard, BudgetFrom(r.Context()), limit)
	if err != nil {
		var mbe *http.MaxBytesError
		var rerr *requestError
		switch {
		case errors.As(err, &rerr):
			return dst, rerr
		case errors.As(err, &mbe):
			return dst, tooLarge("request body is over the %d-byte limit", limit)
		case enc != "" && enc != "identity":
			return dst, badRequest("cannot decode the %s body: %v", r.Header.Get("Content-Encoding"), err)
		}
		return dst, badRequest("reading the body: %v", err)
	}
	if len(dst) > limit {
		return dst, tooLarge("request body is over the %d-byte limit (after decompression)", limit)
	}
	return dst, nil
}

// minRead is the capacity a body buffer starts growing from.
const minRead = 32 << 10

// readAll appends src to dst until EOF or until dst holds more than limit
// bytes. dst grows by doubling, to at most limit+1 bytes, and only once b
// covers what it grows to: a compressed body is counted as it
// decompresses, not as it was sent. Past the in-flight limit it returns
// errBusy.
func readAll(dst []byte, src io.Reader, b *Budget, limit int) ([]byte, error) {
	if !b.Ensure(bodyReserve(int64(cap(dst)))) {
		return dst, errBusy()
	}
	for len(dst) <= limit {
		if len(dst) == cap(dst) {
			c := min(max(2*cap(dst), minRead), limit+1)
			if !b.Ensure(bodyReserve(int64(c))) {
				return dst, errBusy()
			}
			grown := make([]byte, len(dst), c)
			copy(grown, dst)
			dst = grown
		}
		n, err := src.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// lineGuard refuses a line whose record is over max bytes while the body
// is still arriving, so that a 100 MB line costs about max bytes of memory,
// not the request limit. What it measures is a lower bound of the record
// splitRecords cuts from the line, which stays the exact check: text lines
// count every byte but one (a final '\r'), NDJSON lines their span from the
// first to the last ASCII non-space byte. JSON arrays are not checked here:
// an array spans lines, and one line may hold the whole request.
type lineGuard struct {
	r           io.Reader
	mt          string // the request's media type
	max         int64
	format      bodyFormat
	known       bool  // format decided: a non-space byte was read
	off         int64 // bytes read
	line        int   // the current line, 1-based
	start       int64 // offset of the current line
	first, last int64 // NDJSON: offsets of the current line's first and last ASCII non-space byte; -1: none
}

func (g *lineGuard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if rerr := g.scan(p[:n]); rerr != nil {
		return n, rerr
	}
	return n, err
}

func (g *lineGuard) scan(b []byte) *requestError {
	if !g.known {
		if i := indexNonSpace(b); i >= 0 {
			g.format, g.known = detectFormat(g.mt, b[i:]), true
		}
	}
	if g.known && g.format == formatArray {
		return nil
	}
	for len(b) > 0 {
		seg, rest, eol := b, []byte(nil), false
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			seg, rest, eol = b[:i], b[i+1:], true
		}
		if g.format != formatLines || !g.known {
			if g.first < 0 {
				if i := bytes.IndexFunc(seg, isRecordByte); i >= 0 {
					g.first = g.off + int64(i)
				}
			}
			if i := lastIndexRecordByte(seg); i >= 0 {
				g.last = g.off + int64(i)
			}
		}
		g.off += int64(len(seg))
		size := g.off - g.start - 1 // text: a final '\r' is not part of the record
		if g.format == formatNDJSON {
			size = 0
			if g.first >= 0 {
				size = g.last - g.first + 1
			}
		}
		if g.known && size > g.max {
			return tooLarge("line %d: record is over the %d-byte limit", g.line, g.max)
		}
		if eol {
			g.off++
			g.line++
			g.start, g.first, g.last = g.off, -1, -1
		}
		b = rest
	}
	return nil
}

// isRecordByte says whether c, read in an NDJSON line, is surely part of
// the record: ASCII but not space (a non-ASCII byte may belong to a Unicode
// space, which bytes.TrimSpace trims).
func isRecordByte(c rune) bool {
	return c < utf8.RuneSelf && !unicode.IsSpace(c)
}

func lastIndexRecordByte(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if isRecordByte(rune(b[i])) {
			return i
		}
	}
	return -1
}

// mediaType checks the request's Content-Type, before the body is read.
func mediaType(contentType string) (string, *requestError) {
	if contentType == "" {
		return "", nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", badRequest("Content-Type %q: %v", contentType, err)
	}
	switch mt {
	case "text/plain", "application/x-ndjson", "application/ndjson", "application/jsonlines", "application/x-jsonlines",
		"application/jsonl", "application/json", "application/octet-stream", "application/x-www-form-urlencoded":
		return mt, nil
	}
	return "", &requestError{status: http.StatusUnsupportedMediaType, code: "UnsupportedMediaType",
		message: fmt.Sprintf("Content-Type %q is not supported (use application/x-ndjson, application/json or text/plain)", mt)}
}

// detectFormat picks the body format from the media type, or from the
// body's first non-space byte when the type says nothing.
func detectFormat(mt string, body []byte) bodyFormat {
	var first byte
	if i := indexNonSpace(body); i >= 0 {
		first = body[i]
	}
	switch mt {
	case "text/plain":
		return formatLines
	case "application/json":
		if first == '[' {
			return formatArray
		}
		return formatNDJSON
	case "", "application/octet-stream", "application/x-www-form-urlencoded":
		// Shippers often send no type or a generic one: look at the body.
		switch first {
		case '[':
			return formatArray
		case '{':
			return formatNDJSON
		}
		return formatLines
	}
	return formatNDJSON // the NDJSON types
}

// indexNonSpace returns the index of the first byte of b that is not JSON
// whitespace, or -1.
func indexNonSpace(b []byte) int {
	for i, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return i
	}
	return -1
}

// splitRecords splits body into record data, validating JSON formats and
// the per-record size limit. The returned slices alias body.
func splitRecords(dst [][]byte, f bodyFormat, body []byte, maxRecord int) ([][]byte, *requestError) {
	switch f {
	case formatArray:
		return splitArray(dst, body, maxRecord)
	}
	line := 0
	for len(body) > 0 {
		line++
		var rec []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			rec, body = body[:i], body[i+1:]
		} else {
			rec, body = body, nil
		}
		rec = bytes.TrimSuffix(rec, []byte{'\r'})
		if f == formatNDJSON {
			rec = bytes.TrimSpace(rec)
		}
		if len(rec) == 0 {
			continue
		}
		if len(rec) > maxRecord {
			return nil, tooLarge("line %d: record is %d bytes; the limit is %d", line, len(rec), maxRecord)
		}
		// goccy/go-json validates ~8× faster than encoding/json (validation
		// was over half of ingest's CPU) and accepts exactly what it
		// accepts (FuzzValidMatchesEncodingJSON); the error message still
		// comes from encoding/json.
		if f == formatNDJSON && !gojson.Valid(rec) {
			return nil, badRequest("line %d: invalid JSON: %s", line, jsonSyntaxError(rec))
		}
		if f == formatNDJSON && !utf8.Valid(rec) {
			return nil, badRequest("line %d: invalid JSON: %s", line, invalidUTF8(rec))
		}
		dst = append(dst, rec)
	}
	return dst, nil
}

// splitArray splits a JSON array into its elements. Elements are stored
// compact, so that a record never spans lines when delivered as JSON lines.
func splitArray(dst [][]byte, body []byte, maxRecord int) ([][]byte, *requestError) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, badRequest("line %d: body is not a JSON array", lineAt(body, int(dec.InputOffset())))
	}
	for i := 0; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, badRequest("line %d: element %d: invalid JSON: %v", lineAt(body, errorOffset(err, dec)), i, err)
		}
		if len(raw) > maxRecord {
			return nil, tooLarge("line %d: element %d: record is %d bytes; the limit is %d",
				lineAt(body, int(dec.InputOffset())), i, len(raw), maxRecord)
		}
		if !utf8.Valid(raw) {
			return nil, badRequest("line %d: element %d: invalid JSON: %s", lineAt(body, int(dec.InputOffset())), i, invalidUTF8(raw))
		}
		if bytes.ContainsAny(raw, "\r\n") {
			var c bytes.Buffer
			json.Compact(&c, raw) // raw is valid JSON
			raw = c.Bytes()
		}
		dst = append(dst, raw)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		return nil, badRequest("line %d: JSON array is not closed", lineAt(body, int(dec.InputOffset())))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("line %d: content after the JSON array", lineAt(body, int(dec.InputOffset())))
	}
	return dst, nil
}

// errorOffset is where in the input a decode error was found.
func errorOffset(err error, dec *json.Decoder) int {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return int(se.Offset)
	}
	return int(dec.InputOffset())
}

// lineAt returns the 1-based line of byte offset off in body.
func lineAt(body []byte, off int) int {
	return bytes.Count(body[:min(max(off, 0), len(body))], []byte{'\n'}) + 1
}

// invalidUTF8 says where b, valid JSON but for its encoding, is not UTF-8:
// JSON text is UTF-8 (RFC 8259), and what is not would reach destinations
// that parse it (Parquet, Postgres, Elasticsearch) as something else.
func invalidUTF8(b []byte) string {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return fmt.Sprintf("byte %d of the record is not UTF-8 (send other encodings as text/plain)", i+1)
		}
		i += n
	}
	return "not UTF-8"
}

func jsonSyntaxError(b []byte) string {
	var v any
	err := json.Unmarshal(b, &v)
	if err == nil {
		return "unexpected content"
	}
	return err.Error()
}
