package parquet

import (
	"encoding/binary"
	"fmt"
	"math/bits"

	"github.com/xitongsys/parquet-go/compress"
	pq "github.com/xitongsys/parquet-go/parquet"
)

const (
	// pageSize is the plain-encoded bytes of values after which a data page
	// is cut, as parquet-mr's default.
	pageSize = 1 << 20
	// maxPageRows bounds the rows of a page whose values take no room
	// (nulls), keeping its level count far from the int32 limit.
	maxPageRows = 1 << 20
	// maxDictionarySize is the most bytes of distinct values a string
	// column's dictionary may hold before the column falls back to PLAIN.
	maxDictionarySize = 1 << 20
)

// dictionary is a string chunk's distinct values and each value's index.
type dictionary struct {
	page    []byte   // the distinct values, PLAIN-encoded
	count   int      // number of distinct values
	indices []uint32 // per non-null value, its index in the dictionary
	width   int      // bit width of the indices
}

// buildDictionary dictionary-encodes a BYTE_ARRAY chunk into e.dict. It
// returns nil when a dictionary would not pay: its values exceed
// maxDictionarySize, or dictionary plus indices are no smaller than PLAIN.
func (e *encoder) buildDictionary(c *chunk) *dictionary {
	d, index := &e.dict, e.dictIndex
	clear(index)
	d.page, d.indices, d.count = d.page[:0], d.indices[:0], 0
	plain := 0
	for i, n := 0, c.count(); i < n; i++ {
		v := c.bytesAt(i)
		plain += 4 + len(v)
		id, ok := index[string(v)]
		if !ok {
			if len(d.page)+4+len(v) > maxDictionarySize {
				return nil
			}
			id = uint32(d.count)
			index[string(v)] = id
			d.count++
			d.page = binary.LittleEndian.AppendUint32(d.page, uint32(len(v)))
			d.page = append(d.page, v...)
		}
		d.indices = append(d.indices, id)
	}
	d.width = max(1, bits.Len(uint(d.count-1)))
	if len(d.page)+(len(d.indices)*d.width+7)/8 >= plain {
		return nil
	}
	return d
}

// writeChunk writes the pages of one column of a row group and returns its
// metadata. String columns are dictionary-encoded when that pays (one
// dictionary page, then data pages of indices), every other column is PLAIN.
// Pages are version 1 data pages, as parquet-mr writes by default; the
// encoding names follow parquet-mr too (PLAIN_DICTIONARY), which every reader
// accepts.
func (e *encoder) writeChunk(c *chunk) (*pq.ColumnChunk, error) {
	start := e.w.n
	meta := &pq.ColumnMetaData{
		Type:         c.col.phys,
		PathInSchema: c.col.schemaPath,
		Codec:        e.codec,
		NumValues:    int64(c.rows()),
		Statistics:   c.statistics(),
		Encodings:    []pq.Encoding{pq.Encoding_PLAIN, pq.Encoding_RLE},
	}
	var uncompressed int64
	var dict *dictionary
	if c.col.phys == pq.Type_BYTE_ARRAY {
		dict = e.buildDictionary(c)
	}
	if dict != nil {
		meta.Encodings = []pq.Encoding{pq.Encoding_PLAIN_DICTIONARY, pq.Encoding_RLE}
		offset := e.w.n
		meta.DictionaryPageOffset = &offset
		header := &pq.PageHeader{
			Type:                 pq.PageType_DICTIONARY_PAGE,
			DictionaryPageHeader: &pq.DictionaryPageHeader{NumValues: int32(dict.count), Encoding: pq.Encoding_PLAIN_DICTIONARY},
		}
		n, err := e.writePage(header, dict.page)
		if err != nil {
			return nil, err
		}
		uncompressed += n
	}
	meta.DataPageOffset = e.w.n
	for row, value, rows := 0, 0, c.rows(); row < rows; {
		// Rows [row, endRow) with values [value, endValue) make the page.
		endRow, endValue, size := row, value, 0
		// A page ends at a row's first entry (repetition level 0).
		for endRow < rows && (size < pageSize && endRow-row < maxPageRows ||
			c.col.maxRep > 0 && c.reps[endRow] != 0) {
			if c.col.maxDef == 0 || c.defs[endRow] == c.col.maxDef {
				size += c.valueSize(endValue)
				endValue++
			}
			endRow++
		}
		n, err := e.writeDataPage(c, dict, row, endRow, value, endValue)
		if err != nil {
			return nil, err
		}
		uncompressed += n
		row, value = endRow, endValue
	}
	meta.TotalCompressedSize = e.w.n - start
	meta.TotalUncompressedSize = uncompressed
	return &pq.ColumnChunk{FileOffset: start, MetaData: meta}, nil
}

// writeDataPage writes rows [row, endRow) of c, holding its values [value,
// endValue): definition levels (optional columns), then the values, PLAIN or
// as dictionary indices.
func (e *encoder) writeDataPage(c *chunk, dict *dictionary, row, endRow, value, endValue int) (int64, error) {
	page := e.page[:0]
	if c.col.maxRep > 0 {
		page = appendLevels(page, c.reps[row:endRow], c.col.maxRep)
	}
	if c.col.maxDef > 0 {
		page = appendLevels(page, c.defs[row:endRow], c.col.maxDef)
	}
	encoding := pq.Encoding_PLAIN
	if dict != nil {
		encoding = pq.Encoding_PLAIN_DICTIONARY
		page = append(page, byte(dict.width))
		page = appendHybrid(page, dict.indices[value:endValue], dict.width)
	} else {
		page = c.appendPlain(page, value, endValue)
	}
	e.page = page
	header := &pq.PageHeader{
		Type: pq.PageType_DATA_PAGE,
		DataPageHeader: &pq.DataPageHeader{
			NumValues:               int32(endRow - row),
			Encoding:                encoding,
			DefinitionLevelEncoding: pq.Encoding_RLE,
			RepetitionLevelEncoding: pq.Encoding_RLE,
		},
	}
	return e.writePage(header, page)
}

// appendLevels appends repetition or definition levels of at most max, with
// their 4-byte length, as version 1 data pages hold them.
func appendLevels(page []byte, levels []uint8, max uint8) []byte {
	at := len(page)
	page = append(page, 0, 0, 0, 0) // length of the levels, filled in below
	page = appendHybrid(page, levels, bits.Len8(max))
	binary.LittleEndian.PutUint32(page[at:], uint32(len(page)-at-4))
	return page
}

// writePage compresses data, fills in the header's sizes and writes both. It
// returns the page's uncompressed size, header included.
func (e *encoder) writePage(header *pq.PageHeader, data []byte) (int64, error) {
	compressed := data
	if e.codec != pq.CompressionCodec_UNCOMPRESSED {
		compressed = compress.Compress(data, e.codec)
		if compressed == nil {
			return 0, fmt.Errorf("compression %s is not available", e.codec)
		}
	}
	header.UncompressedPageSize = int32(len(data))
	header.CompressedPageSize = int32(len(compressed))
	n, err := e.writeThrift(header)
	if err != nil {
		return 0, err
	}
	if _, err := e.w.Write(compressed); err != nil {
		return 0, err
	}
	return int64(n + len(data)), nil
}

// appendHybrid appends vals in Parquet's RLE / bit-packing hybrid encoding
// with the given bit width (1..32), without a length prefix: runs of 8 or more
// equal values become RLE runs, the rest is bit-packed in groups of 8 (the
// last group padded with zeros).
func appendHybrid[T uint8 | uint32](dst []byte, vals []T, width int) []byte {
	n := len(vals)
	runLen := func(i int) int {
		j := i + 1
		for j < n && vals[j] == vals[i] {
			j++
		}
		return j - i
	}
	valueBytes := (width + 7) / 8
	for i := 0; i < n; {
		if r := runLen(i); r >= 8 {
			dst = binary.AppendUvarint(dst, uint64(r)<<1)
			for b, v := 0, uint32(vals[i]); b < valueBytes; b++ {
				dst = append(dst, byte(v>>(8*b)))
			}
			i += r
			continue
		}
		start, groups := i, 0
		for i < n && (groups == 0 || runLen(i) < 8) {
			i += 8
			groups++
		}
		dst = binary.AppendUvarint(dst, uint64(groups)<<1|1)
		var acc uint64
		used := 0
		for k := start; k < start+8*groups; k++ {
			if k < n {
				acc |= uint64(vals[k]) << used
			}
			used += width
			for used >= 8 {
				dst = append(dst, byte(acc))
				acc >>= 8
				used -= 8
			}
		}
		i = min(i, n)
	}
	return dst
}
