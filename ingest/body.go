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

// readBody reads the whole (decoded) body into dst, refusing more than limit
// bytes after decompression.
func readBody(dst *bytes.Buffer, r *http.Request, limit int) *requestError {
	var body io.Reader = r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return badRequest("body is not valid gzip: %v", err)
		}
		defer zr.Close()
		body = zr
	case "zstd":
		zr, err := zstd.NewReader(r.Body, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)+1<<20))
		if err != nil {
			return badRequest("body is not valid zstd: %v", err)
		}
		defer zr.Close()
		body = zr
	default:
		return &requestError{status: http.StatusUnsupportedMediaType, code: "UnsupportedContentEncoding",
			message: fmt.Sprintf("Content-Encoding %q is not supported (use gzip, zstd or none)", enc)}
	}
	n, err := dst.ReadFrom(io.LimitReader(body, int64(limit)+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge("request body is over the %d-byte limit", limit)
		}
		if r.Header.Get("Content-Encoding") != "" {
			return badRequest("cannot decode the %s body: %v", r.Header.Get("Content-Encoding"), err)
		}
		return badRequest("reading the body: %v", err)
	}
	if n > int64(limit) {
		return tooLarge("request body is over the %d-byte limit (after decompression)", limit)
	}
	return nil
}

// detectFormat picks the body format from Content-Type, or from the body
// when the type says nothing.
func detectFormat(contentType string, body []byte) (bodyFormat, *requestError) {
	mt := ""
	if contentType != "" {
		parsed, _, err := mime.ParseMediaType(contentType)
		mt = parsed
		if err != nil {
			return 0, badRequest("Content-Type %q: %v", contentType, err)
		}
	}
	first := firstNonSpace(body)
	switch mt {
	case "text/plain":
		return formatLines, nil
	case "application/x-ndjson", "application/ndjson", "application/jsonlines", "application/x-jsonlines", "application/jsonl":
		return formatNDJSON, nil
	case "application/json":
		if first == '[' {
			return formatArray, nil
		}
		return formatNDJSON, nil
	case "", "application/octet-stream", "application/x-www-form-urlencoded":
		// Shippers often send no type or a generic one: look at the body.
		switch first {
		case '[':
			return formatArray, nil
		case '{':
			return formatNDJSON, nil
		}
		return formatLines, nil
	}
	return 0, &requestError{status: http.StatusUnsupportedMediaType, code: "UnsupportedMediaType",
		message: fmt.Sprintf("Content-Type %q is not supported (use application/x-ndjson, application/json or text/plain)", mt)}
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
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
		if f == formatNDJSON && !json.Valid(rec) {
			return nil, badRequest("line %d: invalid JSON: %s", line, jsonSyntaxError(rec))
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

func jsonSyntaxError(b []byte) string {
	var v any
	err := json.Unmarshal(b, &v)
	if err == nil {
		return "unexpected content"
	}
	return err.Error()
}
