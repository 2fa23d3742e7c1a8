package redrive

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

// Document is one Firehose error document: a failed record and why it
// failed. RawData is the record as it failed (decoded from base64).
type Document struct {
	AttemptsMade           int    `json:"attemptsMade"`
	ArrivalTimestamp       int64  `json:"arrivalTimestamp"` // ms since the epoch
	ErrorCode              string `json:"errorCode"`
	ErrorMessage           string `json:"errorMessage"`
	AttemptEndingTimestamp int64  `json:"attemptEndingTimestamp"`
	RawData                []byte `json:"rawData"`
	DeliveryStreamName     string `json:"deliveryStreamName"`
	ShardID                string `json:"shardId"`
	SequenceNumber         string `json:"sequenceNumber"`
	PartitionKey           string `json:"partitionKey"`
}

// Arrival is when the record arrived.
func (d Document) Arrival() time.Time { return time.UnixMilli(d.ArrivalTimestamp).UTC() }

// Object is one error object of a delivery.
type Object struct {
	Key  string
	Type string // error output type: processing-failed, postgres-failed, …
	// Time is the earliest arrival of its records: what from and to select.
	Time time.Time
	Docs []Document
}

// objectKey matches the name of an error object (destinations.Objects'
// WriteErrors) after its delivery's name: [.replay<n>]-<shard>-<sequence,
// 20 digits>[-<sub>]-<type>.jsonl with the compression's extension. A
// replay (hydrant deliveries reset) names its batches <delivery>.replay<n>,
// so that its failures are error objects of their own. The delivery is
// checked separately: its name may contain dashes.
var objectKey = regexp.MustCompile(`^(?:\.replay\d+)?-(shardId-\d+|redrive-[0-9a-f]{16})-\d{20}(?:-\d+)?-([a-z]+(?:-[a-z]+)*-failed)\.jsonl(\.gz|\.zst|\.snappy)?$`)

// parseKey returns the error type of key when it names an error object of
// delivery.
func parseKey(delivery, key string) (typ string, ok bool) {
	base := path.Base(key)
	if !strings.HasPrefix(base, delivery) {
		return "", false
	}
	m := objectKey.FindStringSubmatch(base[len(delivery):])
	if m == nil {
		return "", false
	}
	return m[2], true
}

// RedriveShard is the shard name a redrive gives the records of the error
// object at key: "redrive-" and 16 hex digits of the key's SHA-256.
func RedriveShard(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "redrive-" + hex.EncodeToString(sum[:8])
}

// markerSuffix names an error object's redrive marker: <key>.redrive.json.
const markerSuffix = ".redrive.json"

// Marker is what a redrive writes beside an error object.
type Marker struct {
	State     string    `json:"state"` // planned | done
	Shard     string    `json:"shard"` // the redrive shard its records were sent as
	Records   int       `json:"records"`
	Delivered int       `json:"delivered"`
	Dropped   int       `json:"dropped"` // the transform dropped them
	Failed    int       `json:"failed"`  // written to the error output again, under Shard
	At        time.Time `json:"at"`
	// Plan is kept while the object is planned, dropped once it is done.
	Plan *Plan `json:"plan,omitempty"`
}

// Marker states.
const (
	StatePlanned = "planned"
	StateDone    = "done"
)

// Filter selects error objects: of Type (all types when empty) whose
// Time is in [From, To) (unbounded when zero).
type Filter struct {
	Type     string
	From, To time.Time
}

func (f Filter) match(o *Object) bool {
	return (f.Type == "" || f.Type == o.Type) &&
		(f.From.IsZero() || !o.Time.Before(f.From)) && (f.To.IsZero() || o.Time.Before(f.To))
}

// List reads the error objects of delivery under prefix in place that
// filter selects, in key order, with their markers (nil when none).
func List(ctx context.Context, place Place, prefix, delivery string, filter Filter) ([]*Object, []*Marker, error) {
	keys, err := place.List(ctx, prefix)
	if err != nil {
		return nil, nil, err
	}
	have := make(map[string]bool, len(keys))
	for _, k := range keys {
		have[k] = true
	}
	var (
		objs    []*Object
		markers []*Marker
	)
	for _, k := range keys {
		typ, ok := parseKey(delivery, k)
		if !ok || (filter.Type != "" && typ != filter.Type) {
			continue
		}
		o, err := readObject(ctx, place, k, typ)
		if err != nil {
			return nil, nil, err
		}
		if len(o.Docs) == 0 || !filter.match(o) {
			continue
		}
		var m *Marker
		if have[k+markerSuffix] {
			if m, err = readMarker(ctx, place, k); err != nil {
				return nil, nil, err
			}
		}
		objs, markers = append(objs, o), append(markers, m)
	}
	return objs, markers, nil
}

func readObject(ctx context.Context, place Place, key, typ string) (*Object, error) {
	raw, err := place.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read error object %s: %w", key, err)
	}
	body, err := decompress(key, raw)
	if err != nil {
		return nil, fmt.Errorf("error object %s: %w (not retryable: the object is damaged)", key, err)
	}
	docs, err := parseDocuments(body)
	if err != nil {
		return nil, fmt.Errorf("error object %s: %w (not retryable: the object is damaged)", key, err)
	}
	o := &Object{Key: key, Type: typ, Docs: docs}
	for i, d := range docs {
		if t := d.Arrival(); i == 0 || t.Before(o.Time) {
			o.Time = t
		}
	}
	return o, nil
}

// parseDocuments reads error documents, one per line.
func parseDocuments(body []byte) ([]Document, error) {
	var docs []Document
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<30)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var d Document
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		docs = append(docs, d)
	}
	return docs, sc.Err()
}

// decompress undoes the compression key's extension names.
func decompress(key string, raw []byte) ([]byte, error) {
	switch {
	case strings.HasSuffix(key, ".gz"):
		r, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	case strings.HasSuffix(key, ".zst"):
		d, err := zstd.NewReader(nil)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return d.DecodeAll(raw, nil)
	case strings.HasSuffix(key, ".snappy"):
		return io.ReadAll(snappy.NewReader(bytes.NewReader(raw)))
	}
	return raw, nil
}

func readMarker(ctx context.Context, place Place, key string) (*Marker, error) {
	raw, err := place.Get(ctx, key+markerSuffix)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read redrive marker of %s: %w", key, err)
	}
	var m Marker
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil // a damaged marker is no marker: the object is redriven, which is safe
	}
	return &m, nil
}

// writeMarker writes m beside the error object at key.
func writeMarker(ctx context.Context, place Place, key string, m Marker) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := place.Put(ctx, key+markerSuffix, append(body, '\n')); err != nil {
		return fmt.Errorf("write redrive marker of %s: %w", key, err)
	}
	return nil
}
