package redrive

import (
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

	"github.com/hydrant-dev/hydrant/destinations"
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
	State string `json:"state"` // planned | done
	Shard string `json:"shard"` // the redrive shard its records were sent as
	// Owner is the node that planned it: another node's plan younger than
	// the lease is left to it.
	Owner     string    `json:"owner,omitempty"`
	Records   int       `json:"records"`
	Delivered int       `json:"delivered"`
	Dropped   int       `json:"dropped"` // the transform dropped them
	Failed    int       `json:"failed"`  // written to the error output again, under Shard
	At        time.Time `json:"at"`
	// Time is the object's earliest arrival: a done object is filtered by
	// it without being read again.
	Time time.Time `json:"time,omitzero"`
	// Plan is kept while the object is planned, dropped once it is done.
	Plan *Plan `json:"plan,omitempty"`
}

// maxMarkerBytes bounds a marker: its plan holds the object's records.
const maxMarkerBytes = 2 * DefaultMaxObjectBytes

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
	// MaxObjectBytes bounds what one error object may hold, compressed and
	// decompressed (0: DefaultMaxObjectBytes). A bigger one is refused with
	// ErrObjectTooLarge.
	MaxObjectBytes int64
}

// DefaultMaxObjectBytes is twice the largest batch (128 MiB), which the
// base64 of an error object's records fits in.
const DefaultMaxObjectBytes = 256 << 20

// ErrObjectTooLarge is wrapped by the error about an error object bigger
// than Filter.MaxObjectBytes: it is not read (a retry does not help: move
// the object away, or select around it with the filter).
var ErrObjectTooLarge = errors.New("error object too large")

func (f Filter) match(o *Object) bool {
	return (f.Type == "" || f.Type == o.Type) &&
		(f.From.IsZero() || !o.Time.Before(f.From)) && (f.To.IsZero() || o.Time.Before(f.To))
}

func (f Filter) maxBytes() int64 {
	if f.MaxObjectBytes > 0 {
		return f.MaxObjectBytes
	}
	return DefaultMaxObjectBytes
}

// keyHour matches the yyyy/MM/dd/HH/ a default error prefix puts before an
// object's name: the hour of its oldest record's arrival (UTC).
var keyHour = regexp.MustCompile(`(?:^|/)(\d{4}/\d{2}/\d{2}/\d{2})/[^/]*$`)

// hourOf is the hour the key's path names, or zero.
func hourOf(key string) time.Time {
	m := keyHour.FindStringSubmatch(key)
	if m == nil {
		return time.Time{}
	}
	t, err := time.Parse("2006/01/02/15", m[1])
	if err != nil {
		return time.Time{}
	}
	return t
}

// candidate is an error object as listed, before it is read.
type candidate struct {
	key, typ  string
	hour      time.Time // from the key's path; zero when it names none
	hasMarker bool
}

// candidates lists the keys of delivery's error objects under prefix in
// place, in key order, that filter may select by what their keys say:
// the type, and the hour of the path (objects is true: the object's
// earliest arrival must be in [From, To); false: any of its records'
// arrivals, which are at or after the earliest).
func candidates(ctx context.Context, place Place, prefix, delivery string, filter Filter, objects bool) ([]candidate, error) {
	keys, err := place.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	have := make(map[string]bool, len(keys))
	for _, k := range keys {
		if strings.HasSuffix(k, markerSuffix) {
			have[k] = true
		}
	}
	var out []candidate
	for _, k := range keys {
		typ, ok := parseKey(delivery, k)
		if !ok || (filter.Type != "" && typ != filter.Type) {
			continue
		}
		c := candidate{key: k, typ: typ, hour: hourOf(k), hasMarker: have[k+markerSuffix]}
		if !c.hour.IsZero() {
			if !filter.To.IsZero() && !c.hour.Before(filter.To) {
				continue
			}
			if objects && !filter.From.IsZero() && !c.hour.Add(time.Hour).After(filter.From) {
				continue
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// Scan calls fn with each error object of delivery under prefix in place
// that filter selects, in key order, and its marker (nil when none), one
// object at a time: only the object fn is given is held in memory. fn
// returns false to stop. An object whose marker says it is done and
// records its time is given without its documents when withDone is false.
func Scan(ctx context.Context, place Place, prefix, delivery string, filter Filter, withDone bool,
	fn func(o *Object, m *Marker) (more bool, err error)) error {
	cands, err := candidates(ctx, place, prefix, delivery, filter, true)
	if err != nil {
		return err
	}
	for _, c := range cands {
		var m *Marker
		if c.hasMarker {
			if m, err = readMarker(ctx, place, c.key); err != nil {
				return err
			}
		}
		var o *Object
		if m != nil && m.State == StateDone && !m.Time.IsZero() && !withDone {
			o = &Object{Key: c.key, Type: c.typ, Time: m.Time}
		} else if o, err = readObject(ctx, place, c.key, c.typ, filter.maxBytes()); err != nil {
			return err
		} else if len(o.Docs) == 0 {
			continue
		}
		if !filter.match(o) {
			continue
		}
		if more, err := fn(o, m); err != nil || !more {
			return err
		}
	}
	return nil
}

// List reads the error objects of delivery under prefix in place that
// filter selects, in key order, with their markers (nil when none). It
// holds them all: for a few objects (tests, tools); Scan holds one.
func List(ctx context.Context, place Place, prefix, delivery string, filter Filter) ([]*Object, []*Marker, error) {
	var (
		objs    []*Object
		markers []*Marker
	)
	err := Scan(ctx, place, prefix, delivery, filter, true, func(o *Object, m *Marker) (bool, error) {
		objs, markers = append(objs, o), append(markers, m)
		return true, nil
	})
	return objs, markers, err
}

// readObject reads and parses one error object of at most max bytes,
// compressed and decompressed.
func readObject(ctx context.Context, place Place, key, typ string, max int64) (*Object, error) {
	raw, err := place.Get(ctx, key, max)
	if errors.Is(err, ErrObjectTooLarge) {
		return nil, destinations.Permanent(fmt.Errorf("error object %s: %w: over %d bytes; move it away or leave it out with from/to/type", key, err, max))
	}
	if err != nil {
		return nil, fmt.Errorf("read error object %s: %w", key, err)
	}
	body, err := decompress(key, raw, max)
	if errors.Is(err, ErrObjectTooLarge) {
		return nil, destinations.Permanent(fmt.Errorf("error object %s: %w: over %d bytes decompressed; move it away or leave it out with from/to/type", key, err, max))
	}
	if err != nil {
		return nil, destinations.Permanent(fmt.Errorf("error object %s is damaged: %w", key, err))
	}
	docs, err := parseDocuments(body)
	if err != nil {
		return nil, destinations.Permanent(fmt.Errorf("error object %s is damaged: %w", key, err))
	}
	o := &Object{Key: key, Type: typ, Docs: docs}
	for i, d := range docs {
		if t := d.Arrival(); i == 0 || t.Before(o.Time) {
			o.Time = t
		}
	}
	return o, nil
}

// parseDocuments reads error documents, one per line; body bounds a line.
func parseDocuments(body []byte) ([]Document, error) {
	var docs []Document
	for line := 1; len(body) > 0; line++ {
		l := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			l, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var d Document
		if err := json.Unmarshal(l, &d); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// decompress undoes the compression key's extension names, to at most max
// bytes (more: ErrObjectTooLarge).
func decompress(key string, raw []byte, max int64) ([]byte, error) {
	var r io.Reader
	switch {
	case strings.HasSuffix(key, ".gz"):
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		r = zr
	case strings.HasSuffix(key, ".zst"):
		d, err := zstd.NewReader(bytes.NewReader(raw), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(max)+1))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		r = d
	case strings.HasSuffix(key, ".snappy"):
		r = snappy.NewReader(bytes.NewReader(raw))
	default:
		return raw, nil
	}
	return readAtMost(r, max)
}

// readAtMost reads r whole if it holds at most max bytes.
func readAtMost(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, ErrObjectTooLarge
	}
	return b, nil
}

func readMarker(ctx context.Context, place Place, key string) (*Marker, error) {
	raw, err := place.Get(ctx, key+markerSuffix, maxMarkerBytes)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read redrive marker of %s: %w", key, err)
	}
	var m Marker
	if err := json.Unmarshal(raw, &m); err != nil {
		// A damaged marker is no marker: the object is redriven (which is
		// safe), and the marker replaced.
		return &Marker{}, nil
	}
	return &m, nil
}

// createMarker writes m beside the error object at key unless a marker
// is there: created is false then.
func createMarker(ctx context.Context, place Place, key string, m Marker) (created bool, err error) {
	body, err := json.Marshal(m)
	if err != nil {
		return false, err
	}
	if created, err = place.Create(ctx, key+markerSuffix, append(body, '\n')); err != nil {
		return false, fmt.Errorf("write redrive marker of %s: %w", key, err)
	}
	return created, nil
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
