package destinations

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations/parquet"
)

// ObjectStore writes whole objects: a local directory or an S3 bucket.
// Put replaces any object at key so that readers see the old or the new
// object, never part of one; it must honour ctx and must not keep body after
// it returns. Errors that no retry can fix
// (access denied, no such bucket) should be Permanent.
type ObjectStore interface {
	Put(ctx context.Context, key string, body []byte, meta ObjectMeta) error
	Close(ctx context.Context) error
}

// ObjectMeta describes an object's content.
type ObjectMeta struct {
	ContentType     string
	ContentEncoding string
}

// ObjectsConfig configures an object destination.
type ObjectsConfig struct {
	Prefix      string // Firehose prefix expressions allowed
	ErrorPrefix string // may use !{firehose:error-output-type}
	Compression string // JSON lines: none | gzip | zstd | snappy
	// Parquet, when set, writes each batch as one Parquet file with this
	// schema instead of JSON lines (Firehose's record format conversion).
	Parquet *ParquetFormat
}

// ParquetFormat is the Parquet output of an object destination: files of a
// declared Schema, or, when Auto is set, of the columns Auto infers from each
// batch.
type ParquetFormat struct {
	Schema  *parquet.Schema
	Auto    *parquet.AutoSchema
	Options parquet.Options
}

// Objects delivers batches as JSON-lines objects named
//
//	<prefix><delivery>-<shardId>-<first sequence, 20 digits>.jsonl[.gz|.zst]
//
// so that re-delivering a batch (after a retry or a crash) rewrites the same
// key. It is also the ErrorOutput of its destination, under ErrorPrefix.
type Objects struct {
	store       ObjectStore
	prefix      Prefix
	errorPrefix Prefix
	compressor  *compressor
	parquet     *ParquetFormat
	scratch     sync.Pool // *[]byte
}

// NewObjects returns an object destination over store.
func NewObjects(store ObjectStore, cfg ObjectsConfig) (*Objects, error) {
	prefix, err := CompilePrefix(cfg.Prefix, false)
	if err != nil {
		return nil, fmt.Errorf("prefix: %w", err)
	}
	errorPrefix, err := CompilePrefix(cfg.ErrorPrefix, true)
	if err != nil {
		return nil, fmt.Errorf("error_prefix: %w", err)
	}
	c, err := newCompressor(cfg.Compression)
	if err != nil {
		return nil, err
	}
	if cfg.Parquet != nil && c.name != CompressionNone {
		return nil, fmt.Errorf("compression %s: Parquet files compress inside (parquet compression)", c.name)
	}
	return &Objects{store: store, prefix: prefix, errorPrefix: errorPrefix, compressor: c, parquet: cfg.Parquet}, nil
}

// Deliver writes b as one object.
func (o *Objects) Deliver(ctx context.Context, b *buffer.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	prefix, err := o.prefix.Evaluate(PrefixValues{
		Oldest:        b.OldestArrival(),
		PartitionKeys: b.PartitionKeys,
		Seed:          objectName(b.Delivery, b.ShardID, b.Records[0], ""),
	})
	if err != nil {
		return Permanent(err)
	}
	if o.parquet != nil {
		return o.deliverParquet(ctx, prefix+objectName(b.Delivery, b.ShardID, b.Records[0], ".parquet"), b)
	}
	return o.put(ctx, prefix+objectName(b.Delivery, b.ShardID, b.Records[0], ".jsonl"),
		"application/x-ndjson", func(dst []byte) []byte { return AppendJSONLines(dst, b) })
}

// deliverParquet writes the records that convert as one Parquet file and
// reports the others as RecordErrors (format-conversion-failed).
func (o *Objects) deliverParquet(ctx context.Context, key string, b *buffer.Batch) error {
	recs := make([][]byte, len(b.Records))
	for i, r := range b.Records {
		recs[i] = r.Data
	}
	scratch := o.getScratch()
	defer o.putScratch(scratch)
	buf := bytes.NewBuffer((*scratch)[:0])
	var failed map[int]error
	var err error
	if o.parquet.Auto != nil {
		failed, err = o.parquet.Auto.Encode(buf, recs, o.parquet.Options)
	} else {
		failed, err = o.parquet.Schema.Encode(buf, recs, o.parquet.Options)
	}
	if err != nil {
		return Permanent(fmt.Errorf("write parquet %s: %w", key, err))
	}
	*scratch = buf.Bytes()
	if len(failed) < len(recs) {
		if err := o.store.Put(ctx, key, buf.Bytes(), ObjectMeta{ContentType: "application/vnd.apache.parquet"}); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return &RecordErrors{Type: ErrorTypeFormatConversionFailed, Code: "DataFormatConversion.MalformedData", Failed: failed}
	}
	return nil
}

// WriteErrors writes b as one object of error documents under the error prefix.
func (o *Objects) WriteErrors(ctx context.Context, b *ErrorBatch) error {
	if len(b.Records) == 0 {
		return nil
	}
	oldest := b.Records[0].Arrival
	for _, r := range b.Records {
		if r.Arrival.Before(oldest) {
			oldest = r.Arrival
		}
	}
	first := b.Records[0].Record
	name := b.Batch
	if name == "" {
		name = b.Delivery
	}
	prefix, err := o.errorPrefix.Evaluate(PrefixValues{
		Oldest:    oldest,
		ErrorType: b.Type,
		Seed:      objectName(name, b.ShardID, first, b.Type),
	})
	if err != nil {
		return Permanent(err)
	}
	return o.put(ctx, prefix+objectName(name, b.ShardID, first, "-"+b.Type+".jsonl"),
		"application/x-ndjson", func(dst []byte) []byte { return AppendErrorDocuments(dst, b) })
}

func (o *Objects) put(ctx context.Context, key, contentType string, encode func([]byte) []byte) error {
	raw := o.getScratch()
	defer o.putScratch(raw)
	*raw = encode((*raw)[:0])
	body := *raw
	if o.compressor.name != CompressionNone {
		packed := o.getScratch()
		defer o.putScratch(packed)
		var err error
		if *packed, err = o.compressor.compress(*packed, body); err != nil {
			return Permanent(fmt.Errorf("compress %s: %w", key, err))
		}
		body = *packed
	}
	if o.compressor.contentType != "" {
		contentType = o.compressor.contentType
	}
	return o.store.Put(ctx, key+o.compressor.extension, body, ObjectMeta{
		ContentType:     contentType,
		ContentEncoding: o.compressor.encoding,
	})
}

func (o *Objects) getScratch() *[]byte {
	if p, ok := o.scratch.Get().(*[]byte); ok {
		return p
	}
	b := make([]byte, 0, 64<<10)
	return &b
}

func (o *Objects) putScratch(p *[]byte) {
	if cap(*p) <= 256<<20 {
		o.scratch.Put(p)
	}
}

// Close closes the store.
func (o *Objects) Close(ctx context.Context) error { return o.store.Close(ctx) }

// objectName is <delivery>-<shardId>-<first sequence, zero-padded to 20
// digits><suffix>, and when the first record is not the first its source
// record yielded (a KPL sub-record), -<sub-sequence> after the sequence: two
// batches that start within one source record's records get two names.
func objectName(delivery, shardID string, first buffer.Record, suffix string) string {
	seq := strconv.FormatUint(first.Sequence, 10)
	b := make([]byte, 0, len(delivery)+len(shardID)+33+len(suffix))
	b = append(b, delivery...)
	b = append(b, '-')
	b = append(b, shardID...)
	b = append(b, '-')
	for i := len(seq); i < 20; i++ {
		b = append(b, '0')
	}
	b = append(b, seq...)
	if first.SubSequence > 0 {
		b = append(b, '-')
		b = strconv.AppendUint(b, uint64(first.SubSequence), 10)
	}
	b = append(b, suffix...)
	return string(b)
}
