package history

import (
	"encoding/json"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Filter narrows what WriteJSON writes: a stream (and its shards) and a
// delivery by name; "" is every one.
type Filter struct {
	Stream, Delivery string
}

// WriteJSON writes the history held, oldest point first:
//
//	{"interval_seconds":10,"times":[unix ms…],
//	 "streams":[{"name":…,"bytes_per_second":[…],"records_per_second":[…],"throttled_per_second":[…],
//	             "shards":[{"shard_id":…, the same three}]}],
//	 "deliveries":[{"name":…,"lag_seconds":[…],"lag_records":[…],"retries_per_second":[…]}]}
//
// Each array of values has one entry per time; null where the series had
// no point (before it existed, or at its first sample, which has no rate)
// or its value is not a finite number. The series f selects are copied
// under the lock; the JSON is written from the copy, so that neither its
// encoding nor a slow w holds up the sampler or other readers.
func (s *Sampler) WriteJSON(w io.Writer, f Filter) error {
	_, err := w.Write(s.snapshot(f).appendJSON(make([]byte, 0, 4096)))
	return err
}

// snapshot is a copy of the history a Filter selects, oldest point first.
type snapshot struct {
	interval float64 // seconds
	times    []int64
	keys     []key // in WriteJSON's order (see sortedKeys)
	vals     [][3][]float32
}

// snapshot copies what f selects.
func (s *Sampler) snapshot(f Filter) snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := (s.next - s.n + len(s.times)) % len(s.times)
	ordered := func(dst, ring []float32) []float32 {
		if end := start + s.n; end <= len(ring) {
			return append(dst, ring[start:end]...)
		}
		dst = append(dst, ring[start:]...)
		return append(dst, ring[:s.n-(len(ring)-start)]...)
	}
	sn := snapshot{interval: s.cfg.Interval.Seconds(), times: make([]int64, 0, s.n), keys: s.sortedKeys(f)}
	for i := range s.n {
		sn.times = append(sn.times, s.times[(start+i)%len(s.times)])
	}
	// One allocation for every value copied.
	buf := make([]float32, 0, 3*s.n*len(sn.keys))
	sn.vals = make([][3][]float32, len(sn.keys))
	for i, k := range sn.keys {
		for j, ring := range s.series[k].vals {
			at := len(buf)
			buf = ordered(buf, ring)
			sn.vals[i][j] = buf[at:len(buf):len(buf)]
		}
	}
	return sn
}

func (sn snapshot) appendJSON(b []byte) []byte {
	b = append(b, `{"interval_seconds":`...)
	b = strconv.AppendFloat(b, sn.interval, 'f', -1, 64)
	b = append(b, `,"times":[`...)
	for i, t := range sn.times {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, t, 10)
	}
	b = append(b, `],"streams":[`...)
	first := true
	for i, k := range sn.keys {
		if k.kind != KindStream {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"name":`...)
		b = appendString(b, k.name)
		b = appendRates(b, sn.vals[i])
		b = append(b, `,"shards":[`...)
		firstShard := true
		for j, sk := range sn.keys[i+1:] {
			if sk.kind != KindShard || sk.name != k.name {
				continue
			}
			if !firstShard {
				b = append(b, ',')
			}
			firstShard = false
			b = append(b, `{"shard_id":`...)
			b = appendString(b, sk.shard)
			b = appendRates(b, sn.vals[i+1+j])
			b = append(b, '}')
		}
		b = append(b, "]}"...)
	}
	b = append(b, `],"deliveries":[`...)
	first = true
	for i, k := range sn.keys {
		if k.kind != KindDelivery {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"name":`...)
		b = appendString(b, k.name)
		b = append(b, `,"lag_seconds":`...)
		b = appendValues(b, sn.vals[i][0])
		b = append(b, `,"lag_records":`...)
		b = appendValues(b, sn.vals[i][1])
		b = append(b, `,"retries_per_second":`...)
		b = appendValues(b, sn.vals[i][2])
		b = append(b, '}')
	}
	return append(b, "]}\n"...)
}

// sortedKeys are the keys f selects: streams before their shards (a
// stream's key sorts first among its own), by name, then deliveries.
func (s *Sampler) sortedKeys(f Filter) []key {
	keys := make([]key, 0, len(s.series))
	for k := range s.series {
		switch {
		case k.kind == KindDelivery && f.Delivery != "" && k.name != f.Delivery,
			k.kind != KindDelivery && f.Stream != "" && k.name != f.Stream:
			continue
		}
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.kind == KindDelivery || b.kind == KindDelivery {
			if a.kind != b.kind {
				return int(a.kind) - int(b.kind)
			}
			return strings.Compare(a.name, b.name)
		}
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if a.kind != b.kind {
			return int(a.kind) - int(b.kind)
		}
		return strings.Compare(a.shard, b.shard)
	})
	return keys
}

func appendRates(b []byte, vals [3][]float32) []byte {
	for j, name := range [3]string{`,"bytes_per_second":`, `,"records_per_second":`, `,"throttled_per_second":`} {
		b = append(b, name...)
		b = appendValues(b, vals[j])
	}
	return b
}

// appendValues appends vals as a JSON array: NaN (no point) and the
// infinities (a rate past float32's range) as null.
func appendValues(b []byte, vals []float32) []byte {
	b = append(b, '[')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, float64(v), 'g', 6, 32)
	}
	return append(b, ']')
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil { // a string always encodes
		return append(b, `""`...)
	}
	return append(b, q...)
}
