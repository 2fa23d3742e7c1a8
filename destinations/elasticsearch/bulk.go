package elasticsearch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
)

// Bulk actions.
const (
	ActionIndex  = "index"  // create or replace
	ActionCreate = "create" // only if no document has the id
)

// item is one record of a batch on its way into the index.
type item struct {
	rec      int    // index in the batch
	index    string // target index
	id       string // "" when the server assigns it
	line     []byte // action and document lines of the bulk body
	attempts int
	err      *destinations.DocumentError // why the last attempt failed
}

// fail records why the item failed; it is kept for the error output.
func (it *item) fail(code, msg string) {
	it.err = &destinations.DocumentError{Code: code, Message: msg, Attempts: it.attempts,
		Index: it.index, DocumentID: it.id}
}

// prepare turns a batch into bulk items. Records that cannot be indexed at
// all (not one JSON object, no usable document id) are returned as
// failures by batch index instead.
func (d *Destination) prepare(b *buffer.Batch) ([]*item, map[int]error) {
	var (
		items  = make([]*item, 0, len(b.Records))
		failed map[int]error
		arena  = make([]byte, 0, b.Bytes+len(b.Records)*(len(d.cfg.Index)+len(b.Delivery)+len(b.ShardID)+64))
	)
	for i, r := range b.Records {
		it := &item{rec: i, index: IndexName(d.cfg.Index, d.cfg.Rotation, r.Arrival)}
		doc, err := document(r.Data)
		if err == nil {
			it.id, err = d.ids.id(b.Delivery, b.ShardID, r.Sequence, r.SubSequence, doc)
		}
		if err != nil {
			if failed == nil {
				failed = make(map[int]error)
			}
			code := "MalformedDocument"
			if doc != nil {
				code = "DocumentIdMissing"
			}
			failed[i] = &destinations.DocumentError{Code: code, Message: err.Error(), Attempts: 1, Index: it.index}
			continue
		}
		start := len(arena)
		arena = appendAction(arena, d.cfg.Action, it.index, it.id)
		arena = append(arena, doc...)
		arena = append(arena, '\n')
		it.line = arena[start:len(arena):len(arena)]
		items = append(items, it)
	}
	return items, failed
}

// document returns a record as one line of JSON: the record must be a single
// JSON object; surrounding white space is dropped and a multi-line document
// compacted.
func document(data []byte) ([]byte, error) {
	doc := bytes.TrimSpace(data)
	if len(doc) == 0 || doc[0] != '{' || !json.Valid(doc) {
		return nil, fmt.Errorf("the record is not a JSON object; a search destination indexes one JSON object per record")
	}
	if bytes.IndexAny(doc, "\r\n") < 0 {
		return doc, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// appendAction appends a bulk action line: {"index":{"_index":"i","_id":"x"}}.
func appendAction(dst []byte, action, index, id string) []byte {
	dst = append(dst, `{"`...)
	dst = append(dst, action...)
	dst = append(dst, `":{"_index":`...)
	dst = destinations.AppendJSONString(dst, index)
	if id != "" {
		dst = append(dst, `,"_id":`...)
		dst = destinations.AppendJSONString(dst, id)
	}
	return append(dst, "}}\n"...)
}

// chunks splits items into groups whose bulk bodies stay within maxBytes;
// an item larger than that goes alone.
func chunks(items []*item, maxBytes int) [][]*item {
	var (
		out  [][]*item
		from int
		size int
	)
	for i, it := range items {
		if i > from && size+len(it.line) > maxBytes {
			out = append(out, items[from:i])
			from, size = i, 0
		}
		size += len(it.line)
	}
	if from < len(items) {
		out = append(out, items[from:])
	}
	return out
}

// bulkResponse is what a _bulk request answers (reduced by filter_path).
type bulkResponse struct {
	Errors bool            `json:"errors"`
	Items  json.RawMessage `json:"items"`
}

// bulkItem is one item's result: {"index":{"status":400,"error":{…}}}.
type bulkItem struct {
	Status int        `json:"status"`
	Error  *itemError `json:"error"`
}

type itemError struct {
	Type     string     `json:"type"`
	Reason   string     `json:"reason"`
	CausedBy *itemError `json:"caused_by"`
}

func (e *itemError) String() string {
	s := e.Type + ": " + e.Reason
	if e.CausedBy != nil {
		s += " (caused by " + e.CausedBy.String() + ")"
	}
	return s
}

// itemResults reads a 200 bulk response for n items: nil when every item
// succeeded, else each item's result in order.
func itemResults(body []byte, n int) ([]bulkItem, error) {
	var resp bulkResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("reading the bulk response: %w", err)
	}
	if !resp.Errors {
		return nil, nil
	}
	var raw []map[string]bulkItem
	if err := json.Unmarshal(resp.Items, &raw); err != nil {
		return nil, fmt.Errorf("reading the bulk response's items: %w", err)
	}
	if len(raw) != n {
		return nil, fmt.Errorf("the bulk response has %d items for %d documents", len(raw), n)
	}
	out := make([]bulkItem, n)
	for i, m := range raw {
		for _, r := range m { // one key: the action
			out[i] = r
		}
	}
	return out, nil
}

// retryable reports whether an item that failed this way may succeed later.
func retryable(status int, e *itemError) bool {
	return status == 429 || status >= 500 || (e != nil && e.Type == "es_rejected_execution_exception")
}

// code names an item failure in the error output: the server's error type,
// or the HTTP status when it gave none.
func code(status int, e *itemError) string {
	if e != nil && e.Type != "" {
		return e.Type
	}
	return strconv.Itoa(status)
}

// serverError reads the error of a whole-request failure:
// {"error":{"type":…,"reason":…},"status":…}, or the start of the body.
func serverError(status int, body []byte) string {
	var resp struct {
		Error *itemError `json:"error"`
	}
	if json.Unmarshal(body, &resp) == nil && resp.Error != nil {
		return fmt.Sprintf("HTTP %d: %s", status, resp.Error)
	}
	const maxBody = 512
	if len(body) > maxBody {
		body = body[:maxBody]
	}
	return fmt.Sprintf("HTTP %d: %q", status, body)
}
