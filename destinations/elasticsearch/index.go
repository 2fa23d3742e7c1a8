package elasticsearch

import (
	"fmt"
	"strconv"
	"time"

	"github.com/hydrant-dev/hydrant/internal/jsonpointer"
)

// Index rotation periods.
const (
	RotationNone  = "none"
	RotationHour  = "hour"
	RotationDay   = "day"
	RotationWeek  = "week"
	RotationMonth = "month"
)

// IndexName returns the index a record that arrived at t goes to: base with
// Firehose's rotation suffix for the period, on UTC time.
func IndexName(base, rotation string, t time.Time) string {
	t = t.UTC()
	switch rotation {
	case RotationHour:
		return base + t.Format("-2006-01-02-15")
	case RotationDay:
		return base + t.Format("-2006-01-02")
	case RotationWeek:
		// Weeks start on Sunday; days before the year's first Sunday are
		// week 00 (strftime's %U), as Firehose's OneWeek names them.
		week := (t.YearDay() - 1 + 7 - int(t.Weekday())) / 7
		return fmt.Sprintf("%s-%d-w%02d", base, t.Year(), week)
	case RotationMonth:
		return base + t.Format("-2006-01")
	}
	return base
}

// Document id modes; anything else is a JSON pointer.
const (
	DocumentIDNone = "none" // the server assigns ids: a re-delivered batch is indexed twice
	DocumentIDAuto = "auto" // from delivery, shard and sequence: re-delivery overwrites
)

// maxIDBytes is the longest _id Elasticsearch and OpenSearch accept.
const maxIDBytes = 512

// idSource picks a record's document id.
type idSource struct {
	mode    string // none, auto, or pointer
	pointer jsonpointer.Pointer
}

func newIDSource(s string) (idSource, error) {
	switch s {
	case "", DocumentIDAuto:
		return idSource{mode: DocumentIDAuto}, nil
	case DocumentIDNone:
		return idSource{mode: DocumentIDNone}, nil
	}
	p, err := jsonpointer.Compile(s)
	if err != nil || p.IsZero() {
		return idSource{}, fmt.Errorf("document_id must be none, auto or a JSON pointer such as /id, not %q", s)
	}
	return idSource{mode: "pointer", pointer: p}, nil
}

// id returns the document id of a record of a delivery's shard; "" when the
// server assigns it. An error means the record has no usable id.
func (s idSource) id(delivery, shardID string, seq uint64, sub uint32, doc []byte) (string, error) {
	switch s.mode {
	case DocumentIDNone:
		return "", nil
	case DocumentIDAuto:
		return autoID(delivery, shardID, seq, sub), nil
	}
	id, ok := s.pointer.LookupString(doc)
	if !ok {
		return "", fmt.Errorf("the document has no string, number or boolean at its document_id pointer")
	}
	if len(id) > maxIDBytes {
		return "", fmt.Errorf("the document id is %d bytes; at most %d are allowed", len(id), maxIDBytes)
	}
	return id, nil
}

// autoID names a record by where it is in the shard log, so that the same
// record always gets the same id: "<delivery>-<shard id>-<sequence>", and
// "-<sub-sequence>" after it for a record its source record yielded after
// its first (a KPL sub-record).
func autoID(delivery, shardID string, seq uint64, sub uint32) string {
	b := make([]byte, 0, len(delivery)+len(shardID)+33)
	b = append(b, delivery...)
	b = append(b, '-')
	b = append(b, shardID...)
	b = append(b, '-')
	b = strconv.AppendUint(b, seq, 10)
	if sub > 0 {
		b = append(b, '-')
		b = strconv.AppendUint(b, uint64(sub), 10)
	}
	return string(b)
}
