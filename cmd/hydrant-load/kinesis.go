package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// buildKinesisBodies returns variants PutRecords request bodies for stream,
// each of perBody records: the same JSON objects of exactly recordSize
// bytes as buildBodies makes (without the newline), base64-encoded in
// Data, each with its own partition key ("pk-" and its sequence number)
// so that the records spread over the shards as a producer's would.
func buildKinesisBodies(stream string, recordSize, perBody, variants int) ([][]byte, error) {
	return buildBatchBodies("StreamName", stream, recordSize, perBody, variants,
		func(dst, rec []byte, seq int) []byte {
			dst = append(dst, `{"Data":"`...)
			dst = base64.StdEncoding.AppendEncode(dst, rec)
			dst = append(dst, `","PartitionKey":"pk-`...)
			dst = strconv.AppendInt(dst, int64(seq), 10)
			return append(dst, `"}`...)
		})
}

// kinesisHeader is the header of a Kinesis API call named op.
func kinesisHeader(op string) http.Header {
	return http.Header{
		"Content-Type": {"application/x-amz-json-1.1"},
		"X-Amz-Target": {"Kinesis_20131202." + op},
	}
}

// kinesisWorkload posts PutRecords bodies to the AWS JSON endpoint at base,
// unsigned (Hydrant takes any credentials when server.auth is empty).
func kinesisWorkload(client *http.Client, base string, bodies [][]byte, perBody int) *workload {
	return &workload{
		client:         client,
		url:            base + "/",
		header:         kinesisHeader("PutRecords"),
		bodies:         bodies,
		recordsPerBody: perBody,
		stored:         storedKinesisRecords,
	}
}

// storedKinesisRecords reads a PutRecords response to a request of sent
// records: how many were stored (FailedRecordCount says how many were
// not), and an error when the request failed as a whole (any status but
// 200).
func storedKinesisRecords(status int, body []byte, sent int) (int, error) {
	if status != http.StatusOK {
		return 0, fmt.Errorf("HTTP %d: %s", status, snippet(body))
	}
	var r struct {
		FailedRecordCount *int `json:"FailedRecordCount"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.FailedRecordCount == nil {
		return 0, fmt.Errorf("HTTP %d: no FailedRecordCount in the response: %s", status, snippet(body))
	}
	failed := *r.FailedRecordCount
	if failed < 0 || failed > sent {
		return 0, fmt.Errorf("HTTP %d: FailedRecordCount %d of %d records", status, failed, sent)
	}
	return sent - failed, nil
}

// awsError is an AWS JSON API call answered with an error.
type awsError struct {
	status int
	typ    string // __type, such as ServiceUnavailableException
	body   string
}

func (e *awsError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.status, e.typ, e.body)
}

// retryable reports whether the call may succeed when made again: the
// server was busy or throttled it.
func (e *awsError) retryable() bool {
	switch e.typ {
	case "ServiceUnavailableException", "ProvisionedThroughputExceededException", "LimitExceededException", "InternalFailure":
		return true
	}
	return e.status >= 500 || e.status == http.StatusTooManyRequests
}

// callKinesis makes the Kinesis API call op at base with the JSON of in,
// reading the answer into buf and decoding it into out with decode.
// An answer other than 200 is an *awsError.
func callKinesis(ctx context.Context, client *http.Client, base, op string, in any, buf *bytes.Buffer, decode func([]byte, any) error, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = kinesisHeader(op)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return fmt.Errorf("%s: HTTP %d: read answer: %w", op, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type string `json:"__type"`
		}
		json.Unmarshal(buf.Bytes(), &e) // best effort: the status says enough
		return &awsError{status: resp.StatusCode, typ: e.Type, body: snippet(buf.Bytes())}
	}
	if err := decode(buf.Bytes(), out); err != nil {
		return fmt.Errorf("%s: decode answer: %w", op, err)
	}
	return nil
}
