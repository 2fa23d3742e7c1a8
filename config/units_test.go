package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    Size
		wantErr string
	}{
		"mebibytes":          {in: "5MiB", want: 5 * MiB},
		"kibibytes":          {in: "1000KiB", want: 1000 * KiB},
		"gibibytes":          {in: "1GiB", want: GiB},
		"tebibytes":          {in: "2TiB", want: 2 * TiB},
		"decimal kilobytes":  {in: "512KB", want: 512_000},
		"decimal megabytes":  {in: "1MB", want: 1_000_000},
		"decimal gigabytes":  {in: "1GB", want: 1_000_000_000},
		"bytes":              {in: "100B", want: 100},
		"plain integer":      {in: "1048576", want: MiB},
		"zero":               {in: "0", want: 0},
		"lower case unit":    {in: "5mib", want: 5 * MiB},
		"space before unit":  {in: "5 MiB", want: 5 * MiB},
		"fraction":           {in: "1.5MiB", want: MiB + MiB/2},
		"decimal fraction":   {in: "0.3KB", want: 300},
		"fraction of a byte": {in: "0.5B", wantErr: "not a whole number of bytes"},
		"unknown unit":       {in: "5XB", wantErr: `unknown unit "XB"`},
		"ambiguous unit":     {in: "5M", wantErr: `unknown unit "M"`},
		"negative":           {in: "-1MiB", wantErr: "non-negative number"},
		"empty":              {in: "", wantErr: "non-negative number"},
		"no number":          {in: "MiB", wantErr: "non-negative number"},
		"two dots":           {in: "1.2.3MiB", wantErr: "is not a number"},
		"too large":          {in: "9000000TiB", wantErr: "too large"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSize(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSizeString(t *testing.T) {
	tests := map[string]struct {
		in   Size
		want string
	}{
		"zero":           {0, "0B"},
		"bytes":          {100, "100B"},
		"not a multiple": {1500, "1500B"},
		"kibibytes":      {1000 * KiB, "1000KiB"},
		"mebibytes":      {5 * MiB, "5MiB"},
		"gibibytes":      {GiB, "1GiB"},
		"tebibytes":      {3 * TiB, "3TiB"},
		"decimal input":  {512 * KB, "500KiB"},
		"mixed":          {MiB + MiB/2, "1536KiB"},
		"negative":       {-2 * MiB, "-2MiB"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Fatalf("Size(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
			}
			back, err := ParseSize(tt.want)
			if tt.in >= 0 && (err != nil || back != tt.in) {
				t.Fatalf("ParseSize(%q) = %d, %v; want round trip to %d", tt.want, back, err, tt.in)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		"seconds":           {in: "60s", want: time.Minute},
		"hours and mins":    {in: "1h30m", want: 90 * time.Minute},
		"milliseconds":      {in: "100ms", want: 100 * time.Millisecond},
		"plain integer":     {in: "300", want: 300 * time.Second},
		"zero":              {in: "0", want: 0},
		"negative":          {in: "-5s", want: -5 * time.Second},
		"surrounding blank": {in: " 5m ", want: 5 * time.Minute},
		"fraction":          {in: "1.5h", want: 90 * time.Minute},
		"no unit fraction":  {in: "1.5", wantErr: "whole number of seconds"},
		"days":              {in: "1d", wantErr: `invalid duration "1d"`},
		"word":              {in: "soon", wantErr: `invalid duration "soon"`},
		"empty":             {in: "", wantErr: "invalid duration"},
		"too large":         {in: "9223372036854775807", wantErr: "too large"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Std() != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestDurationString(t *testing.T) {
	tests := map[string]struct {
		in   time.Duration
		want string
	}{
		"zero":          {0, "0s"},
		"milliseconds":  {100 * time.Millisecond, "100ms"},
		"seconds":       {45 * time.Second, "45s"},
		"one minute":    {time.Minute, "1m"},
		"minutes+secs":  {90 * time.Second, "1m30s"},
		"hours":         {24 * time.Hour, "24h"},
		"hours+minutes": {90 * time.Minute, "1h30m"},
		"h, m and s":    {time.Hour + time.Second, "1h0m1s"},
		"a year":        {8760 * time.Hour, "8760h"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Duration(tt.in).String(); got != tt.want {
				t.Fatalf("Duration(%v).String() = %q, want %q", tt.in, got, tt.want)
			}
			back, err := ParseDuration(tt.want)
			if err != nil || back.Std() != tt.in {
				t.Fatalf("ParseDuration(%q) = %v, %v; want round trip to %v", tt.want, back, err, tt.in)
			}
		})
	}
}
