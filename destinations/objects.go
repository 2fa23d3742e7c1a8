package destinations

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/hydrant-dev/hydrant/buffer"
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
	Compression string // none | gzip | zstd
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
	return &Objects{store: store, prefix: prefix, errorPrefix: errorPrefix, compressor: c}, nil
}

// Deliver writes b as one object.
func (o *Objects) Deliver(ctx context.Context, b *buffer.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	prefix, err := o.prefix.Evaluate(PrefixValues{
		Oldest:        b.OldestArrival(),
		PartitionKeys: b.PartitionKeys,
		Seed:          objectName(b.Delivery, b.ShardID, b.FirstSequence(), ""),
	})
	if err != nil {
		return Permanent(err)
	}
	return o.put(ctx, prefix+objectName(b.Delivery, b.ShardID, b.FirstSequence(), ".jsonl"),
		"application/x-ndjson", func(dst []byte) []byte { return AppendJSONLines(dst, b) })
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
	first := b.Records[0].Sequence
	prefix, err := o.errorPrefix.Evaluate(PrefixValues{
		Oldest:    oldest,
		ErrorType: b.Type,
		Seed:      objectName(b.Delivery, b.ShardID, first, b.Type),
	})
	if err != nil {
		return Permanent(err)
	}
	return o.put(ctx, prefix+objectName(b.Delivery, b.ShardID, first, "-"+b.Type+".jsonl"),
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

// objectName is <delivery>-<shardId>-<first sequence, zero-padded to 20 digits><suffix>.
func objectName(delivery, shardID string, first uint64, suffix string) string {
	seq := strconv.FormatUint(first, 10)
	b := make([]byte, 0, len(delivery)+len(shardID)+22+len(suffix))
	b = append(b, delivery...)
	b = append(b, '-')
	b = append(b, shardID...)
	b = append(b, '-')
	for i := len(seq); i < 20; i++ {
		b = append(b, '0')
	}
	b = append(b, seq...)
	b = append(b, suffix...)
	return string(b)
}
