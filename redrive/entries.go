package redrive

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// PreviewBytes bounds Entry.DataPreview.
const PreviewBytes = 256

// Entry is one failed record as GET /v1/deliveries/{name}/errors lists it.
type Entry struct {
	Time           time.Time `json:"time"` // the record's arrival
	Type           string    `json:"type"` // error output type
	ErrorCode      string    `json:"error_code"`
	ErrorMessage   string    `json:"error_message"`
	AttemptsMade   int       `json:"attempts_made"`
	ShardID        string    `json:"shard_id"`
	SequenceNumber string    `json:"sequence_number"`
	PartitionKey   string    `json:"partition_key"`
	Object         string    `json:"object"` // the error object's key in its place
	// Line is the record's place among the object's error documents, 1 and
	// up (its sequence number in the redrive shard); blank lines, which
	// WriteErrors never writes, are not counted.
	Line         int    `json:"line"`
	RedriveState string `json:"redrive_state"` // "" (not redriven), planned or done
	DataSize     int    `json:"data_size"`     // bytes of the record
	// DataPreview is the record's first PreviewBytes bytes as text (bytes
	// that are not UTF-8 replaced), to tell records apart.
	DataPreview string `json:"data_preview"`
}

// Entries lists the failed records of delivery under prefix in place that
// filter selects — unlike List, From and To select records by their own
// arrival — at most limit of them (0: no bound), in object key order;
// truncated says that more were left out. It reads one object at a time,
// skips those whose key's type or hour the filter leaves out, and stops
// at the first record past limit.
func Entries(ctx context.Context, place Place, prefix, delivery string, filter Filter, limit int) (entries []Entry, truncated bool, err error) {
	cands, err := candidates(ctx, place, prefix, delivery, filter, false)
	if err != nil {
		return nil, false, err
	}
	entries = []Entry{}
	for _, c := range cands {
		o, err := readObject(ctx, place, c.key, c.typ, filter.maxBytes())
		if err != nil {
			return nil, false, err
		}
		state := ""
		if c.hasMarker {
			m, err := readMarker(ctx, place, c.key)
			if err != nil {
				return nil, false, err
			}
			if m != nil {
				state = m.State
			}
		}
		for j, d := range o.Docs {
			if t := d.Arrival(); (!filter.From.IsZero() && t.Before(filter.From)) || (!filter.To.IsZero() && !t.Before(filter.To)) {
				continue
			}
			if limit > 0 && len(entries) == limit {
				return entries, true, nil
			}
			entries = append(entries, Entry{
				Time: d.Arrival(), Type: o.Type, ErrorCode: d.ErrorCode, ErrorMessage: d.ErrorMessage,
				AttemptsMade: d.AttemptsMade, ShardID: d.ShardID, SequenceNumber: d.SequenceNumber,
				PartitionKey: d.PartitionKey, Object: o.Key, Line: j + 1, RedriveState: state,
				DataSize: len(d.RawData), DataPreview: preview(d.RawData),
			})
		}
	}
	return entries, false, nil
}

func preview(b []byte) string {
	if len(b) > PreviewBytes {
		b = b[:PreviewBytes]
		for n := 0; n < utf8.UTFMax && len(b) > 0 && !utf8.Valid(b); n++ {
			b = b[:len(b)-1] // do not cut a character in two
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// StaticPrefix is the part of a Firehose prefix before its first
// expression: where every object it names is listed from.
func StaticPrefix(prefix string) string {
	if i := strings.Index(prefix, "!{"); i >= 0 {
		return prefix[:i]
	}
	return prefix
}
