package parquet

import (
	"bytes"
	"encoding/binary"
	"math"

	pq "github.com/xitongsys/parquet-go/parquet"
)

// chunk buffers one column's values for the row group being built. Only the
// slice that matches the column's physical type is used.
type chunk struct {
	col   *column
	defs  []uint8 // columns with maxDef > 0: per entry, the definition level (maxDef when present)
	reps  []uint8 // columns with maxRep > 0 (in a list or map): per entry, the repetition level
	rep   uint8   // the repetition level of the next entry (nested columns)
	nulls int64
	i32   []int32 // int32, date
	i64   []int64 // int64, timestamps
	f32   []float32
	f64   []float64
	bools []bool
	data  []byte // BYTE_ARRAY values back to back, or FIXED_LEN_BYTE_ARRAY values of col.width bytes
	ends  []int  // BYTE_ARRAY: where each value ends in data
	size  int64  // plain-encoded size of the values: the row group's size estimate
}

// mark is a chunk's length, to roll back a record that failed half-way.
type mark struct {
	defs, reps, values, data int
	nulls, size              int64
}

func (c *chunk) mark() mark {
	return mark{defs: len(c.defs), reps: len(c.reps), values: c.count(), data: len(c.data), nulls: c.nulls, size: c.size}
}

func (c *chunk) rollback(m mark) {
	c.defs, c.data, c.nulls, c.size = c.defs[:m.defs], c.data[:m.data], m.nulls, m.size
	c.reps = c.reps[:m.reps]
	c.truncate(m.values)
}

// reset empties the chunk for the next row group, keeping its memory.
func (c *chunk) reset() {
	c.defs, c.data, c.nulls, c.size = c.defs[:0], c.data[:0], 0, 0
	c.reps, c.rep = c.reps[:0], 0
	c.truncate(0)
}

func (c *chunk) truncate(n int) {
	switch c.col.phys {
	case pq.Type_INT32:
		c.i32 = c.i32[:n]
	case pq.Type_INT64:
		c.i64 = c.i64[:n]
	case pq.Type_FLOAT:
		c.f32 = c.f32[:n]
	case pq.Type_DOUBLE:
		c.f64 = c.f64[:n]
	case pq.Type_BOOLEAN:
		c.bools = c.bools[:n]
	case pq.Type_BYTE_ARRAY:
		c.ends = c.ends[:n]
	}
}

// count is the number of non-null values buffered.
func (c *chunk) count() int {
	switch c.col.phys {
	case pq.Type_INT32:
		return len(c.i32)
	case pq.Type_INT64:
		return len(c.i64)
	case pq.Type_FLOAT:
		return len(c.f32)
	case pq.Type_DOUBLE:
		return len(c.f64)
	case pq.Type_BOOLEAN:
		return len(c.bools)
	case pq.Type_BYTE_ARRAY:
		return len(c.ends)
	}
	return len(c.data) / c.col.width
}

// rows is the number of entries buffered, null or not: one per row in a
// flat column, one per value or null of a leaf in a list or map.
func (c *chunk) rows() int {
	if c.col.maxDef == 0 {
		return c.count()
	}
	return len(c.defs)
}

func (c *chunk) appendNull() { c.appendNullAt(0) }

// appendNullAt appends an entry without a value, defined up to level def
// (< maxDef): a null, an empty list or map, or a missing parent.
func (c *chunk) appendNullAt(def uint8) {
	c.defs = append(c.defs, def)
	if c.col.maxRep > 0 {
		c.reps = append(c.reps, c.rep)
	}
	c.nulls++
}

func (c *chunk) present(size int) {
	if c.col.maxDef > 0 {
		c.defs = append(c.defs, c.col.maxDef)
		if c.col.maxRep > 0 {
			c.reps = append(c.reps, c.rep)
		}
	}
	c.size += int64(size)
}

func (c *chunk) appendInt32(v int32) {
	c.i32 = append(c.i32, v)
	c.present(4)
}

func (c *chunk) appendInt64(v int64) {
	c.i64 = append(c.i64, v)
	c.present(8)
}

func (c *chunk) appendFloat(v float32) {
	c.f32 = append(c.f32, v)
	c.present(4)
}

func (c *chunk) appendDouble(v float64) {
	c.f64 = append(c.f64, v)
	c.present(8)
}

func (c *chunk) appendBool(v bool) {
	c.bools = append(c.bools, v)
	c.present(1)
}

func (c *chunk) appendString(s string) {
	c.data = append(c.data, s...)
	c.ends = append(c.ends, len(c.data))
	c.present(4 + len(s))
}

func (c *chunk) appendRaw(b []byte) {
	c.data = append(c.data, b...)
	c.ends = append(c.ends, len(c.data))
	c.present(4 + len(b))
}

// appendFixed takes data, c.data with one more FIXED_LEN_BYTE_ARRAY value appended.
func (c *chunk) appendFixed(data []byte) {
	c.data = data
	c.present(c.col.width)
}

// bytesAt is the i-th BYTE_ARRAY or FIXED_LEN_BYTE_ARRAY value.
func (c *chunk) bytesAt(i int) []byte {
	if c.col.phys == pq.Type_FIXED_LEN_BYTE_ARRAY {
		return c.data[i*c.col.width : (i+1)*c.col.width]
	}
	start := 0
	if i > 0 {
		start = c.ends[i-1]
	}
	return c.data[start:c.ends[i]]
}

// valueSize is the plain-encoded size of the i-th value.
func (c *chunk) valueSize(i int) int {
	switch c.col.phys {
	case pq.Type_INT32, pq.Type_FLOAT:
		return 4
	case pq.Type_INT64, pq.Type_DOUBLE:
		return 8
	case pq.Type_BOOLEAN:
		return 1
	case pq.Type_BYTE_ARRAY:
		return 4 + len(c.bytesAt(i))
	}
	return c.col.width
}

// appendPlain appends values [from, to) in the PLAIN encoding.
func (c *chunk) appendPlain(dst []byte, from, to int) []byte {
	le := binary.LittleEndian
	switch c.col.phys {
	case pq.Type_INT32:
		for _, v := range c.i32[from:to] {
			dst = le.AppendUint32(dst, uint32(v))
		}
	case pq.Type_INT64:
		for _, v := range c.i64[from:to] {
			dst = le.AppendUint64(dst, uint64(v))
		}
	case pq.Type_FLOAT:
		for _, v := range c.f32[from:to] {
			dst = le.AppendUint32(dst, math.Float32bits(v))
		}
	case pq.Type_DOUBLE:
		for _, v := range c.f64[from:to] {
			dst = le.AppendUint64(dst, math.Float64bits(v))
		}
	case pq.Type_BOOLEAN: // bit-packed, least significant bit first
		var b byte
		for i, v := range c.bools[from:to] {
			if v {
				b |= 1 << (i % 8)
			}
			if i%8 == 7 {
				dst, b = append(dst, b), 0
			}
		}
		if (to-from)%8 != 0 {
			dst = append(dst, b)
		}
	case pq.Type_BYTE_ARRAY:
		for i := from; i < to; i++ {
			v := c.bytesAt(i)
			dst = le.AppendUint32(dst, uint32(len(v)))
			dst = append(dst, v...)
		}
	case pq.Type_FIXED_LEN_BYTE_ARRAY:
		dst = append(dst, c.data[from*c.col.width:to*c.col.width]...)
	}
	return dst
}

// maxStatisticsSize is the longest min or max value written to statistics.
// Longer string values leave min and max out (null_count stays), as Arrow
// does: they would bloat the footer that every reader loads.
const maxStatisticsSize = 4096

// statistics of the buffered values: null count, and min and max in the
// column's sort order (signed for numbers, unsigned bytes for strings,
// false < true for booleans). Min and max are also written to the
// deprecated fields for the numeric types, whose old readers use them.
func (c *chunk) statistics() *pq.Statistics {
	nulls := c.nulls
	st := &pq.Statistics{NullCount: &nulls}
	n := c.count()
	if n == 0 {
		return st
	}
	le := binary.LittleEndian
	legacy := true
	switch c.col.phys {
	case pq.Type_INT32:
		lo, hi := minMax(c.i32)
		st.MinValue, st.MaxValue = le.AppendUint32(nil, uint32(lo)), le.AppendUint32(nil, uint32(hi))
	case pq.Type_INT64:
		lo, hi := minMax(c.i64)
		st.MinValue, st.MaxValue = le.AppendUint64(nil, uint64(lo)), le.AppendUint64(nil, uint64(hi))
	case pq.Type_FLOAT:
		lo, hi := minMax(c.f32)
		l, h := signedZeros(float64(lo), float64(hi))
		lo, hi = float32(l), float32(h)
		st.MinValue, st.MaxValue = le.AppendUint32(nil, math.Float32bits(lo)), le.AppendUint32(nil, math.Float32bits(hi))
	case pq.Type_DOUBLE:
		lo, hi := minMax(c.f64)
		lo, hi = signedZeros(lo, hi)
		st.MinValue, st.MaxValue = le.AppendUint64(nil, math.Float64bits(lo)), le.AppendUint64(nil, math.Float64bits(hi))
	case pq.Type_BOOLEAN:
		lo, hi := byte(1), byte(0)
		for _, v := range c.bools {
			if v {
				hi = 1
			} else {
				lo = 0
			}
		}
		st.MinValue, st.MaxValue = []byte{lo}, []byte{hi}
		legacy = false
	default:
		less := bytes.Compare
		if c.col.phys == pq.Type_FIXED_LEN_BYTE_ARRAY {
			less = compareTwosComplement
		}
		lo, hi := c.bytesAt(0), c.bytesAt(0)
		for i := 1; i < n; i++ {
			v := c.bytesAt(i)
			if less(v, lo) < 0 {
				lo = v
			}
			if less(v, hi) > 0 {
				hi = v
			}
		}
		if len(lo) <= maxStatisticsSize && len(hi) <= maxStatisticsSize {
			st.MinValue, st.MaxValue = bytes.Clone(lo), bytes.Clone(hi)
		}
		legacy = false
	}
	if legacy {
		st.Min, st.Max = st.MinValue, st.MaxValue
	}
	return st
}

func minMax[T int32 | int64 | float32 | float64](vs []T) (lo, hi T) {
	lo, hi = vs[0], vs[0]
	for _, v := range vs[1:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// signedZeros follows the Parquet rule for float statistics: a zero minimum
// is written as -0 and a zero maximum as +0, so that readers comparing either
// way include both zeros.
func signedZeros(lo, hi float64) (float64, float64) {
	if lo == 0 {
		lo = math.Copysign(0, -1)
	}
	if hi == 0 {
		hi = 0
	}
	return lo, hi
}

// compareTwosComplement orders equal-length big-endian two's complement integers.
func compareTwosComplement(a, b []byte) int {
	if len(a) > 0 && a[0]&0x80 != b[0]&0x80 {
		if a[0]&0x80 != 0 {
			return -1
		}
		return 1
	}
	return bytes.Compare(a, b)
}
