package parquet

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Special timestamp_formats entries: epoch time as a JSON number or a string
// holding one, whole or fractional. "millis" is Firehose's name for epoch
// milliseconds (its HiveJsonSerDe's TimestampFormats).
const (
	FormatEpochSeconds = "epoch_seconds"
	FormatEpochMillis  = "epoch_millis"
	formatFirehoseMs   = "millis"
)

// timeFormat is one compiled timestamp_formats entry.
type timeFormat struct {
	pattern string // as configured, for errors
	epoch   int    // decimal digits of a second in an epoch number: 0 (seconds) or 3 (millis); -1 for a layout
	layout  string // Go layout of a Joda pattern
}

// defaultLayouts are the strings every timestamp and date column reads,
// after any timestamp_formats: RFC 3339 and ISO 8601 with a "Z", "+hh:mm" or
// "+hhmm" offset, "T" or a space between date and time, and without an
// offset as UTC (java.sql.Timestamp's "2006-01-02 15:04:05.999999999",
// Firehose's default). Fractional seconds of any length are optional in each.
var defaultLayouts = [...]string{
	time.RFC3339,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05Z0700",
}

// compileFormats compiles a column's timestamp_formats.
func compileFormats(patterns []string) ([]timeFormat, error) {
	formats := make([]timeFormat, 0, len(patterns))
	for i, p := range patterns {
		f := timeFormat{pattern: p, epoch: -1}
		switch strings.ToLower(strings.TrimSpace(p)) {
		case FormatEpochSeconds:
			f.epoch = 0
		case FormatEpochMillis, formatFirehoseMs:
			f.epoch = 3
		default:
			layout, err := jodaLayout(p)
			if err != nil {
				return nil, fmt.Errorf("timestamp_formats[%d] %q: %w", i, p, err)
			}
			f.layout = layout
		}
		formats = append(formats, f)
	}
	return formats, nil
}

// jodaLayout translates a Joda-Time DateTimeFormat pattern, as Firehose's
// timestamp_formats take, into a Go time layout. It takes the fields a
// timestamp is written with: y (yyyy, yy), M (M, MM, MMM, MMMM), d, H, h,
// m, s, S (fraction, after s and "." or ","; any number of digits is read),
// a (AM/PM), E (EEE, EEEE), Z ("+0100" or "Z"), ZZ ("+01:00" or "Z"),
// 'quoted text' (” is a quote) and punctuation. Text Go would read as a
// field (digits, "_", month or day names) cannot be a literal.
func jodaLayout(p string) (string, error) {
	if strings.TrimSpace(p) == "" {
		return "", errors.New("must not be empty")
	}
	var b strings.Builder
	for i := 0; i < len(p); {
		c := p[i]
		n := 1
		for i+n < len(p) && p[i+n] == c {
			n++
		}
		isLetter := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		switch {
		case c == '\'':
			lit, next, err := quoted(p, i)
			if err != nil {
				return "", err
			}
			if err := checkLiteral(lit); err != nil {
				return "", err
			}
			b.WriteString(lit)
			i = next
			continue
		case !isLetter:
			if err := checkLiteral(string(c)); err != nil {
				return "", err
			}
			b.WriteByte(c)
			i++
			continue
		}
		field, err := jodaField(c, n)
		if err != nil {
			return "", err
		}
		if c == 'S' {
			// Go reads a fraction of any length right after the seconds
			// without a layout field; the separator is part of it.
			s := b.String()
			if !strings.HasSuffix(s, "05.") && !strings.HasSuffix(s, "05,") && !strings.HasSuffix(s, "5.") && !strings.HasSuffix(s, "5,") {
				return "", errors.New(`"S" (fraction of a second) must follow "ss." or "ss,"`)
			}
			b.Reset()
			b.WriteString(s[:len(s)-1])
		}
		b.WriteString(field)
		i += n
	}
	return b.String(), nil
}

// jodaField is the Go layout of n repeats of the Joda pattern letter c.
func jodaField(c byte, n int) (string, error) {
	pick := func(layouts ...string) string { return layouts[min(n, len(layouts))-1] }
	switch c {
	case 'y', 'Y':
		if n == 2 {
			return "06", nil
		}
		return "2006", nil
	case 'M':
		return pick("1", "01", "Jan", "January"), nil
	case 'd':
		return pick("2", "02"), nil
	case 'H':
		return "15", nil
	case 'h':
		return pick("3", "03"), nil
	case 'm':
		return pick("4", "04"), nil
	case 's':
		return pick("5", "05"), nil
	case 'S':
		return "", nil
	case 'a':
		return "PM", nil
	case 'E':
		return pick("Mon", "Mon", "Mon", "Monday"), nil
	case 'Z':
		if n == 1 {
			return "Z0700", nil
		}
		if n == 2 {
			return "Z07:00", nil
		}
		return "", errors.New(`"ZZZ" (time zone ids) is not supported; use Z (+0100) or ZZ (+01:00)`)
	}
	return "", fmt.Errorf("pattern letter %q is not supported (supported: y M d H h m s S a E Z, 'text')", string(c))
}

// quoted reads the 'quoted text' starting at p[i], returning it and the index after it.
func quoted(p string, i int) (string, int, error) {
	if i+1 < len(p) && p[i+1] == '\'' {
		return "'", i + 2, nil
	}
	var b strings.Builder
	for j := i + 1; j < len(p); j++ {
		if p[j] != '\'' {
			b.WriteByte(p[j])
			continue
		}
		if j+1 < len(p) && p[j+1] == '\'' {
			b.WriteByte('\'')
			j++
			continue
		}
		return b.String(), j + 1, nil
	}
	return "", 0, errors.New("a quote (') is not closed")
}

// checkLiteral refuses literal text that Go's layouts would read as a field.
func checkLiteral(s string) error {
	if strings.ContainsAny(s, "0123456789_") {
		return fmt.Errorf("literal %q: digits and \"_\" cannot be literal text", s)
	}
	for _, word := range [...]string{"Jan", "Mon", "MST", "PM", "pm"} {
		if strings.Contains(s, word) {
			return fmt.Errorf("literal %q: %q cannot be literal text", s, word)
		}
	}
	return nil
}

// timestamp converts v to the column's unit since the Unix epoch, UTC.
func timestamp(v any, col *column) (int64, error) {
	unit := 3 // decimal digits of a second the column keeps
	if col.kind == kindTimestampMicros {
		unit = 6
	}
	sec, frac, err := instant(v, col, unit)
	if err != nil {
		return 0, err
	}
	return sec*int64(math.Pow10(unit)) + frac, nil
}

// instant reads v as a point in time: whole seconds since the Unix epoch and
// the fraction of the second in units of 10^-unit s, rounded toward the past.
//
// A string is tried against the column's timestamp_formats in order, then
// against the defaultLayouts. A JSON number is epoch time in the unit of the
// first epoch entry of timestamp_formats, or in seconds when there is none; a
// numeric string only with an epoch entry (a string of digits is more likely
// a mistake, "20240305", than a time).
func instant(v any, col *column, unit int) (sec, frac int64, err error) {
	switch x := v.(type) {
	case json.Number:
		epoch := 0
		for _, f := range col.formats {
			if f.epoch >= 0 {
				epoch = f.epoch
				break
			}
		}
		return epochInstant(string(x), epoch, unit, v, col)
	case string:
		for _, f := range col.formats {
			if f.epoch >= 0 {
				if isNumber(x) {
					return epochInstant(x, f.epoch, unit, v, col)
				}
				continue
			}
			if t, perr := time.Parse(f.layout, x); perr == nil {
				return timeInstant(t, unit, v, col)
			}
		}
		for _, layout := range defaultLayouts {
			if t, perr := time.Parse(layout, x); perr == nil {
				return timeInstant(t, unit, v, col)
			}
		}
		want := "RFC 3339 or ISO 8601 (2006-01-02T15:04:05.999+01:00), 2006-01-02 15:04:05 (UTC) or epoch seconds as a JSON number"
		if len(col.formats) > 0 {
			want = "one of its timestamp_formats, " + want
		}
		return 0, 0, fmt.Errorf("%s: want %s", mismatch(v, col), want)
	}
	return 0, 0, mismatch(v, col)
}

// epochInstant reads text, a JSON number, as epoch time with epoch decimal
// digits of a second (0 for seconds, 3 for milliseconds).
func epochInstant(text string, epoch, unit int, v any, col *column) (sec, frac int64, err error) {
	n, err := parseDecimal(text).scaledFloor(unit - epoch)
	scale := int64(math.Pow10(unit))
	if err != nil || n < minUnixSeconds*scale || n >= endUnixSeconds*scale {
		hint := " (milliseconds instead of seconds? timestamp_formats: [epoch_millis] reads them)"
		if epoch > 0 {
			hint = ""
		}
		what := "epoch seconds"
		if epoch == 3 {
			what = "epoch milliseconds"
		}
		return 0, 0, fmt.Errorf("%s: as %s it is outside years 0001-9999%s", mismatch(v, col), what, hint)
	}
	sec, frac = n/scale, n%scale
	if frac < 0 {
		sec, frac = sec-1, frac+scale
	}
	return sec, frac, nil
}

// timeInstant checks t's year and cuts its fraction to unit digits.
func timeInstant(t time.Time, unit int, v any, col *column) (sec, frac int64, err error) {
	sec = t.Unix()
	if sec < minUnixSeconds || sec >= endUnixSeconds {
		return 0, 0, fmt.Errorf("%s: outside years 0001-9999", mismatch(v, col))
	}
	return sec, int64(t.Nanosecond()) / int64(math.Pow10(9-unit)), nil
}

// date converts v to days since 1970-01-01: "2006-01-02", or the UTC date of
// any form a timestamp column takes.
func date(v any, col *column) (int32, error) {
	var sec int64
	if s, ok := v.(string); ok {
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			sec = t.Unix()
			if sec < minUnixSeconds || sec >= endUnixSeconds {
				return 0, fmt.Errorf("%s: outside years 0001-9999", mismatch(v, col))
			}
			return floorDays(sec), nil
		}
	}
	if _, ok := v.(json.Number); ok && !hasEpochFormat(col) {
		return 0, fmt.Errorf("%s: want 2006-01-02, a timestamp, or a number with timestamp_formats [epoch_seconds] or [epoch_millis]",
			mismatch(v, col))
	}
	sec, _, err := instant(v, col, 0)
	if err != nil {
		if _, ok := v.(string); ok && !strings.Contains(err.Error(), "outside") {
			return 0, fmt.Errorf("%s: want 2006-01-02 or a timestamp (RFC 3339, ISO 8601, timestamp_formats)", mismatch(v, col))
		}
		return 0, err
	}
	return floorDays(sec), nil
}

func hasEpochFormat(col *column) bool {
	for _, f := range col.formats {
		if f.epoch >= 0 {
			return true
		}
	}
	return false
}

// floorDays is the day of a Unix second: 1969-12-31T12:00Z is day -1.
func floorDays(sec int64) int32 {
	days := sec / secondsPerDay
	if sec%secondsPerDay < 0 {
		days--
	}
	return int32(days)
}

// TakesTimestampFormats reports whether a column of the config type typ
// (timestamp_millis, timestamp_micros or date) reads TimestampFormats.
func TakesTimestampFormats(typ string) bool {
	switch strings.ToLower(strings.TrimSpace(typ)) {
	case "timestamp_millis", "timestamp_micros", "date":
		return true
	}
	return false
}

// ValidateTimestampFormats checks a list of timestamp_formats as NewSchema
// does, for an error that names the list rather than a column.
func ValidateTimestampFormats(patterns []string) error {
	_, err := compileFormats(patterns)
	return err
}
