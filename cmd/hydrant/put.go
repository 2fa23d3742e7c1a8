package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

const putUsage = `Usage: hydrant put [flags] STREAM [FILE|-]

Puts the lines of FILE (or standard input) into STREAM through the native API,
one record per non-empty line, in batches. Records the server throttles are
sent again with backoff; a line the server refuses is reported with its line
number. Prints a summary when done.

Exit codes: 0 every record stored, 1 some were not (or the server could not
be reached), 2 usage error.

Flags:
`

// putOptions are the put command's flags.
type putOptions struct {
	endpoint, apiKey, format, partitionKey, progress, output string
	batch, batchBytes                                        int
	retryFor                                                 time.Duration
}

// putSummary is what put reports at the end (and prints with -output json).
type putSummary struct {
	Stream  string      `json:"stream"`
	Records int         `json:"records"` // stored
	Bytes   int64       `json:"bytes"`   // of the stored records
	Failed  int         `json:"failed"`
	Seconds float64     `json:"seconds"`
	Errors  []lineError `json:"errors,omitempty"` // the first few
}

type lineError struct {
	Line    int    `json:"line"` // of the input, 1-based
	Code    string `json:"code"`
	Message string `json:"message"`
}

const maxReportedErrors = 10

func putCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("put", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, putUsage); fs.PrintDefaults() }
	var o putOptions
	fs.StringVar(&o.endpoint, "endpoint", envOr("HYDRANT_ENDPOINT", "http://127.0.0.1:4545"), "Hydrant's address (env HYDRANT_ENDPOINT)")
	fs.StringVar(&o.apiKey, "api-key", os.Getenv("HYDRANT_API_KEY"), "API key, sent as a bearer token (env HYDRANT_API_KEY); without one, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY sign the request (SigV4)")
	fs.StringVar(&o.format, "format", "auto", "auto | ndjson | lines: auto is ndjson when the first line starts with {")
	fs.StringVar(&o.partitionKey, "partition-key", "", "partition key of every record (default: the stream's partition_key_field, else random)")
	fs.IntVar(&o.batch, "batch", 500, "records per request")
	fs.IntVar(&o.batchBytes, "batch-bytes", 4<<20, "bytes per request, at most")
	fs.DurationVar(&o.retryFor, "retry-for", 2*time.Minute, "how long to keep sending throttled records again")
	fs.StringVar(&o.progress, "progress", "auto", "auto | always | never: a progress bar on stderr while putting a file (auto: when stderr is a terminal)")
	fs.StringVar(&o.output, "output", "text", "text | json: the summary's format")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(pos) < 1 || len(pos) > 2 || o.batch < 1 || o.batchBytes < 1 ||
		!slices.Contains([]string{"auto", "ndjson", "lines"}, o.format) || !slices.Contains([]string{"text", "json"}, o.output) ||
		!slices.Contains([]string{"auto", "always", "never"}, o.progress) {
		fs.Usage()
		return 2
	}
	stream, source := pos[0], "-"
	if len(pos) == 2 {
		source = pos[1]
	}
	in, size := stdin, int64(0)
	if source != "-" {
		f, err := os.Open(source)
		if err != nil {
			fmt.Fprintln(stderr, "hydrant put:", err)
			return 2
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		in = f
		if o.format == "auto" {
			switch strings.ToLower(filepath.Ext(source)) {
			case ".ndjson", ".jsonl":
				o.format = "ndjson"
			}
		}
	}
	p := &putter{opts: o, stream: stream, client: &http.Client{Timeout: time.Minute}, stderr: stderr,
		summary: putSummary{Stream: stream}}
	if size > 0 && (o.progress == "always" || o.progress == "auto" && isTerminal(stderr)) {
		p.bar = &progressBar{w: stderr, total: size}
	}
	start := time.Now()
	err = p.run(context.Background(), in)
	p.summary.Seconds = time.Since(start).Seconds()
	p.bar.finish()
	if o.output == "json" {
		json.NewEncoder(stdout).Encode(p.summary)
	} else {
		s := p.summary
		fmt.Fprintf(stdout, "put %d records (%s) to %s in %.1fs; %d failed\n", s.Records, humanBytes(s.Bytes), stream, s.Seconds, s.Failed)
		for _, e := range s.Errors {
			fmt.Fprintf(stdout, "  line %d: %s: %s\n", e.Line, e.Code, e.Message)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "hydrant put:", err)
		return 1
	}
	if p.summary.Failed > 0 {
		return 1
	}
	return 0
}

// putter sends batches of lines and keeps the score.
type putter struct {
	opts    putOptions
	stream  string
	client  *http.Client
	stderr  io.Writer
	bar     *progressBar
	summary putSummary
}

// pendingRecord is a line of the input on its way.
type pendingRecord struct {
	line int // 1-based, in the input
	data []byte
}

// run reads in and puts its lines; it fails only when the server cannot be
// used at all (unreachable past the retry time, or refusing the key).
func (p *putter) run(ctx context.Context, in io.Reader) error {
	r := bufio.NewReaderSize(in, 1<<20)
	var (
		batch []pendingRecord
		size  int // of batch's lines
		line  int
		read  int64
	)
	for {
		raw, err := r.ReadBytes('\n')
		read += int64(len(raw))
		if len(raw) > 0 {
			line++
			data := bytes.TrimRight(raw, "\r\n")
			if len(bytes.TrimSpace(data)) > 0 {
				if p.opts.format == "auto" {
					p.opts.format = "lines"
					if bytes.TrimSpace(data)[0] == '{' {
						p.opts.format = "ndjson"
					}
				}
				if len(batch) > 0 && (len(batch) == p.opts.batch || size+len(data)+1 > p.opts.batchBytes) {
					if err := p.send(ctx, batch); err != nil {
						return err
					}
					batch, size = nil, 0
				}
				batch = append(batch, pendingRecord{line: line, data: data})
				size += len(data) + 1
			}
		}
		p.bar.set(read, p.summary.Records)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if len(batch) > 0 {
		return p.send(ctx, batch)
	}
	return nil
}

// putResponse is the native API's answer to a put.
type putResponse struct {
	Records []struct {
		ErrorCode    string `json:"error_code"`
		ErrorMessage string `json:"error_message"`
	} `json:"records"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// requestLine finds the line a request-level error names ("line 3: …").
var requestLine = regexp.MustCompile(`^line (\d+): `)

// send puts recs, sending throttled records again with backoff until the
// retry time has passed; the records the server refuses are counted failed.
func (p *putter) send(ctx context.Context, recs []pendingRecord) error {
	deadline := time.Now().Add(p.opts.retryFor)
	for attempt := 1; len(recs) > 0; attempt++ {
		status, resp, retryAfter, err := p.post(ctx, recs)
		var again []pendingRecord
		switch {
		case err != nil:
			again = recs
		case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound:
			if resp.Error == nil {
				return fmt.Errorf("HTTP %d from %s", status, p.opts.endpoint)
			}
			return fmt.Errorf("%s: %s", resp.Error.Code, resp.Error.Message)
		case resp.Error != nil: // the whole request was refused (400, 413, 415)
			if m := requestLine.FindStringSubmatch(resp.Error.Message); m != nil {
				// One line is at fault; the others are sent again without it.
				n, _ := strconv.Atoi(m[1])
				if n >= 1 && n <= len(recs) {
					p.fail(recs[n-1], resp.Error.Code, strings.TrimPrefix(resp.Error.Message, m[0]))
					again = append(append(again, recs[:n-1]...), recs[n:]...)
					recs = again
					attempt--
					continue
				}
			}
			for _, r := range recs {
				p.fail(r, resp.Error.Code, resp.Error.Message)
			}
			return nil
		case len(resp.Records) != len(recs):
			err = fmt.Errorf("HTTP %d with %d results for %d records", status, len(resp.Records), len(recs))
			again = recs
		default:
			for i, rr := range resp.Records {
				switch rr.ErrorCode {
				case "":
					p.summary.Records++
					p.summary.Bytes += int64(len(recs[i].data))
				case "ProvisionedThroughputExceededException", "InternalFailure", "ServiceUnavailableException":
					again = append(again, recs[i])
					err = fmt.Errorf("%s: %s", rr.ErrorCode, rr.ErrorMessage)
				default:
					p.fail(recs[i], rr.ErrorCode, rr.ErrorMessage)
				}
			}
		}
		recs = again
		if len(recs) == 0 {
			return nil
		}
		wait := min(time.Duration(1<<min(attempt-1, 5))*100*time.Millisecond, 5*time.Second)
		wait = max(wait/2+rand.N(wait/2+1), retryAfter)
		if time.Now().Add(wait).After(deadline) {
			for _, r := range recs {
				p.fail(r, "RetryTimeExceeded", fmt.Sprintf("not stored after %s: %v", p.opts.retryFor, err))
			}
			if status == 0 { // never reached the server
				return fmt.Errorf("cannot reach %s: %v", p.opts.endpoint, err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return nil
}

// post sends one request and reads its answer.
func (p *putter) post(ctx context.Context, recs []pendingRecord) (status int, resp putResponse, retryAfter time.Duration, err error) {
	var body bytes.Buffer
	for _, r := range recs {
		body.Write(r.data)
		body.WriteByte('\n')
	}
	u := strings.TrimRight(p.opts.endpoint, "/") + "/v1/streams/" + url.PathEscape(p.stream) + "/records"
	if p.opts.partitionKey != "" {
		u += "?partition_key=" + url.QueryEscape(p.opts.partitionKey)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, &body)
	if err != nil {
		return 0, resp, 0, err
	}
	req.Header.Set("Content-Type", "text/plain")
	if p.opts.format == "ndjson" {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	if err := authenticate(req, p.opts.apiKey, body.Bytes()); err != nil {
		return 0, resp, 0, err
	}
	r, err := p.client.Do(req)
	if err != nil {
		return 0, resp, 0, err
	}
	defer r.Body.Close()
	if s, perr := strconv.Atoi(r.Header.Get("Retry-After")); perr == nil {
		retryAfter = time.Duration(s) * time.Second
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&resp); err != nil {
		return r.StatusCode, resp, retryAfter, fmt.Errorf("HTTP %d: unreadable answer: %v", r.StatusCode, err)
	}
	if resp.Error == nil && r.StatusCode >= 400 && r.StatusCode != http.StatusTooManyRequests && r.StatusCode != http.StatusServiceUnavailable {
		return r.StatusCode, resp, retryAfter, fmt.Errorf("HTTP %d", r.StatusCode)
	}
	return r.StatusCode, resp, retryAfter, nil
}

func (p *putter) fail(r pendingRecord, code, msg string) {
	p.summary.Failed++
	if len(p.summary.Errors) < maxReportedErrors {
		p.summary.Errors = append(p.summary.Errors, lineError{Line: r.line, Code: code, Message: msg})
	}
}

// progressBar draws "[=====>    ]  45%  12,000 records" on one terminal
// line, at most every 100 ms. A nil bar draws nothing.
type progressBar struct {
	w     io.Writer
	total int64
	last  time.Time
}

func (b *progressBar) set(done int64, records int) {
	if b == nil || time.Since(b.last) < 100*time.Millisecond && done < b.total {
		return
	}
	b.last = time.Now()
	const width = 30
	filled := int(float64(width) * float64(done) / float64(b.total))
	filled = min(max(filled, 0), width)
	fmt.Fprintf(b.w, "\r[%s%s] %3d%%  %d records", strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		done*100/b.total, records)
}

func (b *progressBar) finish() {
	if b != nil {
		fmt.Fprintln(b.w)
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
