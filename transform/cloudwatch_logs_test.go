package transform

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hydrant-dev/hydrant/buffer"
)

// cwlEvent is a log event as CloudWatch Logs writes it into a payload.
type cwlEvent struct {
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
	Message   string `json:"message"`
}

// cwlJSON is a subscription payload's JSON, as CloudWatch Logs writes it.
func cwlJSON(messageType, group, stream string, events ...cwlEvent) []byte {
	b, err := json.Marshal(map[string]any{
		"messageType": messageType, "owner": "123456789012", "logGroup": group, "logStream": stream,
		"subscriptionFilters": []string{"to-hydrant"}, "logEvents": events,
	})
	if err != nil {
		panic(err)
	}
	return b
}

// cwlGzip compresses b as CloudWatch Logs compresses a payload.
func cwlGzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// cwlEvents returns n log events whose messages are msg-0, msg-1, ….
func cwlEvents(n int) []cwlEvent {
	events := make([]cwlEvent, n)
	for i := range events {
		events[i] = cwlEvent{ID: fmt.Sprintf("3811395026822686099471608521396993347015780449914270515%d", i), Timestamp: 1709088639367 + int64(i), Message: fmt.Sprintf("msg-%d", i)}
	}
	return events
}

// cwlFlatten lists the records an output stands for as "result data keys code".
func cwlFlatten(o Output) []string {
	var got []string
	o.Records(func(_ int, r Output) bool {
		got = append(got, fmt.Sprintf("%s %s %v %s", r.Result, r.Data, r.PartitionKeys, r.ErrorCode))
		return true
	})
	return got
}

func TestCloudWatchLogs(t *testing.T) {
	data := cwlGzip(cwlJSON("DATA_MESSAGE", "/aws/lambda/f", "2026/12/06/[$LATEST]abc",
		cwlEvent{ID: "1", Timestamp: 1709088639367, Message: "hello"},
		cwlEvent{ID: "2", Timestamp: 1709088639368, Message: `{"level":"info","msg":"a \"quoted\"\nline"}`},
		cwlEvent{ID: "3", Timestamp: 1709088639369, Message: ""}))
	corrupt := bytes.Clone(data)
	corrupt[len(corrupt)-6] ^= 0xff // the CRC-32
	prefix := `{"owner":"123456789012","logGroup":"/aws/lambda/f","logStream":"2026/12/06/[$LATEST]abc","subscriptionFilters":["to-hydrant"],`
	bomb := cwlGzip(make([]byte, 20<<20))
	keys := map[string]any{"partition_keys": map[string]any{"group": "logGroup", "stream": "logStream", "account": "owner"}}
	tests := []struct {
		name    string
		options map[string]any
		in      []byte
		want    []string // "result data keys code" of each record out
	}{
		{"events as JSON", nil, data, []string{
			"Ok " + prefix + `"id":"1","timestamp":1709088639367,"message":"hello"} map[] `,
			"Ok " + prefix + `"id":"2","timestamp":1709088639368,"message":"{\"level\":\"info\",\"msg\":\"a \\\"quoted\\\"\\nline\"}"} map[] `,
			"Ok " + prefix + `"id":"3","timestamp":1709088639369,"message":""} map[] `}},
		{"messages extracted", map[string]any{"extract": "message"}, data, []string{
			"Ok hello\n map[] ", "Ok {\"level\":\"info\",\"msg\":\"a \\\"quoted\\\"\\nline\"}\n map[] ", "Ok \n map[] "}},
		{"one event", map[string]any{"extract": "message"}, cwlGzip(cwlJSON("DATA_MESSAGE", "g", "s", cwlEvents(1)...)), []string{"Ok msg-0\n map[] "}},
		{"partition keys escaped", mergeOptions(keys, map[string]any{"extract": "message"}), cwlGzip(cwlJSON("DATA_MESSAGE", "/aws/lambda/f", `a\b%c`, cwlEvents(2)...)), []string{
			"Ok msg-0\n map[account:123456789012 group:%2Faws%2Flambda%2Ff stream:a%5Cb%25c] ",
			"Ok msg-1\n map[account:123456789012 group:%2Faws%2Flambda%2Ff stream:a%5Cb%25c] "}},
		{"a partition key that cannot be a segment", keys, cwlGzip(cwlJSON("DATA_MESSAGE", "g", "..", cwlEvents(2)...)), []string{"ProcessingFailed  map[] Transform.PartitionKeyError"}},
		{"control message", nil, cwlGzip(cwlJSON("CONTROL_MESSAGE", "", "", cwlEvent{ID: "", Timestamp: 1, Message: "CWL CONTROL MESSAGE: Checking health of destination Firehose."})), []string{"Dropped  map[] "}},
		{"no events", nil, cwlGzip(cwlJSON("DATA_MESSAGE", "g", "s")), []string{"Dropped  map[] "}},
		{"corrupt gzip", nil, corrupt, []string{"ProcessingFailed  map[] Transform.DecompressError"}},
		{"not gzip", nil, cwlJSON("DATA_MESSAGE", "g", "s", cwlEvents(1)...), []string{"ProcessingFailed  map[] Transform.DecompressError"}},
		{"empty", nil, nil, []string{"ProcessingFailed  map[] Transform.DecompressError"}},
		{"a bomb", nil, bomb, []string{"ProcessingFailed  map[] Transform.DecompressError"}},
		{"over max_size", map[string]any{"max_size": "1KiB"}, cwlGzip(cwlJSON("DATA_MESSAGE", "g", "s", cwlEvents(40)...)), []string{"ProcessingFailed  map[] Transform.DecompressError"}},
		{"not JSON", nil, cwlGzip([]byte("hello")), []string{"ProcessingFailed  map[] Transform.CloudWatchLogsError"}},
		{"a JSON array", nil, cwlGzip([]byte(`[{"messageType":"DATA_MESSAGE"}]`)), []string{"ProcessingFailed  map[] Transform.CloudWatchLogsError"}},
		{"no messageType", nil, cwlGzip([]byte(`{"logEvents":[{"id":"1","timestamp":1,"message":"m"}]}`)), []string{"ProcessingFailed  map[] Transform.CloudWatchLogsError"}},
		{"unknown messageType", nil, cwlGzip(cwlJSON("OTHER", "g", "s", cwlEvents(1)...)), []string{"ProcessingFailed  map[] Transform.CloudWatchLogsError"}},
		{"an event without an id", nil, cwlGzip([]byte(`{"messageType":"DATA_MESSAGE","logEvents":[{"timestamp":1,"message":"m"}]}`)), []string{"ProcessingFailed  map[] Transform.CloudWatchLogsError"}},
		{"an event without a timestamp", nil, cwlGzip([]byte(`{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","message":"m"}]}`)), []string{"ProcessingFailed  map[] Transform.CloudWatchLogsError"}},
		{"a message that is not a string", nil, cwlGzip([]byte(`{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":1,"message":{}}]}`)), []string{"ProcessingFailed  map[] Transform.CloudWatchLogsError"}},
		{"past max_records", map[string]any{"max_records": 2}, cwlGzip(cwlJSON("DATA_MESSAGE", "g", "s", cwlEvents(3)...)), []string{"ProcessingFailed  map[] Transform.CloudWatchLogsError"}},
		{"at max_records", map[string]any{"max_records": 2, "extract": "message"}, cwlGzip(cwlJSON("DATA_MESSAGE", "g", "s", cwlEvents(2)...)), []string{"Ok msg-0\n map[] ", "Ok msg-1\n map[] "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := mustBuild(t, NewCloudWatchLogs, tt.options).Process(context.Background(), []buffer.Record{{Data: tt.in, PartitionKey: "p"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 1 {
				t.Fatalf("%d outputs for 1 record", len(out))
			}
			got := cwlFlatten(out[0])
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
				t.Errorf("records\n%q\nwant\n%q", got, tt.want)
			}
			out[0].Records(func(_ int, r Output) bool {
				if r.PartitionKey != "" {
					t.Errorf("record %q has Kinesis partition key %q; it keeps its input's", r.Data, r.PartitionKey)
				}
				if r.Result == Ok && (tt.options == nil || tt.options["extract"] == nil) && !json.Valid(r.Data) {
					t.Errorf("record %q is not JSON", r.Data)
				}
				if r.Result == ProcessingFailed && r.ErrorMessage == "" {
					t.Error("a failed record without an error message")
				}
				return true
			})
		})
	}
}

// mergeOptions returns the options of a and b together.
func mergeOptions(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range []map[string]any{a, b} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// The records of one batch decompress within max_batch_size: a payload
// past it fails, and a smaller one after it still fits.
func TestCloudWatchLogsBatchBudget(t *testing.T) {
	big := cwlGzip(cwlJSON("DATA_MESSAGE", "g", "s", cwlEvent{ID: "1", Timestamp: 1, Message: strings.Repeat("x", 600)}))
	small := cwlGzip(cwlJSON("DATA_MESSAGE", "g", "s", cwlEvents(1)...))
	tr := mustBuild(t, NewCloudWatchLogs, map[string]any{"max_size": "1KiB", "max_batch_size": "1KiB", "extract": "message"})
	out, err := tr.Process(context.Background(), []buffer.Record{{Data: big}, {Data: big}, {Data: small}})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(out[0].Result, out[1].Result, out[2].Result)
	if got != "Ok ProcessingFailed Ok" {
		t.Errorf("results %s, want Ok ProcessingFailed Ok", got)
	}
	if !strings.Contains(out[1].ErrorMessage, "max_batch_size") {
		t.Errorf("the payload past the budget failed with %q; want it to name max_batch_size", out[1].ErrorMessage)
	}
}

// In a chain, each log event goes on to the next transform on its own,
// and one it fails goes to the error output as the event's record.
func TestCloudWatchLogsChain(t *testing.T) {
	cwl := mustBuild(t, NewCloudWatchLogs, nil)
	jq := mustBuild(t, NewJQ, map[string]any{"query": `if .message == "msg-1" then error("no") else {m: .message, g: .logGroup} end`})
	payload := cwlGzip(cwlJSON("DATA_MESSAGE", "g", "s", cwlEvents(3)...))
	out, err := Chain(cwl, jq).Process(context.Background(), []buffer.Record{{Data: payload}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	out[0].Records(func(_ int, r Output) bool {
		d := string(r.Data)
		if r.Result == ProcessingFailed {
			d = fmt.Sprint(strings.Contains(d, `"message":"msg-1"`))
		}
		got = append(got, fmt.Sprintf("%s %s", r.Result, d))
		return true
	})
	want := []string{`Ok {"g":"g","m":"msg-0"}`, "ProcessingFailed true", `Ok {"g":"g","m":"msg-2"}`}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("records %q, want %q", got, want)
	}
}

func TestCloudWatchLogsOptions(t *testing.T) {
	for _, tt := range []struct {
		options map[string]any
		err     string
	}{
		{map[string]any{"extract": "body"}, "extract: must be event or message"},
		{map[string]any{"partition_keys": map[string]any{"g": "logGroupName"}}, "partition_keys.g: must be one of logGroup, logStream, owner"},
		{map[string]any{"partition_keys": "logGroup"}, "partition_keys: must be a mapping"},
		{map[string]any{"max_size": 0}, "max_size: must be more than 0"},
		{map[string]any{"max_size": "2MiB", "max_batch_size": "1MiB"}, "max_batch_size: must be at least max_size"},
		{map[string]any{"max_records": 0}, "max_records: must be 1..1000000"},
		{map[string]any{"format": "gzip"}, "format: unknown option"},
	} {
		if _, err := NewCloudWatchLogs(Env{}, tt.options); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("options %v: %v, want an error saying %q", tt.options, err, tt.err)
		}
	}
	if _, err := NewCloudWatchLogs(Env{}, map[string]any{"extract": "event", "partition_keys": map[string]any{"g": "logGroup"}, "max_records": 10}); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
}

func FuzzCloudWatchLogs(f *testing.F) {
	f.Add(cwlJSON("DATA_MESSAGE", "/aws/lambda/f", "s", cwlEvents(3)...), true)
	f.Add(cwlJSON("CONTROL_MESSAGE", "", "", cwlEvents(1)...), true)
	f.Add([]byte(`{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":1,"message":"\u0000<>&"}]}`), true)
	f.Add(cwlGzip([]byte(`{"messageType":"DATA_MESSAGE"}`)), false)
	f.Fuzz(func(t *testing.T, data []byte, compress bool) {
		if compress {
			data = cwlGzip(data)
		}
		event := mustBuild(t, NewCloudWatchLogs, map[string]any{"max_records": 50, "max_size": "64KiB", "partition_keys": map[string]any{"g": "logGroup"}})
		message := mustBuild(t, NewCloudWatchLogs, map[string]any{"max_records": 50, "max_size": "64KiB", "extract": "message"})
		for i, tr := range []Transform{event, message} {
			out, err := tr.Process(context.Background(), []buffer.Record{{Data: data}})
			if err != nil || len(out) != 1 {
				t.Fatalf("Process = %d outputs, %v", len(out), err)
			}
			if out[0].Count() > 50 {
				t.Fatalf("%d records, over max_records", out[0].Count())
			}
			out[0].Records(func(_ int, r Output) bool {
				switch {
				case r.Result == ProcessingFailed && r.ErrorCode == "":
					t.Fatal("a failed record without an error code")
				case r.Result != Ok:
				case i == 0 && (len(r.Data) == 0 || r.Data[0] != '{' || !json.Valid(r.Data)):
					t.Fatalf("%q is not a JSON object", r.Data)
				case i == 1 && (len(r.Data) == 0 || r.Data[len(r.Data)-1] != '\n'):
					t.Fatalf("%q does not end with a newline", r.Data)
				}
				return true
			})
		}
	})
}

// appendJSONString writes what encoding/json reads back as the string.
func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `"quoted" \ back`, "line\nfeed\r\t\x00\x1f\x7f", "<>&", "é ü 日本 🙂", "\u2028\u2029", "bad \xff utf8 \xc3"} {
		b := appendJSONString([]byte("x"), s)
		var got string
		if err := json.Unmarshal(b[1:], &got); err != nil {
			t.Errorf("%q → %s: %v", s, b[1:], err)
			continue
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); got != want && !strings.Contains(s, "\xc3") {
			t.Errorf("%q → %s → %q", s, b[1:], got)
		}
		if std, _ := json.Marshal(s); strings.ContainsAny(s, "<>&") == false && !bytes.Equal(b[1:], std) {
			t.Errorf("%q → %s; encoding/json writes %s", s, b[1:], std)
		}
	}
}

// BenchmarkCloudWatchLogs turns a payload of 100 log events of 200 bytes
// each into records; bytes are the payload's, decompressed.
func BenchmarkCloudWatchLogs(b *testing.B) {
	events := cwlEvents(100)
	for i := range events {
		events[i].Message = fmt.Sprintf(`{"level":"info","request":%d,"msg":"%s"}`, i, strings.Repeat("handled ", 20))
	}
	raw := cwlJSON("DATA_MESSAGE", "/aws/lambda/checkout", "2026/12/06/[$LATEST]0123456789abcdef", events...)
	payload := cwlGzip(raw)
	for _, extract := range []string{CloudWatchExtractEvent, CloudWatchExtractMessage} {
		b.Run(extract, func(b *testing.B) {
			tr := mustBuild(b, NewCloudWatchLogs, map[string]any{"extract": extract})
			recs := []buffer.Record{{Data: payload}}
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				out, err := tr.Process(context.Background(), recs)
				if err != nil || out[0].Count() != 100 {
					b.Fatal(err, out[0].Count())
				}
			}
		})
	}
}
