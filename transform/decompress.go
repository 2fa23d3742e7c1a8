package transform

import (
	"bytes"
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

// NewDecompress builds decompress: it decompresses each record, such as the
// gzipped payloads a CloudWatch Logs subscription sends.
//
//	transforms:
//	  - type: decompress
//	    format: gzip      # or zstd
//	    max_size: 10MiB   # per record, decompressed
//
// A record that is not valid gzip (or zstd), including a checksum mismatch
// or trailing bytes that are not another gzip member, fails with
// Transform.DecompressError, as does one that would decompress to more than
// max_size: no more than max_size (plus a little slack) is ever allocated.
// For zstd, a frame whose window is larger than max_size fails too, even if
// its content is smaller: a streaming encoder that does not know the size
// in advance declares a window of its level's size (8MiB at the default
// level) where a one-shot encoder declares the content size.
func NewDecompress(_ Env, options map[string]any) (Transform, error) {
	o := NewOptions(options)
	format := o.String("format", "gzip")
	maxSize := o.Size("max_size", defaultMaxDecompressed)
	if maxSize <= 0 {
		o.Fail("max_size", "must be more than 0, got %d", maxSize)
	}
	if format != "gzip" && format != "zstd" {
		o.Fail("format", "must be gzip or zstd, got %q", format)
	}
	if err := o.Err(); err != nil {
		return nil, err
	}
	var decompress func([]byte) ([]byte, error)
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
	return eachRecord(func(r buffer.Record) Output {
		data, err := decompress(r.Data)
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), format+": ")
			return failedOutput(codeDecompressError, format+": "+msg)
		}
		return Output{Result: Ok, Data: data}
	}), nil
}

// gunzipper gunzips records with pooled readers.
type gunzipper struct {
	max  int
	pool sync.Pool // of *gzip.Reader
}

func (g *gunzipper) decompress(data []byte) ([]byte, error) {
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
	return readAtMost(zr, g.max, 4*len(data))
}

// unzstder decompresses zstd records.
type unzstder struct {
	dec *zstd.Decoder // made WithDecoderMaxMemory(max)
	max int
}

func (z *unzstder) decompress(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return nil, errors.New("record is empty")
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
		return nil, fmt.Errorf("decompressed size exceeds max_size (%d bytes)", z.max)
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
			return nil, fmt.Errorf("decompressed size exceeds max_size (%d bytes)", limit)
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
