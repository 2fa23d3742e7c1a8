package parquet

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func millisAt(year int, month time.Month, day, h, m, s, ms int) int64 {
	return time.Date(year, month, day, h, m, s, ms*1e6, time.UTC).UnixMilli()
}

// TestTimestampForms reads every timestamp form back with arrow-go: epoch
// seconds and milliseconds, whole and fractional, as numbers and strings;
// ISO 8601 and RFC 3339 with and without offsets; Joda patterns.
func TestTimestampForms(t *testing.T) {
	const (
		millis = "timestamp_millis"
		micro  = "timestamp_micros"
	)
	ref := millisAt(2024, 3, 5, 12, 34, 56, 789)
	tests := map[string]struct {
		typ     string
		formats []string
		value   string // the JSON value of "v"
		want    any
		wantErr string
	}{
		// Defaults, without timestamp_formats.
		"epoch seconds":               {typ: millis, value: `1709642096`, want: int64(1709642096000)},
		"epoch seconds fraction":      {typ: millis, value: `1709642096.789`, want: int64(1709642096789)},
		"epoch seconds exponent":      {typ: millis, value: `1.709642096789e9`, want: int64(1709642096789)},
		"epoch seconds negative":      {typ: millis, value: `-0.5`, want: int64(-500)},
		"epoch millis refused":        {typ: millis, value: `1709642096789`, wantErr: `as epoch seconds it is outside years 0001-9999 (milliseconds instead of seconds? timestamp_formats: [epoch_millis] reads them)`},
		"epoch string refused":        {typ: millis, value: `"1709642096"`, wantErr: `want RFC 3339 or ISO 8601`},
		"RFC 3339 Z":                  {typ: millis, value: `"2024-03-05T12:34:56.789Z"`, want: ref},
		"RFC 3339 lower z":            {typ: millis, value: `"2024-03-05t12:34:56.789z"`, wantErr: `is not a timestamp`},
		"RFC 3339 offset":             {typ: millis, value: `"2024-03-05T14:34:56.789+02:00"`, want: ref},
		"RFC 3339 negative offset":    {typ: millis, value: `"2024-03-05T07:04:56.789-05:30"`, want: ref},
		"ISO 8601 basic offset":       {typ: millis, value: `"2024-03-05T14:34:56.789+0200"`, want: ref},
		"ISO 8601 no fraction offset": {typ: millis, value: `"2024-03-05T14:34:56+0200"`, want: ref - 789},
		"ISO 8601 nanos":              {typ: micro, value: `"2024-03-05T12:34:56.123456789Z"`, want: micros(2024, 3, 5, 12, 34, 56, 123456)},
		"ISO 8601 one digit fraction": {typ: millis, value: `"2024-03-05T12:34:56.7Z"`, want: ref - 89},
		"no offset is UTC":            {typ: millis, value: `"2024-03-05T12:34:56.789"`, want: ref},
		"space, java.sql.Timestamp":   {typ: millis, value: `"2024-03-05 12:34:56.789"`, want: ref},
		"space with offset":           {typ: millis, value: `"2024-03-05 14:34:56.789+02:00"`, want: ref},
		"space with basic offset":     {typ: millis, value: `"2024-03-05 14:34:56.789+0200"`, want: ref},
		"date only refused":           {typ: millis, value: `"2024-03-05"`, wantErr: `is not a timestamp`},
		"fraction floors before 1970": {typ: millis, value: `"1969-12-31T23:59:59.9999Z"`, want: int64(-1)},
		"year 10000":                  {typ: millis, value: `"9999-12-31T23:00:00-02:00"`, wantErr: `outside years 0001-9999`},
		"bool":                        {typ: millis, value: `true`, wantErr: `value true is not a timestamp`},
		"object":                      {typ: millis, value: `{}`, wantErr: `an object is not a timestamp`},
		// epoch_millis and Firehose's "millis".
		"epoch_millis number":            {typ: millis, formats: []string{"epoch_millis"}, value: `1709642096789`, want: ref},
		"epoch_millis string":            {typ: millis, formats: []string{"epoch_millis"}, value: `"1709642096789"`, want: ref},
		"epoch_millis fraction":          {typ: micro, formats: []string{"epoch_millis"}, value: `1709642096789.123`, want: ref*1000 + 123},
		"epoch_millis negative":          {typ: millis, formats: []string{"epoch_millis"}, value: `-1`, want: int64(-1)},
		"epoch_millis negative fraction": {typ: micro, formats: []string{"epoch_millis"}, value: `-0.0005`, want: int64(-1)},
		"millis, Firehose's name":        {typ: millis, formats: []string{"millis"}, value: `1709642096789`, want: ref},
		"epoch_millis out of range":      {typ: millis, formats: []string{"epoch_millis"}, value: `1e17`, wantErr: `as epoch milliseconds it is outside years 0001-9999`},
		"epoch_millis keeps RFC 3339":    {typ: millis, formats: []string{"epoch_millis"}, value: `"2024-03-05T12:34:56.789Z"`, want: ref},
		"epoch_seconds string":           {typ: millis, formats: []string{"epoch_seconds"}, value: `"1709642096.789"`, want: ref},
		"epoch_seconds number":           {typ: micro, formats: []string{"EPOCH_SECONDS"}, value: `1709642096.789`, want: ref * 1000},
		"first epoch entry wins":         {typ: millis, formats: []string{"epoch_millis", "epoch_seconds"}, value: `1709642096789`, want: ref},
		// Joda patterns.
		"joda slashes":               {typ: millis, formats: []string{"dd/MM/yyyy HH:mm:ss"}, value: `"05/03/2024 12:34:56"`, want: ref - 789},
		"joda fraction any length":   {typ: micro, formats: []string{"yyyy-MM-dd'T'HH:mm:ss.SSS"}, value: `"2024-03-05T12:34:56.123456"`, want: micros(2024, 3, 5, 12, 34, 56, 123456)},
		"joda Z offset":              {typ: millis, formats: []string{"yyyy-MM-dd'T'HH:mm:ss.SSSZ"}, value: `"2024-03-05T13:34:56.789+0100"`, want: ref},
		"joda ZZ offset":             {typ: millis, formats: []string{"yyyy-MM-dd HH:mm:ss,SSSZZ"}, value: `"2024-03-05 13:34:56,789+01:00"`, want: ref},
		"joda Z reads Z":             {typ: millis, formats: []string{"yyyyMMdd'T'HHmmssZ"}, value: `"20240305T123456Z"`, want: ref - 789},
		"joda month name, 12 hours":  {typ: millis, formats: []string{"EEE, d MMM yyyy hh:mm:ss a"}, value: `"Tue, 5 Mar 2024 12:34:56 PM"`, want: ref - 789},
		"joda full month":            {typ: millis, formats: []string{"MMMM d, yyyy H:mm"}, value: `"March 5, 2024 12:34"`, want: ref - 56789},
		"joda second pattern":        {typ: millis, formats: []string{"yyyy/MM/dd", "yyyy.MM.dd HH:mm"}, value: `"2024.03.05 12:34"`, want: ref - 56789},
		"joda no match":              {typ: millis, formats: []string{"dd/MM/yyyy"}, value: `"2024/03/05"`, wantErr: `want one of its timestamp_formats`},
		"joda then default":          {typ: millis, formats: []string{"dd/MM/yyyy"}, value: `"2024-03-05T12:34:56.789Z"`, want: ref},
		"joda, number still seconds": {typ: millis, formats: []string{"dd/MM/yyyy"}, value: `1709642096`, want: ref - 789},
		// Dates take every form, as their UTC day.
		"date from epoch_millis":         {typ: "date", formats: []string{"epoch_millis"}, value: `1709642096789`, want: days(2024, 3, 5)},
		"date from epoch seconds before": {typ: "date", formats: []string{"epoch_seconds"}, value: `-1`, want: int32(-1)},
		"date number without format":     {typ: "date", value: `20240305`, wantErr: `want 2006-01-02, a timestamp, or a number with timestamp_formats`},
		"date from joda":                 {typ: "date", formats: []string{"dd.MM.yyyy"}, value: `"05.03.2024"`, want: days(2024, 3, 5)},
		"date from basic offset":         {typ: "date", value: `"2024-03-05T01:00:00+0200"`, want: days(2024, 3, 4)},
		"date garbage":                   {typ: "date", value: `"soon"`, wantErr: `want 2006-01-02 or a timestamp`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := convertOne(t, Column{Name: "v", Type: tt.typ, TimestampFormats: tt.formats}, `{"v":`+tt.value+`}`)
			if tt.wantErr != "" {
				var cerr *ConversionError
				if !errors.As(err, &cerr) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %s, err %v; want a conversion error containing %q", describe(got), err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("conversion failed: %v", err)
			}
			if got != tt.want {
				t.Fatalf("read back %s, want %s", describe(got), describe(tt.want))
			}
		})
	}
}

// TestTimestampFormatsInvalid checks that NewSchema refuses what it cannot
// parse, naming the entry.
func TestTimestampFormatsInvalid(t *testing.T) {
	tests := map[string]struct {
		typ     string
		formats []string
		want    string
	}{
		"empty":              {"timestamp_millis", []string{" "}, `timestamp_formats[0] " ": must not be empty`},
		"unknown letter":     {"timestamp_millis", []string{"yyyy-QQ"}, `timestamp_formats[0] "yyyy-QQ": pattern letter "Q" is not supported`},
		"zone id":            {"timestamp_micros", []string{"yyyy", "HH:mm ZZZ"}, `timestamp_formats[1] "HH:mm ZZZ": "ZZZ" (time zone ids) is not supported`},
		"fraction alone":     {"timestamp_millis", []string{"HHmmssSSS"}, `"S" (fraction of a second) must follow "ss." or "ss,"`},
		"open quote":         {"timestamp_millis", []string{"yyyy'T"}, `a quote (') is not closed`},
		"digit literal":      {"timestamp_millis", []string{"yyyy'1'"}, `digits and "_" cannot be literal text`},
		"month name literal": {"timestamp_millis", []string{"'Jan' yyyy"}, `"Jan" cannot be literal text`},
		"not a timestamp":    {"string", []string{"epoch_millis"}, `timestamp_formats: only timestamp and date columns take them`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := NewSchema([]Column{{Name: "v", Type: tt.typ, TimestampFormats: tt.formats}})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "columns[0] (v): ") {
				t.Fatalf("err %v, want columns[0] (v): ...%s", err, tt.want)
			}
		})
	}
}

// TestJodaLayout pins the translation of Joda patterns into Go layouts.
func TestJodaLayout(t *testing.T) {
	tests := map[string]string{
		"yyyy-MM-dd'T'HH:mm:ss.SSSZZ": "2006-01-02T15:04:05Z07:00",
		"yy/M/d h:m:s a":              "06/1/2 3:4:5 PM",
		"EEEE, dd MMMM yyyy":          "Monday, 02 January 2006",
		"HH 'o''clock'":               "15 o'clock",
		"''yyyy''":                    "'2006'",
		"ss,SSSSSSZ":                  "05Z0700",
	}
	for pattern, want := range tests {
		got, err := jodaLayout(pattern)
		if err != nil || got != want {
			t.Errorf("jodaLayout(%q) = %q, %v; want %q", pattern, got, err, want)
		}
	}
}
