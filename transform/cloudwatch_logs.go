package transform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/internal/partitionkey"
)

const codeCloudWatchLogsError = "Transform.CloudWatchLogsError"

// What cloudwatch_logs makes of each log event (its extract option).
const (
	CloudWatchExtractEvent   = "event"   // a JSON object: the event and its log group's fields
	CloudWatchExtractMessage = "message" // the message and a newline, as Firehose's message extraction
)

// cloudWatchFields are the payload's fields a partition key may take.
var cloudWatchFields = []string{"logGroup", "logStream", "owner"}

// NewCloudWatchLogs builds cloudwatch_logs: each record is a CloudWatch
// Logs subscription payload, as a subscription filter puts it to Firehose
// or Kinesis (gzip-compressed JSON: messageType, owner, logGroup,
// logStream, subscriptionFilters, logEvents [{id, timestamp, message}]),
// and becomes one record per log event, in order. What Firehose does with
// its Decompression and CloudWatchLogProcessing processors.
//
//	transforms:
//	  - type: cloudwatch_logs
//	    extract: event              # or message
//	    partition_keys: {group: logGroup, stream: logStream}   # optional
//	    max_size: 10MiB             # per payload, decompressed
//	    max_batch_size: 32MiB       # per batch, all its payloads decompressed
//	    max_records: 50000          # log events per payload
//
// extract: event (the default) makes each event the JSON object
// {"owner","logGroup","logStream","subscriptionFilters","id","timestamp","message"}
// (the payload's own names; timestamp in epoch milliseconds); extract:
// message makes it the message alone followed by "\n", as Firehose's
// message extraction delivers it. A CONTROL_MESSAGE (CloudWatch Logs
// checking that it can reach the destination) is Dropped, as is a payload
// of no events.
//
// partition_keys names partition keys after the payload's logGroup,
// logStream or owner, for !{partitionKeyFromQuery:NAME} in a prefix. A
// value is one path segment, so "%", "/" and "\" in it are written %25, %2F
// and %5C, as Hive escapes partition values (/aws/lambda/f is
// %2Faws%2Flambda%2Ff); a value that still cannot be one segment (longer
// than 255 bytes, "." or "..", a control character) fails its payload's
// events (Transform.PartitionKeyError).
//
// A payload that is not gzip, or decompresses to more than max_size, or
// would take its batch's payloads together past max_batch_size, fails
// whole with Transform.DecompressError, having allocated no more than
// that: decompression is bounded as in decompress. One that is not a
// subscription payload (not JSON, no or an unknown messageType, a log
// event without an id or timestamp) or holds more than max_records events
// fails whole with Transform.CloudWatchLogsError, saying what is wrong.
func NewCloudWatchLogs(_ Env, options map[string]any) (Transform, error) {
	o := NewOptions(options)
	extract := o.String("extract", CloudWatchExtractEvent)
	keys := o.StringMap("partition_keys")
	maxSize := o.Size("max_size", defaultMaxDecompressed)
	maxBatch := o.Size("max_batch_size", max(defaultMaxBatchDecompressed, maxSize))
	limit := o.Int("max_records", 50_000)
	if extract != CloudWatchExtractEvent && extract != CloudWatchExtractMessage {
		o.Fail("extract", "must be event or message, not %q", extract)
	}
	for _, name := range slices.Sorted(maps.Keys(keys)) {
		switch field := keys[name]; {
		case name == "":
			o.Fail("partition_keys", "a partition key needs a name")
		case !slices.Contains(cloudWatchFields, field):
			o.Fail("partition_keys."+name, "must be one of %s, not %q", strings.Join(cloudWatchFields, ", "), field)
		}
	}
	if maxSize <= 0 {
		o.Fail("max_size", "must be more than 0, got %d", maxSize)
	}
	if maxBatch < maxSize {
		o.Fail("max_batch_size", "must be at least max_size (%d bytes), got %d", maxSize, maxBatch)
	}
	if limit < 1 || limit > 1_000_000 {
		o.Fail("max_records", "must be 1..1000000, not %d", limit)
	}
	if err := o.Err(); err != nil {
		return nil, err
	}
	c := &cloudWatchLogs{gz: &gunzipper{max: maxSize}, message: extract == CloudWatchExtractMessage, keys: keys, limit: limit}
	return BatchFunc(func(ctx context.Context, recs []buffer.Record) ([]Output, error) {
		out := make([]Output, len(recs))
		left := maxBatch // decompressed bytes the batch may still hold
		for i, r := range recs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			data, err := c.gz.decompress(r.Data, min(maxSize, left))
			var over *overLimitError
			if err == nil && len(data) > left || errors.As(err, &over) && left < maxSize {
				err = fmt.Errorf("the batch's payloads decompress to more than max_batch_size (%d bytes): this one does not fit in what is left (%d bytes)", maxBatch, left)
			}
			if err != nil {
				out[i] = failedOutput(codeDecompressError, "gzip: "+strings.TrimPrefix(err.Error(), "gzip: "))
				continue
			}
			left -= len(data)
			out[i] = c.payload(data)
		}
		return out, nil
	}), nil
}

// cloudWatchLogs is one cloudwatch_logs transform's settings.
type cloudWatchLogs struct {
	gz      *gunzipper
	message bool              // extract: message
	keys    map[string]string // partition key name → payload field
	limit   int               // log events per payload
}

// cloudWatchPayload is a CloudWatch Logs subscription payload, decompressed.
type cloudWatchPayload struct {
	MessageType         string            `json:"messageType"`
	Owner               string            `json:"owner"`
	LogGroup            string            `json:"logGroup"`
	LogStream           string            `json:"logStream"`
	SubscriptionFilters []string          `json:"subscriptionFilters"`
	LogEvents           []cloudWatchEvent `json:"logEvents"`
}

// cloudWatchEvent is one log event of a payload; ID and Timestamp are
// pointers so that a missing one is told from an empty one.
type cloudWatchEvent struct {
	ID        *string `json:"id"`
	Timestamp *int64  `json:"timestamp"`
	Message   string  `json:"message"`
}

// field returns the payload's field name (one of cloudWatchFields).
func (p *cloudWatchPayload) field(name string) string {
	switch name {
	case "logGroup":
		return p.LogGroup
	case "logStream":
		return p.LogStream
	}
	return p.Owner
}

// payload turns one decompressed payload into its log events' records.
func (c *cloudWatchLogs) payload(data []byte) Output {
	var p cloudWatchPayload
	if err := json.Unmarshal(data, &p); err != nil {
		return failedOutput(codeCloudWatchLogsError, "the payload is not CloudWatch Logs subscription JSON: "+err.Error())
	}
	switch p.MessageType {
	case "CONTROL_MESSAGE":
		return Output{Result: Dropped}
	case "DATA_MESSAGE":
	case "":
		return failedOutput(codeCloudWatchLogsError, "the payload has no messageType: not a CloudWatch Logs subscription payload")
	default:
		return failedOutput(codeCloudWatchLogsError, fmt.Sprintf("messageType %.64q is neither DATA_MESSAGE nor CONTROL_MESSAGE", p.MessageType))
	}
	if len(p.LogEvents) > c.limit {
		return failedOutput(codeCloudWatchLogsError, fmt.Sprintf("the payload holds %d log events, more than max_records (%d)", len(p.LogEvents), c.limit))
	}
	for i, e := range p.LogEvents {
		switch {
		case e.ID == nil:
			return failedOutput(codeCloudWatchLogsError, fmt.Sprintf("log event %d has no id", i))
		case e.Timestamp == nil:
			return failedOutput(codeCloudWatchLogsError, fmt.Sprintf("log event %d has no timestamp", i))
		}
	}
	if len(p.LogEvents) == 0 {
		return Output{Result: Dropped}
	}
	var keys map[string]string // shared, read-only, by the payload's records
	if len(c.keys) > 0 {
		keys = make(map[string]string, len(c.keys))
		for _, name := range slices.Sorted(maps.Keys(c.keys)) {
			v := escapePartitionValue(p.field(c.keys[name]))
			if msg := partitionkey.Unsafe(v); msg != "" {
				return failedOutput(codePartitionKeyError, fmt.Sprintf("partition key %q (the payload's %s) %s", name, c.keys[name], msg))
			}
			keys[name] = v
		}
	}
	arena, ends := c.records(&p)
	outs := make([]Output, len(ends))
	start := 0
	for i, end := range ends {
		outs[i] = Output{Result: Ok, Data: arena[start:end:end], PartitionKeys: keys}
		start = end
	}
	out := outs[0]
	if len(outs) > 1 {
		out.More = outs[1:]
	}
	return out
}

// records writes each log event's record into one buffer, one after the
// other, and returns it with each record's end.
func (c *cloudWatchLogs) records(p *cloudWatchPayload) (arena []byte, ends []int) {
	size, common := 0, []byte(nil)
	if !c.message {
		common = append(common, `{"owner":`...)
		common = appendJSONString(common, p.Owner)
		common = append(common, `,"logGroup":`...)
		common = appendJSONString(common, p.LogGroup)
		common = append(common, `,"logStream":`...)
		common = appendJSONString(common, p.LogStream)
		common = append(common, `,"subscriptionFilters":[`...)
		for i, f := range p.SubscriptionFilters {
			if i > 0 {
				common = append(common, ',')
			}
			common = appendJSONString(common, f)
		}
		common = append(common, `],"id":`...)
	}
	for _, e := range p.LogEvents {
		size += len(common) + len(e.Message) + 1
		if !c.message {
			size += len(*e.ID) + len(`"","timestamp":-9223372036854775808,"message":""}`)
		}
	}
	arena = make([]byte, 0, size)
	ends = make([]int, len(p.LogEvents))
	for i, e := range p.LogEvents {
		if c.message {
			arena = append(append(arena, e.Message...), '\n')
		} else {
			arena = append(arena, common...)
			arena = appendJSONString(arena, *e.ID)
			arena = append(arena, `,"timestamp":`...)
			arena = strconv.AppendInt(arena, *e.Timestamp, 10)
			arena = append(arena, `,"message":`...)
			arena = appendJSONString(arena, e.Message)
			arena = append(arena, '}')
		}
		ends[i] = len(arena)
	}
	return arena, ends
}

// appendJSONString appends s as a JSON string, as encoding/json writes it
// but for <, > and &, which it keeps: invalid UTF-8 becomes U+FFFD, and
// U+2028 and U+2029 are escaped.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			if r == utf8.RuneError {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			}
			start = i + size
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// escapePartitionValue writes "%", "/" and "\" in v as %25, %2F and %5C,
// as Hive escapes a partition value in a path.
func escapePartitionValue(v string) string {
	if !strings.ContainsAny(v, "%/\\") {
		return v
	}
	return partitionEscaper.Replace(v)
}

var partitionEscaper = strings.NewReplacer("%", "%25", "/", "%2F", "\\", "%5C")
