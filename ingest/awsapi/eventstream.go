package awsapi

import (
	"bytes"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// eventStreamContentType is the media type of an AWS event stream: a
// sequence of binary messages, each a prelude (total and header lengths
// and their CRC32), headers, a payload and the message's CRC32.
const eventStreamContentType = "application/vnd.amazon.eventstream"

// eventWriter writes the messages of one event stream answer, each flushed
// to the client as it is written. Payloads are encoded with the codec the
// request came in (JSON or CBOR), as the AWS SDKs decode them. Every write
// has its own deadline, so that a client that stops reading fails the
// write instead of holding the subscription forever, and a stream that
// outlives the server's WriteTimeout is not cut by it.
type eventWriter struct {
	w        http.ResponseWriter
	rc       *http.ResponseController
	codec    codec
	enc      *eventstream.Encoder
	buf      bytes.Buffer
	deadline time.Duration // each write's
}

func newEventWriter(w http.ResponseWriter, c codec, deadline time.Duration) *eventWriter {
	return &eventWriter{w: w, rc: http.NewResponseController(w), codec: c, enc: eventstream.NewEncoder(), deadline: deadline}
}

// start sends the status and headers of the answer, and the initial-response
// event (an empty SubscribeToShardOutput) that RPC protocols open an event
// stream with.
func (ew *eventWriter) start() error {
	ew.w.Header().Set("Content-Type", eventStreamContentType)
	ew.w.WriteHeader(http.StatusOK)
	return ew.event("initial-response", struct{}{})
}

// event writes an event message of type typ with v as its payload.
func (ew *eventWriter) event(typ string, v any) error {
	payload, err := ew.codec.marshal(v)
	if err != nil {
		return err
	}
	var msg eventstream.Message
	msg.Headers.Set(":message-type", eventstream.StringValue("event"))
	msg.Headers.Set(":event-type", eventstream.StringValue(typ))
	msg.Headers.Set(":content-type", eventstream.StringValue(ew.codec.contentType))
	msg.Payload = payload
	return ew.write(msg)
}

// exception writes an exception message: the error the stream ends with,
// as the SDKs raise it (its type in :exception-type, {"message": …} as the
// payload).
func (ew *eventWriter) exception(e *apiError) error {
	payload, err := ew.codec.marshal(map[string]string{"message": e.message})
	if err != nil {
		return err
	}
	var msg eventstream.Message
	msg.Headers.Set(":message-type", eventstream.StringValue("exception"))
	msg.Headers.Set(":exception-type", eventstream.StringValue(e.typ))
	msg.Headers.Set(":content-type", eventstream.StringValue(ew.codec.contentType))
	msg.Payload = payload
	return ew.write(msg)
}

func (ew *eventWriter) write(msg eventstream.Message) error {
	ew.buf.Reset()
	if err := ew.enc.Encode(&ew.buf, msg); err != nil {
		return err
	}
	// A ResponseWriter that cannot take deadlines (none of net/http's) is
	// written without.
	ew.rc.SetWriteDeadline(time.Now().Add(ew.deadline))
	if _, err := ew.w.Write(ew.buf.Bytes()); err != nil {
		return &writeError{err}
	}
	if err := ew.rc.Flush(); err != nil {
		return &writeError{err}
	}
	return nil
}

// writeError is a failed write to the client: it went away, or stopped
// reading for the write timeout.
type writeError struct{ err error }

func (e *writeError) Error() string { return "write to the client: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }
