package config

import (
	"strings"
	"testing"
)

func TestInterpolate(t *testing.T) {
	env := map[string]string{
		"BUCKET": "events",
		"EMPTY":  "",
		"PORT":   "4545",
		"MULTI":  "a\nb",
		"ÜBER":   "x",
	}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	tests := map[string]struct {
		in      string
		want    string
		errLine int    // 0: no error expected
		errCol  int    //
		errMsg  string // substring
	}{
		"set":                     {in: "bucket: ${BUCKET}", want: "bucket: events"},
		"set, default unused":     {in: "bucket: ${BUCKET:-other}", want: "bucket: events"},
		"unset with default":      {in: "region: ${REGION:-us-east-1}", want: "region: us-east-1"},
		"empty with default":      {in: "region: ${EMPTY:-us-east-1}", want: "region: us-east-1"},
		"empty default":           {in: "region: ${REGION:-}", want: "region: "},
		"default with colon":      {in: "url: ${URL:-http://h:9000}", want: "url: http://h:9000"},
		"set but empty":           {in: "region: ${EMPTY}", want: "region: "},
		"two on a line":           {in: "listen: ${HOST:-0.0.0.0}:${PORT}", want: "listen: 0.0.0.0:4545"},
		"dollar dollar":           {in: "prefix: cost-$$5", want: "prefix: cost-$5"},
		"dollar dollar brace":     {in: "prefix: $${BUCKET}", want: "prefix: ${BUCKET}"},
		"lone dollar kept":        {in: "dir: $HOME/x $", want: "dir: $HOME/x $"},
		"comment line left alone": {in: "  # ${UNSET} $$\nkey: 1", want: "  # ${UNSET} $$\nkey: 1"},
		"lines keep their number": {in: "a: 1\nb: ${BUCKET}\nc: ${REGION:-x}\n", want: "a: 1\nb: events\nc: x\n"},
		"unset without default": {
			in: "a: 1\nbucket: ${NOPE}", want: "a: 1\nbucket: ",
			errLine: 2, errCol: 9, errMsg: "environment variable NOPE is not set",
		},
		"invalid name": {
			in: "bucket: ${1X}", want: "bucket: ",
			errLine: 1, errCol: 9, errMsg: `invalid environment variable name "1X"`,
		},
		"empty name": {
			in: "bucket: ${:-x}", want: "bucket: ",
			errLine: 1, errCol: 9, errMsg: `invalid environment variable name ""`,
		},
		"unterminated": {
			in: "a: 1\nb: x ${BUCKET\nc: }", want: "a: 1\nb: x ${BUCKET\nc: }",
			errLine: 2, errCol: 6, errMsg: `unterminated "${"`,
		},
		"line break in value": {
			in: "a: ${MULTI}", want: "a: ",
			errLine: 1, errCol: 4, errMsg: "contains a line break",
		},
		"column counts runes": {
			in: "ü: ö ${NOPE}", want: "ü: ö ",
			errLine: 1, errCol: 6, errMsg: "NOPE is not set",
		},
		"non-ascii name": {
			in: "a: ${ÜBER}", want: "a: ",
			errLine: 1, errCol: 4, errMsg: "invalid environment variable name",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, _, errs := interpolate([]byte(tt.in), lookup)
			if string(got) != tt.want {
				t.Errorf("text = %q, want %q", got, tt.want)
			}
			if tt.errLine == 0 {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("got %d errors %v, want 1", len(errs), errs)
			}
			e := errs[0]
			if e.Line != tt.errLine || e.Column != tt.errCol || !strings.Contains(e.Message, tt.errMsg) {
				t.Fatalf("error = line %d col %d %q; want line %d col %d containing %q",
					e.Line, e.Column, e.Message, tt.errLine, tt.errCol, tt.errMsg)
			}
		})
	}
}

// TestInterpolateColumns checks that columns of the interpolated text map
// back to the columns the user wrote.
func TestInterpolateColumns(t *testing.T) {
	lookup := func(name string) (string, bool) { return map[string]string{"LONG": "0123456789"}[name], name == "LONG" }
	//      in:  "a: ${LONG}, b: ${X:-1}, c: $$"
	//      out: "a: 0123456789, b: 1, c: $"
	_, cols, errs := interpolate([]byte("x\na: ${LONG}, b: ${X:-1}, c: $$"), lookup)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	tests := map[string]struct{ out, in int }{
		"before any substitution":  {out: 1, in: 1},
		"start of first value":     {out: 4, in: 4},
		"inside first value":       {out: 9, in: 4},
		"key after first value":    {out: 16, in: 13},
		"inside second value":      {out: 19, in: 16},
		"key after second value":   {out: 22, in: 25},
		"the literal dollar":       {out: 25, in: 28},
		"past the end of the line": {out: 26, in: 30},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := cols.original(2, tt.out); got != tt.in {
				t.Fatalf("original(2, %d) = %d, want %d", tt.out, got, tt.in)
			}
		})
	}
	if got := cols.original(1, 7); got != 7 {
		t.Fatalf("line without substitutions: original(1, 7) = %d, want 7", got)
	}
}
