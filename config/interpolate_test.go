package config

import (
	"strings"
	"testing"
)

func TestInterpolateString(t *testing.T) {
	env := map[string]string{"BUCKET": "events", "EMPTY": "", "PORT": "4545", "ÜBER": "x"}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	tests := map[string]struct {
		in     string
		want   string
		errMsg string // substring; empty: no error expected
	}{
		"set":                 {in: "${BUCKET}", want: "events"},
		"set, default unused": {in: "${BUCKET:-other}", want: "events"},
		"unset with default":  {in: "${REGION:-us-east-1}", want: "us-east-1"},
		"empty with default":  {in: "${EMPTY:-us-east-1}", want: "us-east-1"},
		"empty default":       {in: "${REGION:-}", want: ""},
		"default with colon":  {in: "${URL:-http://h:9000}", want: "http://h:9000"},
		"set but empty":       {in: "${EMPTY}", want: ""},
		"two in a value":      {in: "${HOST:-0.0.0.0}:${PORT}", want: "0.0.0.0:4545"},
		"dollar dollar":       {in: "cost-$$5", want: "cost-$5"},
		"dollar dollar brace": {in: "$${BUCKET}", want: "${BUCKET}"},
		"lone dollar kept":    {in: "$HOME/x $", want: "$HOME/x $"},
		"unset without default": {in: "a ${NOPE}", want: "a ",
			errMsg: "environment variable NOPE is not set"},
		"invalid name":   {in: "${1X}", errMsg: `invalid environment variable name "1X"`},
		"empty name":     {in: "${:-x}", errMsg: `invalid environment variable name ""`},
		"unterminated":   {in: "x ${BUCKET", want: "x ${BUCKET", errMsg: `unterminated "${"`},
		"non-ascii name": {in: "${ÜBER}", errMsg: "invalid environment variable name"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, errs := interpolateString(tt.in, lookup)
			if got != tt.want {
				t.Errorf("value = %q, want %q", got, tt.want)
			}
			if tt.errMsg == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[0].Message, tt.errMsg) {
				t.Fatalf("errors = %v, want one containing %q", errs, tt.errMsg)
			}
		})
	}
}

// Values are substituted after parsing, so what a variable holds can never
// change the structure of the file, and plain values are typed afterwards.
func TestInterpolationKeepsStructure(t *testing.T) {
	env := map[string]string{
		"SECRET": "abc #def: *ghi\n-----END-----",
		"SHARDS": "3",
		"NAME":   "clicks",
	}
	lookup := func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	yamlText := `# a comment naming ${UNSET} is not interpolated
streams:
  - name: ${NAME}
    shards: ${SHARDS}
deliveries:
  - name: d
    destination:
      s3:
        endpoint: http://127.0.0.1:9000
        bucket: lake
        access_key_id: id
        secret_access_key: ${SECRET}
        prefix: "${NAME}/"
`
	cfg, err := ParseWithEnv("t.yaml", []byte(yamlText), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Deliveries[0].Destination.S3.SecretAccessKey; got != env["SECRET"] {
		t.Errorf("secret = %q, want it whole", got)
	}
	if cfg.Streams[0].Name != "clicks" || cfg.Streams[0].Shards != 3 || cfg.Deliveries[0].Destination.S3.Prefix != "clicks/" {
		t.Errorf("stream = %+v, prefix %q", cfg.Streams[0], cfg.Deliveries[0].Destination.S3.Prefix)
	}

	// A quoted value stays a string: a string where a number belongs is an error.
	_, err = ParseWithEnv("t.yaml", []byte("streams:\n  - name: x\n    shards: \"${SHARDS}\"\n"), lookup)
	if err == nil || !strings.Contains(err.Error(), "t.yaml:3: streams[0].shards: must be") {
		t.Errorf("quoted number: err = %v", err)
	}
}
