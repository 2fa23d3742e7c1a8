package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
)

// Firehose's PutRecordBatch limits, which Hydrant applies as Firehose does.
const (
	maxBatchRecords = 500
	maxBatchBytes   = 4 << 20
)

// buildFirehoseBodies returns variants PutRecordBatch request bodies for
// the DirectPut delivery named delivery, each of perBody records: the same
// JSON objects of exactly recordSize bytes as buildBodies makes (without
// the newline), base64-encoded in Data as the AWS JSON protocol sends
// bytes.
func buildFirehoseBodies(delivery string, recordSize, perBody, variants int) ([][]byte, error) {
	return buildBatchBodies("DeliveryStreamName", delivery, recordSize, perBody, variants,
		func(dst, rec []byte, _ int) []byte {
			dst = append(dst, `{"Data":"`...)
			dst = base64.StdEncoding.AppendEncode(dst, rec)
			return append(dst, `"}`...)
		})
}

// buildBatchBodies returns variants AWS JSON bodies {nameField: name,
// "Records": [...]} of perBody entries each, entry appending one for a
// record of exactly recordSize bytes (as buildBodies makes them, without
// the newline) whose sequence number is seq. Sequence numbers run on
// across the bodies.
func buildBatchBodies(nameField, name string, recordSize, perBody, variants int, entry func(dst, rec []byte, seq int) []byte) ([][]byte, error) {
	head, err := json.Marshal(map[string]string{nameField: name})
	if err != nil {
		return nil, err
	}
	head = append(head[:len(head)-1], `,"Records":[`...)
	bodies := make([][]byte, variants)
	var rec []byte
	seq := 0
	for v := range bodies {
		body := make([]byte, 0, len(head)+perBody*(base64.StdEncoding.EncodedLen(recordSize)+48))
		body = append(body, head...)
		for i := range perBody {
			if rec, err = appendRecord(rec[:0], seq, recordSize); err != nil {
				return nil, err
			}
			if i > 0 {
				body = append(body, ',')
			}
			body = entry(body, rec, seq)
			seq++
		}
		bodies[v] = append(body, "]}"...)
	}
	return bodies, nil
}

// firehoseWorkload posts PutRecordBatch bodies to the AWS JSON endpoint at
// base, unsigned (Hydrant takes any credentials when server.auth.aws is
// empty).
func firehoseWorkload(client *http.Client, base string, bodies [][]byte, perBody int) *workload {
	return &workload{
		client: client,
		url:    base + "/",
		header: http.Header{
			"Content-Type": {"application/x-amz-json-1.1"},
			"X-Amz-Target": {"Firehose_20150804.PutRecordBatch"},
		},
		bodies:         bodies,
		recordsPerBody: perBody,
		stored:         storedFirehoseRecords,
	}
}

// storedFirehoseRecords reads a PutRecordBatch response to a request of
// sent records: how many were stored (FailedPutCount says how many were
// not), and an error when the request failed as a whole (any status but
// 200).
func storedFirehoseRecords(status int, body []byte, sent int) (int, error) {
	if status != http.StatusOK {
		return 0, fmt.Errorf("HTTP %d: %s", status, snippet(body))
	}
	var r struct {
		FailedPutCount *int `json:"FailedPutCount"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.FailedPutCount == nil {
		return 0, fmt.Errorf("HTTP %d: no FailedPutCount in the response: %s", status, snippet(body))
	}
	failed := *r.FailedPutCount
	if failed < 0 || failed > sent {
		return 0, fmt.Errorf("HTTP %d: FailedPutCount %d of %d records", status, failed, sent)
	}
	return sent - failed, nil
}
