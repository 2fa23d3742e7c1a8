package analytics

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Discover infers an input schema from sample records, as Kinesis Data
// Analytics' DiscoverInputSchema does: a column per top-level key of the
// JSON objects (nested objects and arrays become json columns; a key is
// named as its pointer's SQL-safe form), typed by the narrowest type every
// sample's value fits: boolean, int64, double, timestamp_millis (RFC 3339
// strings), else string. Keys are in the order first seen. Samples that
// are not JSON objects are skipped; nothing fits: no columns.
func Discover(samples [][]byte) []Column {
	type seen struct {
		col   Column
		kinds map[string]bool
	}
	var order []string
	byKey := map[string]*seen{}
	for _, rec := range samples {
		dec := json.NewDecoder(bytes.NewReader(rec))
		dec.UseNumber()
		var doc map[string]any
		if dec.Decode(&doc) != nil {
			continue
		}
		keys := make([]string, 0, len(doc))
		for k := range doc {
			keys = append(keys, k)
		}
		slices.Sort(keys) // a map has no order; first-seen across records stays stable
		for _, k := range keys {
			s := byKey[k]
			if s == nil {
				s = &seen{col: Column{Name: sqlName(k), Path: "/" + strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")}, kinds: map[string]bool{}}
				byKey[k] = s
				order = append(order, k)
			}
			if v := doc[k]; v != nil {
				s.kinds[kindOf(v)] = true
			}
		}
	}
	var cols []Column
	names := map[string]bool{}
	for _, m := range metaColumns {
		names[m] = true
	}
	for _, k := range order {
		s := byKey[k]
		s.col.Type = widest(s.kinds)
		name := s.col.Name
		for i := 2; names[strings.ToLower(name)]; i++ {
			name = s.col.Name + "_" + strconv.Itoa(i)
		}
		names[strings.ToLower(name)] = true
		s.col.Name = name
		if s.col.Path == "/"+name {
			s.col.Path = ""
		}
		cols = append(cols, s.col)
	}
	return cols
}

// kindOf names the narrowest column type v fits.
func kindOf(v any) string {
	switch x := v.(type) {
	case bool:
		return "boolean"
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return "int64"
		}
		return "double"
	case string:
		if _, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return "timestamp_millis"
		}
		return "string"
	case map[string]any, []any:
		return "json"
	}
	return "string"
}

// widest is the type that holds every kind seen (string when they differ
// but for numbers).
func widest(kinds map[string]bool) string {
	switch {
	case len(kinds) == 0:
		return "string"
	case len(kinds) == 1:
		for k := range kinds {
			return k
		}
	case len(kinds) == 2 && kinds["int64"] && kinds["double"]:
		return "double"
	}
	return "string"
}

// sqlName turns a JSON key into a column name: letters, digits and _, not
// starting with a digit, at most 63 bytes.
func sqlName(k string) string {
	var b strings.Builder
	for _, r := range k {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_', r >= '0' && r <= '9' && b.Len() > 0:
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			b.WriteString("_")
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 60 {
			break
		}
	}
	if b.Len() == 0 {
		return "col"
	}
	return b.String()
}
