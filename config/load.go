package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Check is a validation that only another component can make (a transform
// registry checking transform options, say). It runs on the decoded config
// and returns positioned errors built with (*Config).Errorf; they are
// reported together with the config's own.
type Check func(*Config) []FieldError

// Load reads, interpolates, decodes and validates the configuration file at
// path, taking ${VAR} values from the process environment, and runs checks.
// Problems with the file's content come back together as an *Error; a file
// that cannot be read comes back as the wrapped os error.
func Load(path string, checks ...Check) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, checks...)
}

// Parse is Load for a file already in memory; filename is used in errors.
func Parse(filename string, data []byte, checks ...Check) (*Config, error) {
	return ParseWithEnv(filename, data, os.LookupEnv, checks...)
}

// ParseWithEnv is Parse with the environment given as a lookup function with
// the signature of os.LookupEnv.
func ParseWithEnv(filename string, data []byte, lookup func(string) (string, bool), checks ...Check) (*Config, error) {
	root, syntaxErr := parseYAML(data)
	if syntaxErr != nil {
		return nil, withFile(filename, []FieldError{*syntaxErr})
	}
	interpErrs := interpolateNodes(root, lookup)

	cfg := NewDefaultConfig()
	cfg.file = filename
	d := newDecoder()
	if root != nil {
		d.record("", root)
		d.decode(root, reflect.ValueOf(&cfg).Elem(), "")
	} else {
		d.pos[""] = position{line: 1, col: 1}
	}
	cfg.pos = d.pos
	cfg.applyScheduleRule()

	// Report each problem once: nothing more on a line whose ${...} failed,
	// and no semantic complaint about a value that failed to decode.
	badLines := map[int]bool{}
	for i, ie := range interpErrs {
		badLines[ie.Line] = true
		interpErrs[i].Path = d.pathAt(ie.Line, ie.Column)
	}
	errs := interpErrs
	for _, de := range d.errs {
		if !badLines[de.Line] {
			errs = append(errs, de)
		}
	}
	streamsIncomplete := slices.ContainsFunc(d.failed, func(p string) bool { return within(p, "streams") || within("streams", p) })
	for _, ve := range cfg.validate() {
		switch {
		case badLines[ve.Line], coveredBy(ve.Path, d.failed):
		case streamsIncomplete && strings.HasPrefix(ve.Path, "deliveries[") && strings.HasSuffix(ve.Path, ".source"):
			// the stream it names may be one that failed to decode
		default:
			errs = append(errs, ve)
		}
	}
	for _, check := range checks {
		for _, ce := range check(&cfg) {
			if !badLines[ce.Line] && !coveredBy(ce.Path, d.failed) {
				errs = append(errs, ce)
			}
		}
	}
	if err := withFile(filename, errs); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// coveredBy reports whether path is at or below one of paths.
func coveredBy(path string, paths []string) bool {
	for _, p := range paths {
		if within(path, p) {
			return true
		}
	}
	return false
}

// applyScheduleRule lets a schedule alone decide when a buffer flushes:
// a buffer that sets schedule but not interval is ScheduleOnly. It also
// gives Parquet deliveries Firehose's larger default buffer (64 MiB), since
// small Parquet files are slow to query.
func (c *Config) applyScheduleRule() {
	for i := range c.Deliveries {
		d := &c.Deliveries[i]
		b := &d.Buffer
		if b.Schedule != "" && !c.written(indexPath("deliveries", i)+".buffer.interval") {
			b.Interval, b.ScheduleOnly = 0, true
		}
		if d.Destination.Format() == FormatParquet && !c.written(indexPath("deliveries", i)+".buffer.size") {
			b.Size = ParquetBufferSize
		}
		// As Firehose for Redshift: a database outage is retried for an hour.
		if d.Destination.Postgres != nil && !c.written(indexPath("deliveries", i)+".retry.duration") {
			d.Retry.Duration = PostgresRetryDuration
		}
	}
}

// pathAt returns the deepest path written on line at or before col, or "".
func (d *decoder) pathAt(line, col int) string {
	best, bestPos := "", position{}
	for path, p := range d.pos {
		if p.line != line || p.col > col {
			continue
		}
		if p.col > bestPos.col || p.col == bestPos.col && len(path) > len(best) {
			best, bestPos = path, p
		}
	}
	return best
}

// parseYAML parses text into a node tree and returns its root, or nil for an
// empty file. More than one document is an error.
func parseYAML(text []byte) (*yaml.Node, *FieldError) {
	root, extra, err := decodeDocuments(text)
	if err != nil {
		return nil, syntaxError(text, err)
	}
	if extra != nil {
		return nil, &FieldError{Line: extra.Line, Column: extra.Column, Message: "only one YAML document is allowed"}
	}
	return root, nil
}

// decodeDocuments returns the root of the first document, nil when there is
// none, and the root of a second document that is not empty.
func decodeDocuments(text []byte) (root, extra *yaml.Node, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(text))
	var doc, next yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	if len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	if err := dec.Decode(&next); err != nil {
		if errors.Is(err, io.EOF) {
			return root, nil, nil
		}
		return nil, nil, err
	}
	if len(next.Content) > 0 && !isNull(next.Content[0]) {
		extra = next.Content[0]
	}
	return root, extra, nil
}

// syntaxError turns "yaml: line 3: did not find expected key" into a
// FieldError. yaml.v3 reports the line where the enclosing block starts (for
// some errors counted from 0), so the line reported is instead the first one
// at which the text read so far fails with the same error, found by binary
// search on the assumption that every longer prefix fails the same way.
func syntaxError(text []byte, err error) *FieldError {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	fe := &FieldError{Message: "invalid YAML: " + msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, m, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				fe.Line, fe.Message = n, "invalid YAML: "+m
			}
		}
	}
	lines := bytes.SplitAfter(text, []byte("\n"))
	fails := func(k int) bool {
		_, _, e := decodeDocuments(bytes.Join(lines[:k], nil))
		return e != nil && e.Error() == err.Error()
	}
	lo, hi := 1, len(lines) // fails(hi) holds: it is the whole text
	for lo < hi {
		if mid := (lo + hi) / 2; fails(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	fe.Line = hi
	return fe
}

// withFile sets File on errs and returns them as an *Error, or nil.
func withFile(file string, errs []FieldError) error {
	for i := range errs {
		errs[i].File = file
	}
	return NewError(errs)
}
