package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/hydrant-dev/hydrant/internal/await"
)

// otelCollectorConfig is the collector's: its awsfirehose receiver takes
// CloudWatch Logs subscription payloads (encoding cwlogs; record_type is
// the older name of the key) with an access key, and the file exporter
// writes every batch it is given as a line of OTLP JSON.
const otelCollectorConfig = `
receivers:
  awsfirehose:
    endpoint: %q
    encoding: cwlogs
    access_key: %q
exporters:
  file:
    path: %q
    flush_interval: 100ms
service:
  telemetry:
    metrics: {level: none}
  pipelines:
    logs: {receivers: [awsfirehose], exporters: [file]}
`

// Direct PUT deliveries (no source stream) to the collector: one with its
// access key, gzip and common attributes, one with a wrong key.
const otelHTTPEndpointConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
deliveries:
  - name: logs-otel
    buffer: {size: 1MiB, interval: 200ms}
    retry: {duration: 600s}
    destination:
      http:
        url: "${COLLECTOR_URL}/"
        name: otel-collector
        access_key: "${COLLECTOR_KEY}"
        common_attributes: {env: e2e, team: data}
        content_encoding: gzip
        request_timeout: 5s
  - name: logs-wrong-key
    buffer: {size: 1MiB, interval: 200ms}
    retry: {duration: 2s}
    destination:
      http:
        url: "${COLLECTOR_URL}/"
        access_key: not-the-collector-key
`

// otelCollector is the collector built by make otelfirehose, run on a
// fixed address: each start writes its own output file in dir.
type otelCollector struct {
	t                   *testing.T
	bin, dir, addr, key string
	runs                int
	cmd                 *exec.Cmd
	exited              chan struct{}
}

func otelCollectorBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("HYDRANT_OTELFIREHOSE")
	if bin == "" {
		_, here, _, _ := runtime.Caller(0)
		bin = filepath.Join(filepath.Dir(here), "..", ".cache", "otelfirehose", "otelcol")
	}
	if _, err := os.Stat(bin); err != nil {
		problem := fmt.Sprintf("the OpenTelemetry Collector is not built at %s: run make otelfirehose (make test does), or set HYDRANT_OTELFIREHOSE", bin)
		if testing.Short() && os.Getenv("CI") == "" {
			t.Skip(problem)
		}
		t.Fatal(problem)
	}
	return bin
}

// start runs the collector until its receiver answers; it is stopped when
// the test ends, and its log shown if the test failed.
func (c *otelCollector) start() {
	c.t.Helper()
	c.runs++
	cfgPath := filepath.Join(c.dir, fmt.Sprintf("otelcol-%d.yaml", c.runs))
	out := filepath.Join(c.dir, fmt.Sprintf("logs-%d.jsonl", c.runs))
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, otelCollectorConfig, c.addr, c.key, out), 0o644); err != nil {
		c.t.Fatal(err)
	}
	logPath := filepath.Join(c.dir, fmt.Sprintf("otelcol-%d.log", c.runs))
	logf, err := os.Create(logPath)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(c.bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	c.cmd, c.exited = cmd, exited
	c.t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if c.t.Failed() {
			log, _ := os.ReadFile(logPath)
			c.t.Logf("collector log %d:\n%s", c.runs, log)
		}
	})
	// A request without X-Amz-Firehose-Request-Id gets the receiver's 400:
	// the receiver listens, and the collector has started the exporter first.
	await.Cond(c.t, 30*time.Second, "the collector's awsfirehose receiver answering", func() bool {
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			c.t.Fatalf("the collector exited at start:\n%s", log)
		default:
		}
		resp, err := http.Post("http://"+c.addr+"/", "application/json", strings.NewReader("{}"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusBadRequest
	})
}

// stop ends the collector with SIGTERM (its exporter flushes) and waits.
func (c *otelCollector) stop() {
	c.t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		c.t.Fatal("the collector did not stop within 30 s of SIGTERM")
	}
}

// otelLogRecord is a log record in the file exporter's output, with its
// resource's string attributes.
type otelLogRecord struct {
	body     string
	timeNano string
	resource map[string]string
}

// records reads every complete line the collector's runs have written.
func (c *otelCollector) records() []otelLogRecord {
	c.t.Helper()
	type kv struct {
		Key   string
		Value struct {
			StringValue string `json:"stringValue"`
		}
	}
	var out []otelLogRecord
	for run := 1; run <= c.runs; run++ {
		raw, err := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("logs-%d.jsonl", run)))
		if err != nil {
			continue // not written yet
		}
		raw = raw[:bytes.LastIndexByte(raw, '\n')+1] // a line being written is read next time
		for line := range bytes.Lines(raw) {
			var doc struct {
				ResourceLogs []struct {
					Resource  struct{ Attributes []kv }
					ScopeLogs []struct {
						LogRecords []struct {
							TimeUnixNano string `json:"timeUnixNano"`
							Body         struct {
								StringValue string `json:"stringValue"`
							}
						} `json:"logRecords"`
					} `json:"scopeLogs"`
				} `json:"resourceLogs"`
			}
			if err := json.Unmarshal(line, &doc); err != nil {
				c.t.Fatalf("collector output %.300q: %v", line, err)
			}
			for _, rl := range doc.ResourceLogs {
				attrs := map[string]string{}
				for _, a := range rl.Resource.Attributes {
					attrs[a.Key] = a.Value.StringValue
				}
				for _, sl := range rl.ScopeLogs {
					for _, lr := range sl.LogRecords {
						out = append(out, otelLogRecord{body: lr.Body.StringValue, timeNano: lr.TimeUnixNano, resource: attrs})
					}
				}
			}
		}
	}
	return out
}

// otelEvent is what a log event put should become at the collector.
type otelEvent struct {
	group    string
	timeNano string
}

// otelBatch is one PutRecordBatch of CloudWatch Logs subscription
// payloads: 10 payloads of 20 events (messages "otel-b<batch>-p<payload>-e<event>"),
// alternating between the log groups, and a control message. It adds the
// events to want.
func otelBatch(t *testing.T, batch int, want map[string]otelEvent) []fhtypes.Record {
	t.Helper()
	var recs []fhtypes.Record
	for p := range 10 {
		msgs := make([]string, 20)
		for e := range msgs {
			msgs[e] = fmt.Sprintf("otel-b%d-p%d-e%d", batch, p, e)
			if want != nil {
				want[msgs[e]] = otelEvent{group: cwlLogGroups[p%2], timeNano: fmt.Sprint((1764979200000 + int64(e)) * 1e6)}
			}
		}
		recs = append(recs, fhtypes.Record{Data: cwlPayload(t, "DATA_MESSAGE", cwlLogGroups[p%2], msgs...)})
		if p == 3 {
			recs = append(recs, fhtypes.Record{Data: cwlPayload(t, "CONTROL_MESSAGE", "",
				"CWL CONTROL MESSAGE: Checking health of destination Firehose.")})
		}
	}
	return recs
}

// The OpenTelemetry Collector's awsfirehose receiver — an implementation
// of Firehose's HTTP endpoint delivery specification that nobody here
// wrote — takes the real binary's requests: CloudWatch Logs subscription
// payloads put through the Firehose API reach it as log records, each
// event exactly once, with its message, timestamp, log group and the
// delivery's common attributes (so it read the request id, the access
// key, the gzip body and the common attributes header as Hydrant sent
// them, and Hydrant took its answers as accepted); the collector stopped
// for 3 s (15 flush intervals) while more is put loses nothing; and a
// delivery with a wrong access key is refused (401) until its 2 s retry
// duration has passed, and its records are in the error output as
// http-endpoint-failed.
func TestHTTPEndpointOTelCollector(t *testing.T) {
	began := time.Now()
	const key = "otel-access-key-0123"
	col := &otelCollector{t: t, bin: otelCollectorBinary(t), dir: t.TempDir(), addr: freeAddr(t), key: key}
	col.start()
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, otelHTTPEndpointConfig, "COLLECTOR_URL=http://"+col.addr, "COLLECTOR_KEY="+key)
	fh := firehose.New(firehose.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("any", "any", "")})

	want := map[string]otelEvent{}
	refused := otelBatch(t, 100, nil)
	putBatch(t, fh, "logs-wrong-key", refused)
	for b := range 5 {
		putBatch(t, fh, "logs-otel", otelBatch(t, b, want))
	}
	exactlyOnce := func() {
		t.Helper()
		var got []otelLogRecord
		await.Cond(t, 60*time.Second, fmt.Sprintf("%d log records at the collector", len(want)), func() bool {
			got = col.records()
			return len(got) >= len(want)
		})
		seen := map[string]int{}
		for _, r := range got {
			seen[r.body]++
			w, ok := want[r.body]
			switch {
			case !ok:
				t.Fatalf("the collector received a log record never put: %+v", r)
			case r.timeNano != w.timeNano || r.resource["aws.cloudwatch.log_group_name"] != w.group ||
				r.resource["cloud.account.id"] != "123456789012" || r.resource["env"] != "e2e" || r.resource["team"] != "data":
				t.Fatalf("log record %+v; want time %s, log group %s, account 123456789012 and the common attributes env=e2e, team=data",
					r, w.timeNano, w.group)
			}
		}
		for msg := range want {
			if seen[msg] != 1 {
				t.Fatalf("event %s received %d times", msg, seen[msg])
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d log records at the collector, want the %d events put", len(got), len(want))
		}
	}
	exactlyOnce()
	t.Logf("%d events in 50 payloads (and 5 control messages) received once each (%v)", len(want), time.Since(began).Round(time.Millisecond))

	// The wrong key's records: refused by the receiver, then in the error output.
	var failed []map[string]any
	await.Cond(t, 30*time.Second, "the wrong key's 11 records in the error output", func() bool {
		failed = httpErrorDocuments(t, filepath.Join(dir, "data", "errors", "logs-wrong-key"))
		return len(failed) >= len(refused)
	})
	if len(failed) != len(refused) {
		t.Errorf("%d records in the error output, want the %d put with the wrong key", len(failed), len(refused))
	}
	for _, doc := range failed {
		raw, _ := base64.StdEncoding.DecodeString(doc["rawData"].(string))
		if doc["errorCode"] != "HttpEndpoint.DestinationException" || !strings.Contains(doc["errorMessage"].(string), "401") ||
			!strings.Contains(doc["errorMessage"].(string), "invalid firehose access key") || doc["attemptsMade"].(float64) < 2 ||
			!slices.ContainsFunc(refused, func(r fhtypes.Record) bool { return bytes.Equal(r.Data, raw) }) {
			t.Errorf("error document %v", doc)
		}
	}
	filepath.WalkDir(filepath.Join(dir, "data", "errors", "logs-wrong-key"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(filepath.ToSlash(path), "/http-endpoint-failed/") {
			t.Errorf("error output %s is not under http-endpoint-failed", path)
		}
		return nil
	})
	t.Logf("wrong access key: the %d records refused (401) in the error output as http-endpoint-failed (%v)",
		len(failed), time.Since(began).Round(time.Millisecond))

	// The collector goes away for 3 s while more is put; once it is back,
	// every event arrives, each once.
	retries := func() int {
		log, _ := os.ReadFile(h.logPath)
		n := 0
		for line := range strings.Lines(string(log)) {
			if strings.Contains(line, "endpoint did not accept the request, retrying") && strings.Contains(line, "logs-otel") {
				n++
			}
		}
		return n
	}
	before := retries()
	col.stop()
	down := time.Now()
	for b := 5; b < 10; b++ {
		putBatch(t, fh, "logs-otel", otelBatch(t, b, want))
	}
	await.Cond(t, 30*time.Second, "hydrant retrying against the stopped collector for 3 s", func() bool {
		return retries() > before && time.Since(down) >= 3*time.Second
	})
	downFor, retried := time.Since(down), retries()-before
	col.start()
	exactlyOnce()
	t.Logf("collector down %v (%d retries logged), then %d events received once each (%v)",
		downFor.Round(time.Millisecond), retried, len(want), time.Since(began).Round(time.Millisecond))
	h.stop()
	if leaked, _ := os.ReadFile(h.logPath); strings.Contains(string(leaked), key) {
		t.Error("the access key is in the log")
	}
}
