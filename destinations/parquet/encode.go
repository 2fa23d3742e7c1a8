package parquet

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/apache/thrift/lib/go/thrift"
	pq "github.com/xitongsys/parquet-go/parquet"
)

const (
	magic               = "PAR1"
	defaultRowGroupSize = 128 << 20
	// createdBy follows parquet-mr's "<application> version <version>" form:
	// parquet-mr ignores the string statistics of files whose created_by it
	// cannot parse (PARQUET-251).
	createdBy = "hydrant version 1 (build parquet)"
)

// reasonMissing is the reason of a required column without a value.
const reasonMissing = "required value is missing"

// Encode writes one Parquet file holding every record of records that converts, in order, to w.
// failed maps the index of each record that did not convert to its *ConversionError; those records are
// not in the file. An error is returned only when the file itself cannot be written (then failed is
// meaningless). A batch where every record fails writes a valid file with 0 rows (callers may skip it
// when len(failed) == len(records)).
//
// failed is nil when every record converted. Row groups are cut when the
// plain-encoded size of their values reaches opts.RowGroupSize, so a row
// group is about that size before compression. The whole row group is held
// in memory until it is written.
func (s *Schema) Encode(w io.Writer, records [][]byte, opts Options) (failed map[int]error, err error) {
	codec, err := codecOf(opts.Compression)
	if err != nil {
		return nil, err
	}
	if opts.RowGroupSize < 0 {
		return nil, fmt.Errorf("row group size %d: must not be negative (0 means 128 MiB)", opts.RowGroupSize)
	}
	e := s.encoder(w, codec, opts.RowGroupSize)
	defer s.release(e)
	if _, err := io.WriteString(e.w, magic); err != nil {
		return nil, fmt.Errorf("parquet: write: %w", err)
	}
	for i, rec := range records {
		if cerr := e.add(rec); cerr != nil {
			if failed == nil {
				failed = make(map[int]error)
			}
			failed[i] = cerr
			continue
		}
		if e.size() >= e.rowGroupSize {
			if err := e.flushRowGroup(); err != nil {
				return nil, fmt.Errorf("parquet: write: %w", err)
			}
		}
	}
	if e.rows > 0 {
		if err := e.flushRowGroup(); err != nil {
			return nil, fmt.Errorf("parquet: write: %w", err)
		}
	}
	if err := e.writeFooter(); err != nil {
		return nil, fmt.Errorf("parquet: write: %w", err)
	}
	return failed, nil
}

// codecOf maps Options.Compression to a Parquet codec.
func codecOf(name string) (pq.CompressionCodec, error) {
	switch name {
	case "", "snappy":
		return pq.CompressionCodec_SNAPPY, nil
	case "uncompressed":
		return pq.CompressionCodec_UNCOMPRESSED, nil
	case "gzip":
		return pq.CompressionCodec_GZIP, nil
	case "zstd":
		return pq.CompressionCodec_ZSTD, nil
	}
	return 0, fmt.Errorf("compression %q: must be one of uncompressed, snappy, gzip, zstd", name)
}

// encoder is the state of one Encode call.
type encoder struct {
	schema       *Schema
	w            *countingWriter
	codec        pq.CompressionCodec
	rowGroupSize int64

	chunks    []*chunk // one per column
	marks     []mark   // per column, its length before the record being added
	rows      int64    // rows in the row group being built
	rowGroups []*pq.RowGroup
	totalRows int64

	json      *jsonWriter
	page      []byte // scratch: the page being encoded
	dict      dictionary
	dictIndex map[string]uint32
	thrift    *thrift.TMemoryBuffer
	proto     thrift.TProtocol
}

// encoder takes an encoder from the schema's pool, or makes one. Pooling
// keeps the column buffers, grown to a batch's size, from one Encode to the next.
func (s *Schema) encoder(w io.Writer, codec pq.CompressionCodec, rowGroupSize int64) *encoder {
	e, _ := s.encoders.Get().(*encoder)
	if e == nil {
		buf := thrift.NewTMemoryBufferLen(4096)
		e = &encoder{
			schema:    s,
			chunks:    make([]*chunk, len(s.cols)),
			marks:     make([]mark, len(s.cols)),
			json:      newJSONWriter(),
			dictIndex: make(map[string]uint32),
			thrift:    buf,
			proto:     thrift.NewTCompactProtocolConf(buf, nil),
		}
		for i, c := range s.cols {
			e.chunks[i] = &chunk{col: c}
		}
	}
	if rowGroupSize == 0 {
		rowGroupSize = defaultRowGroupSize
	}
	e.w, e.codec, e.rowGroupSize = &countingWriter{w: w}, codec, rowGroupSize
	return e
}

// maxPooledBuffers is the most buffer memory an encoder may keep in the pool:
// the buffers of a 128 MiB row group are better given back to the GC.
const maxPooledBuffers = 16 << 20

// release empties e and returns it to the pool if its buffers are not too big.
func (s *Schema) release(e *encoder) {
	e.w, e.rows, e.rowGroups, e.totalRows = nil, 0, nil, 0
	clear(e.dictIndex)
	retained := cap(e.page) + cap(e.dict.page) + 4*cap(e.dict.indices)
	for _, c := range e.chunks {
		c.reset()
		retained += cap(c.defs) + cap(c.reps) + 4*cap(c.i32) + 8*cap(c.i64) + 4*cap(c.f32) + 8*cap(c.f64) +
			cap(c.bools) + cap(c.data) + 8*cap(c.ends)
	}
	if retained <= maxPooledBuffers {
		s.encoders.Put(e)
	}
}

// add converts one record into the row group being built: every column or,
// on the first column that fails, none.
func (e *encoder) add(rec []byte) *ConversionError {
	obj, cerr := decodeRecord(rec)
	if cerr != nil {
		return cerr
	}
	for i, c := range e.chunks {
		e.marks[i] = c.mark()
	}
	for _, n := range e.schema.nodes {
		v, ok := n.path.Resolve(obj)
		if n.kind != nodeLeaf {
			if !ok {
				v = nil
			}
			cerr = e.shred(n, v, 0)
		} else {
			c := e.chunks[n.first]
			switch {
			case (!ok || v == nil) && c.col.required:
				cerr = &ConversionError{Column: c.col.name, Reason: reasonMissing}
			case !ok || v == nil:
				c.appendNull()
			default:
				if err := c.add(v, e.json); err != nil {
					cerr = &ConversionError{Column: c.col.name, Reason: err.Error()}
				}
			}
		}
		if cerr != nil {
			for j := 0; j < n.end; j++ {
				e.chunks[j].rollback(e.marks[j])
			}
			return cerr
		}
	}
	e.rows++
	return nil
}

// size is the estimated size of the row group being built.
func (e *encoder) size() int64 {
	var n int64
	for _, c := range e.chunks {
		n += c.size
	}
	return n
}

// flushRowGroup writes the buffered rows as one row group.
func (e *encoder) flushRowGroup() error {
	start := e.w.n
	rg := &pq.RowGroup{NumRows: e.rows, FileOffset: &start}
	for _, c := range e.chunks {
		cc, err := e.writeChunk(c)
		if err != nil {
			return err
		}
		rg.Columns = append(rg.Columns, cc)
		rg.TotalByteSize += cc.MetaData.TotalUncompressedSize
		c.reset()
	}
	compressed := e.w.n - start
	rg.TotalCompressedSize = &compressed
	if n := len(e.rowGroups); n <= 1<<15-1 {
		ordinal := int16(n)
		rg.Ordinal = &ordinal
	}
	e.rowGroups = append(e.rowGroups, rg)
	e.totalRows += e.rows
	e.rows = 0
	return nil
}

// writeFooter writes the file metadata, its length and the closing magic.
func (e *encoder) writeFooter() error {
	orders := make([]*pq.ColumnOrder, len(e.schema.cols))
	for i := range orders {
		orders[i] = &pq.ColumnOrder{TYPE_ORDER: &pq.TypeDefinedOrder{}}
	}
	created := createdBy
	meta := &pq.FileMetaData{
		Version:      1,
		Schema:       e.schema.elements,
		NumRows:      e.totalRows,
		RowGroups:    e.rowGroups,
		CreatedBy:    &created,
		ColumnOrders: orders,
	}
	if meta.RowGroups == nil {
		meta.RowGroups = []*pq.RowGroup{}
	}
	n, err := e.writeThrift(meta)
	if err != nil {
		return err
	}
	tail := binary.LittleEndian.AppendUint32(nil, uint32(n))
	if _, err := e.w.Write(append(tail, magic...)); err != nil {
		return err
	}
	return nil
}

// writeThrift writes v in Thrift's compact protocol, returning its length.
func (e *encoder) writeThrift(v thrift.TStruct) (int, error) {
	ctx := context.Background()
	e.thrift.Reset()
	if err := v.Write(ctx, e.proto); err != nil {
		return 0, fmt.Errorf("encode metadata: %w", err)
	}
	if err := e.proto.Flush(ctx); err != nil {
		return 0, fmt.Errorf("encode metadata: %w", err)
	}
	return e.w.Write(e.thrift.Bytes())
}

// countingWriter counts the bytes written: the offsets the metadata records.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
