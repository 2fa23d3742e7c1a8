package awsapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/fxamacker/cbor/v2"

	"github.com/hydrant-dev/hydrant/ingest/awsapi"
	"github.com/hydrant-dev/hydrant/internal/await"
)

// rawSubscribe sends SubscribeToShard as the AWS Java SDK does, in CBOR,
// or in JSON, and returns the answer.
func rawSubscribe(t *testing.T, e *fanEnv, contentType string, body map[string]any) *http.Response {
	t.Helper()
	var b []byte
	var err error
	if strings.Contains(contentType, "cbor") {
		b, err = cbor.Marshal(body)
	} else {
		b, err = json.Marshal(body)
	}
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, e.url+"/", bytes.NewReader(b))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.SubscribeToShard")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// header is a message header's value, "" when absent.
func header(m eventstream.Message, name string) string {
	if v := m.Headers.Get(name); v != nil {
		return v.String()
	}
	return ""
}

// cborEvent is a SubscribeToShardEvent as the Java SDK decodes it from CBOR.
type cborEvent struct {
	Records []struct {
		SequenceNumber              string
		ApproximateArrivalTimestamp cbor.RawTag
		Data                        []byte
		PartitionKey                string
		EncryptionType              string
	}
	ContinuationSequenceNumber *string
	MillisBehindLatest         int64
}

// A CBOR request is answered with CBOR events: the initial response an
// empty map, records' data as byte strings and their arrival as tag 1
// epoch milliseconds; an exception after the start is an exception message
// with a CBOR payload.
func TestSubscribeToShardCBOR(t *testing.T) {
	e := newFanEnv(t, awsapi.FanOutOptions{})
	c := e.register(t, "java")
	seqs := e.put(t, "\x00\x01binary\xff", "second")
	const ct = "application/x-amz-cbor-1.1"
	resp := rawSubscribe(t, e, ct, map[string]any{"ConsumerARN": aws.ToString(c.ConsumerARN), "ShardId": "shardId-000000000000",
		"StartingPosition": map[string]any{"Type": "TRIM_HORIZON"}})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.amazon.eventstream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("SubscribeToShard over CBOR: %d %s %x", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	dec := eventstream.NewDecoder()
	msg, err := dec.Decode(resp.Body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if header(msg, ":message-type") != "event" || header(msg, ":event-type") != "initial-response" ||
		header(msg, ":content-type") != ct || !bytes.Equal(msg.Payload, []byte{0xa0}) {
		t.Fatalf("first message: %v %x, want an initial-response with an empty CBOR map", msg.Headers, msg.Payload)
	}
	msg, err = dec.Decode(resp.Body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if header(msg, ":event-type") != "SubscribeToShardEvent" || header(msg, ":content-type") != ct {
		t.Fatalf("second message: %v", msg.Headers)
	}
	var ev cborEvent
	if err := cbor.Unmarshal(msg.Payload, &ev); err != nil {
		t.Fatalf("the event is not CBOR: %v (%x)", err, msg.Payload)
	}
	if len(ev.Records) != 2 || string(ev.Records[0].Data) != "\x00\x01binary\xff" || ev.Records[1].SequenceNumber != seqs[1] ||
		ev.Records[0].ApproximateArrivalTimestamp.Number != 1 || aws.ToString(ev.ContinuationSequenceNumber) != seqs[1] {
		t.Fatalf("event %+v", ev)
	}
	var millis int64
	if err := cbor.Unmarshal(ev.Records[0].ApproximateArrivalTimestamp.Content, &millis); err != nil || millis != e.clock.Now().UnixMilli() {
		t.Fatalf("arrival %x (%v), want epoch milliseconds %d", ev.Records[0].ApproximateArrivalTimestamp.Content, err, e.clock.Now().UnixMilli())
	}

	// Taken over by a newer subscription, it ends with an exception.
	e.clock.Add(5 * time.Second)
	subscribe(t, e.kin, c, "shardId-000000000000", types.StartingPosition{Type: types.ShardIteratorTypeLatest})
	for {
		msg, err = dec.Decode(resp.Body, nil)
		if err != nil {
			t.Fatalf("the stream ended without an exception: %v", err)
		}
		if header(msg, ":message-type") != "event" {
			break
		}
	}
	var exc map[string]string
	if header(msg, ":message-type") != "exception" || header(msg, ":exception-type") != "ResourceInUseException" ||
		cbor.Unmarshal(msg.Payload, &exc) != nil || exc["message"] == "" {
		t.Fatalf("exception message %v %x", msg.Headers, msg.Payload)
	}
	if _, err := dec.Decode(resp.Body, nil); err != io.EOF {
		t.Fatalf("after the exception: %v, want the end", err)
	}

	// Refused before it starts: an ordinary CBOR error.
	resp = rawSubscribe(t, e, ct, map[string]any{"ConsumerARN": aws.ToString(c.ConsumerARN), "ShardId": "shardId-000000000042",
		"StartingPosition": map[string]any{"Type": "LATEST"}})
	var aerr struct {
		Type string `cbor:"__type"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != ct || cbor.Unmarshal(b, &aerr) != nil || aerr.Type != "ResourceNotFoundException" {
		t.Fatalf("unknown shard: %d %s %x", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}

// A client that stops reading loses its subscription once a write has
// waited the write timeout: nothing is held for it after that.
func TestSubscribeToShardClientStopsReading(t *testing.T) {
	e := newFanEnv(t, awsapi.FanOutOptions{WriteTimeout: 300 * time.Millisecond, BytesPerSecond: 256 << 20})
	c := e.register(t, "stuck")
	big := strings.Repeat("y", 256<<10)
	for range 4 {
		data := make([]string, 16)
		for i := range data {
			data[i] = big
		}
		e.put(t, data...) // 16 MiB in all, more than the sockets' buffers hold
	}
	// A raw HTTP/1.1 request whose answer is never read, on a socket with a
	// small receive buffer.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := fmt.Sprintf(`{"ConsumerARN":%q,"ShardId":"shardId-000000000000","StartingPosition":{"Type":"TRIM_HORIZON"}}`, aws.ToString(c.ConsumerARN))
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: Kinesis_20131202.SubscribeToShard\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	status, err := bufio.NewReaderSize(conn, 64).ReadString('\n')
	if err != nil || !strings.Contains(status, "200") {
		t.Fatalf("status line %q: %v", status, err)
	}
	start := time.Now()
	// While the stuck subscription is open, another of the consumer to the
	// shard is refused (the clock does not move); once the stuck one's
	// write timed out, it is served.
	resubscribed := func() bool {
		out, err := e.kin.SubscribeToShard(context.Background(), &kinesis.SubscribeToShardInput{ConsumerARN: c.ConsumerARN,
			ShardId: aws.String("shardId-000000000000"), StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeLatest}})
		if err == nil {
			out.GetStream().Close()
			return true
		}
		if apiCode(err) != "ResourceInUseException" {
			t.Fatalf("SubscribeToShard: %v", err)
		}
		return false
	}
	if resubscribed() {
		t.Fatal("a second subscription was served while the first was open")
	}
	await.Cond(t, 10*time.Second, "the stuck subscription to end", resubscribed)
	t.Logf("the subscription of a client that stopped reading ended after %v", time.Since(start))
}
