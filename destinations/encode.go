package destinations

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"

	"github.com/hydrant-dev/hydrant/buffer"
)

// Compression names, as in the config.
const (
	CompressionNone   = "none"
	CompressionGzip   = "gzip"
	CompressionZstd   = "zstd"
	CompressionSnappy = "snappy" // the snappy framing format, as Firehose's Snappy
)

// compressor compresses whole objects.
type compressor struct {
	name      string
	extension string
	encoding  string // Content-Encoding
	// contentType replaces the content's type when no content coding can
	// say the object is compressed.
	contentType string
	zstd        *zstd.Encoder
	gzipPool    sync.Pool
}

func newCompressor(name string) (*compressor, error) {
	switch name {
	case "", CompressionNone:
		return &compressor{name: CompressionNone}, nil
	case CompressionGzip:
		return &compressor{name: name, extension: ".gz", encoding: "gzip"}, nil
	case CompressionZstd:
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			return nil, err
		}
		return &compressor{name: name, extension: ".zst", encoding: "zstd", zstd: enc}, nil
	case CompressionSnappy:
		// No HTTP content coding exists for snappy: the type says it.
		return &compressor{name: name, extension: ".snappy", contentType: "application/x-snappy-framed"}, nil
	}
	return nil, fmt.Errorf("compression %q: must be one of none, gzip, zstd, snappy", name)
}

// compress returns src compressed; dst is scratch space that may be reused.
func (c *compressor) compress(dst, src []byte) ([]byte, error) {
	switch c.name {
	case CompressionGzip:
		buf := bytes.NewBuffer(dst[:0])
		w, _ := c.gzipPool.Get().(*gzip.Writer)
		if w == nil {
			w = gzip.NewWriter(buf)
		} else {
			w.Reset(buf)
		}
		defer c.gzipPool.Put(w)
		if _, err := w.Write(src); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case CompressionZstd:
		return c.zstd.EncodeAll(src, dst[:0]), nil
	case CompressionSnappy:
		buf := bytes.NewBuffer(dst[:0])
		w := snappy.NewBufferedWriter(buf)
		if _, err := w.Write(src); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return src, nil
}

// AppendJSONLines appends the records of b as JSON lines: each record as
// written, followed by a newline unless it already ends with one.
func AppendJSONLines(dst []byte, b *buffer.Batch) []byte {
	for _, r := range b.Records {
		dst = append(dst, r.Data...)
		if len(r.Data) == 0 || r.Data[len(r.Data)-1] != '\n' {
			dst = append(dst, '\n')
		}
	}
	return dst
}

// AppendErrorDocuments appends one Firehose error-output JSON document per
// record of b, one per line:
//
//	{"attemptsMade":4,"arrivalTimestamp":1764076800000,"errorCode":"…","errorMessage":"…",
//	 "attemptEndingTimestamp":1764077100000,"rawData":"<base64>","deliveryStreamName":"…",
//	 "shardId":"shardId-000000000000","sequenceNumber":"…","partitionKey":"…"}
//
// Records a search destination did not index also carry "esDocumentId" and
// "esIndexName" before "rawData", as Firehose's failed documents do.
func AppendErrorDocuments(dst []byte, b *ErrorBatch) []byte {
	for _, r := range b.Records {
		dst = append(dst, `{"attemptsMade":`...)
		dst = strconv.AppendInt(dst, int64(r.AttemptsMade), 10)
		dst = append(dst, `,"arrivalTimestamp":`...)
		dst = strconv.AppendInt(dst, r.Arrival.UnixMilli(), 10)
		dst = append(dst, `,"errorCode":`...)
		dst = AppendJSONString(dst, r.ErrorCode)
		dst = append(dst, `,"errorMessage":`...)
		dst = AppendJSONString(dst, r.ErrorMessage)
		dst = append(dst, `,"attemptEndingTimestamp":`...)
		dst = strconv.AppendInt(dst, r.AttemptEnding.UnixMilli(), 10)
		if r.IndexName != "" {
			dst = append(dst, `,"esDocumentId":`...)
			dst = AppendJSONString(dst, r.DocumentID)
			dst = append(dst, `,"esIndexName":`...)
			dst = AppendJSONString(dst, r.IndexName)
		}
		dst = append(dst, `,"rawData":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, r.Data)
		dst = append(dst, `","deliveryStreamName":`...)
		dst = AppendJSONString(dst, b.Delivery)
		dst = append(dst, `,"shardId":"`...)
		dst = append(dst, b.ShardID...)
		dst = append(dst, `","sequenceNumber":"`...)
		dst = strconv.AppendUint(dst, r.Sequence, 10)
		dst = append(dst, `","partitionKey":`...)
		dst = AppendJSONString(dst, r.PartitionKey)
		dst = append(dst, "}\n"...)
	}
	return dst
}
