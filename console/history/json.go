package history

import (
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
// no point (before it existed, or at its first sample, which has no rate).
func (s *Sampler) WriteJSON(w io.Writer, f Filter) error {
	s.mu.Lock()
	b := s.appendJSON(make([]byte, 0, 4096), f)
	s.mu.Unlock()
	_, err := w.Write(b)
	return err
}

func (s *Sampler) appendJSON(b []byte, f Filter) []byte {
	start := (s.next - s.n + len(s.times)) % len(s.times)
	b = append(b, `{"interval_seconds":`...)
	b = strconv.AppendFloat(b, s.cfg.Interval.Seconds(), 'f', -1, 64)
	b = append(b, `,"times":[`...)
	for i := range s.n {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, s.times[(start+i)%len(s.times)], 10)
	}
	b = append(b, `],"streams":[`...)
	keys := s.sortedKeys(f)
	first := true
	for i, k := range keys {
		if k.kind != KindStream {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"name":`...)
		b = strconv.AppendQuote(b, k.name)
		b = s.appendRates(b, s.series[k], start)
		b = append(b, `,"shards":[`...)
		firstShard := true
		for _, sk := range keys[i+1:] {
			if sk.kind != KindShard || sk.name != k.name {
				continue
			}
			if !firstShard {
				b = append(b, ',')
			}
			firstShard = false
			b = append(b, `{"shard_id":`...)
			b = strconv.AppendQuote(b, sk.shard)
			b = s.appendRates(b, s.series[sk], start)
			b = append(b, '}')
		}
		b = append(b, "]}"...)
	}
	b = append(b, `],"deliveries":[`...)
	first = true
	for _, k := range keys {
		if k.kind != KindDelivery {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		ser := s.series[k]
		b = append(b, `{"name":`...)
		b = strconv.AppendQuote(b, k.name)
		b = append(b, `,"lag_seconds":`...)
		b = s.appendValues(b, ser.vals[0], start)
		b = append(b, `,"lag_records":`...)
		b = s.appendValues(b, ser.vals[1], start)
		b = append(b, `,"retries_per_second":`...)
		b = s.appendValues(b, ser.vals[2], start)
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

func (s *Sampler) appendRates(b []byte, ser *series, start int) []byte {
	for j, name := range [3]string{`,"bytes_per_second":`, `,"records_per_second":`, `,"throttled_per_second":`} {
		b = append(b, name...)
		b = s.appendValues(b, ser.vals[j], start)
	}
	return b
}

// appendValues appends vals from start for the points held, NaN as null.
func (s *Sampler) appendValues(b []byte, vals []float32, start int) []byte {
	b = append(b, '[')
	for i := range s.n {
		if i > 0 {
			b = append(b, ',')
		}
		v := vals[(start+i)%len(vals)]
		if math.IsNaN(float64(v)) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, float64(v), 'g', 6, 32)
	}
	return append(b, ']')
}
