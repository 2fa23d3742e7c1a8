package transform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/hydrant-dev/hydrant/buffer"
)

const codeDecompressError = "Transform.DecompressError"

// defaultMaxDecompressed bounds one record's decompressed size.
const defaultMaxDecompressed = 10 << 20

// defaultMaxBatchDecompressed bounds the decompressed size of one batch's
// records together. A batch is one put request's records for a shard (at
// most 5MiB compressed), so 32MiB takes a whole request compressed 6:1;
// the process holds about four times this while a batch is buffered and
// written (the e2e test TestHostileDecompressBombs measures it).
const defaultMaxBatchDecompressed = 32 << 20

// NewDecompress builds decompress: it decompresses each record, such as the
// gzipped payloads a CloudWatch Logs subscription sends.
//
//	transforms:
//	  - type: decompress
//	    format: gzip      # or zstd
//	    max_size: 10MiB   # per record, decompressed
//	    max_batch_size: 32MiB   # per batch, all its records decompressed
//
// A record that is not valid gzip (or zstd), including a checksum mismatch
// or trailing bytes that are not another gzip member, fails with
// Transform.DecompressError, as does one that would decompress to more than
// max_size: no more than max_size (plus a little slack) is ever allocated.
// For zstd, a frame whose window is larger than max_size fails too, even if
// its content is smaller: a streaming encoder that does not know the size
// in advance declares a window of its level's size (8MiB at the default
// level) where a one-shot encoder declares the content size.
//
// The records of one batch (one put request's records for a shard)
// together decompress to at most max_batch_size: a record that would go
// past it fails (Transform.DecompressError, saying so) and the batch goes
// on with the budget that is left, so the smaller records after it are
// still decompressed. A batch of small bombs (500 records of a few hundred
// bytes, each 10MiB decompressed) thus allocates at most max_batch_size +
// max_size, never 5GB, and its shard moves on: nothing is retried.
func NewDecompress(_ Env, options map[string]any) (Transform, error) {
	o := NewOptions(options)
	format := o.String("format", "gzip")
	maxSize := o.Size("max_size", defaultMaxDecompressed)
	if maxSize <= 0 {
		o.Fail("max_size", "must be more than 0, got %d", maxSize)
	}
	maxBatch := o.Size("max_batch_size", max(defaultMaxBatchDecompressed, maxSize))
	if maxBatch < maxSize {
		o.Fail("max_batch_size", "must be at least max_size (%d bytes), got %d", maxSize, maxBatch)
	}
	if format != "gzip" && format != "zstd" {
		o.Fail("format", "must be gzip or zstd, got %q", format)
	}
	if err := o.Err(); err != nil {
		return nil, err
	}
	var decompress func(data []byte, limit int) ([]byte, error)
	switch format {
	case "gzip":
		decompress = (&gunzipper{max: maxSize}).decompress
	case "zstd":
		// Without a reader the decoder starts no goroutines, so it needs
		// no Close; DecodeAll is safe for concurrent use.
		dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(uint64(maxSize)))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		decompress = (&unzstder{dec: dec, max: maxSize}).decompress
	}
	return BatchFunc(func(ctx context.Context, recs []buffer.Record) ([]Output, error) {
		out := make([]Output, len(recs))
		left := maxBatch // decompressed bytes the batch may still hold
		for i, r := range recs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			data, err := decompress(r.Data, min(maxSize, left))
			if err == nil && len(data) > left {
				err = errBatchBudget
			}
			var over *overLimitError
			if errors.As(err, &over) && left < maxSize {
				err = errBatchBudget
			}
			if errors.Is(err, errBatchBudget) {
				err = fmt.Errorf("the batch's records decompress to more than max_batch_size (%d bytes): this one does not fit in what is left (%d bytes)", maxBatch, left)
			}
			if err != nil {
				msg := strings.TrimPrefix(err.Error(), format+": ")
				out[i] = failedOutput(codeDecompressError, format+": "+msg)
				continue
			}
			left -= len(data)
			out[i] = Output{Result: Ok, Data: data}
		}
		return out, nil
	}), nil
}

// errBatchBudget: the record does not fit in the batch's budget.
var errBatchBudget = errors.New("over the batch budget")

// overLimitError is a record that decompresses to more than the limit
// asked of it.
type overLimitError struct{ msg string }

func (e *overLimitError) Error() string { return e.msg }

func overLimit(format string, args ...any) error {
	return &overLimitError{fmt.Sprintf(format, args...)}
}

// gunzipper gunzips records with pooled readers.
type gunzipper struct {
	max  int
	pool sync.Pool // of *gzip.Reader
}

func (g *gunzipper) decompress(data []byte, limit int) ([]byte, error) {
	src := bytes.NewReader(data)
	zr, _ := g.pool.Get().(*gzip.Reader)
	if zr == nil {
		zr = new(gzip.Reader)
	}
	defer g.pool.Put(zr)
	if err := zr.Reset(src); err != nil {
		if err == io.EOF {
			return nil, errors.New("record is empty")
		}
		return nil, err
	}
	return readAtMost(zr, limit, 4*len(data))
}

// unzstder decompresses zstd records.
type unzstder struct {
	dec *zstd.Decoder // made WithDecoderMaxMemory(max)
	max int
}

// decompress decodes data; the decoder's own bound is max, and a frame
// declaring more than limit is refused before it is decoded.
func (z *unzstder) decompress(data []byte, limit int) ([]byte, error) {
	if len(data) == 0 {
		return nil, errors.New("record is empty")
	}
	var h zstd.Header
	if limit < z.max && h.Decode(data) == nil && h.HasFCS && h.FrameContentSize > uint64(limit) {
		return nil, overLimit("decompressed size exceeds the limit left (%d bytes)", limit)
	}
	out, err := z.dec.DecodeAll(data, nil)
	if errors.Is(err, zstd.ErrWindowSizeExceeded) {
		// The window is checked before the content size: say which it is.
		var h zstd.Header
		if h.Decode(data) != nil || !h.HasFCS || h.FrameContentSize <= uint64(z.max) {
			return nil, fmt.Errorf("the frame's window is larger than max_size (%d bytes): raise max_size or compress with a smaller window", z.max)
		}
		err = zstd.ErrDecoderSizeExceeded
	}
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return nil, overLimit("decompressed size exceeds max_size (%d bytes)", z.max)
	}
	if err != nil {
		return nil, err
	}
	return trimSlack(out), nil
}

// readAtMost reads r to its end into a buffer first sized for hint bytes. It
// fails, having allocated at most about limit bytes, when r holds more than
// limit.
func readAtMost(r io.Reader, limit, hint int) ([]byte, error) {
	buf := make([]byte, 0, min(max(hint, 512), limit+1))
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // let append pick the next size
			if cap(buf) > limit+1 {
				buf = buf[: len(buf) : limit+1]
			}
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return nil, overLimit("decompressed size exceeds max_size (%d bytes)", limit)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return trimSlack(buf), nil
}

// trimSlack copies a record whose spare capacity is more than a quarter of
// its length: buffers hold records for minutes, and count their length.
func trimSlack(b []byte) []byte {
	if cap(b)-len(b) > len(b)/4 {
		return bytes.Clone(b)
	}
	return b
}
