package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		args     []string
		wantCode int
		wantOut  string // substring of stdout
		wantErr  []string
	}{
		"quickstart is valid": {
			args: []string{"validate", "-c", "../../examples/quickstart.yaml"}, wantCode: 0,
			wantOut: "OK (1 streams, 1 deliveries)",
		},
		"compose pipeline is valid": {
			args: []string{"validate", "-c", "../../compose/hydrant.yaml"}, wantCode: 0, wantOut: "OK",
		},
		"three mistakes, all reported with lines and paths": {
			args: []string{"validate", "-c", "testdata/three-mistakes.yaml"}, wantCode: 2,
			wantErr: []string{
				"three-mistakes.yaml:4: storage.fsync: must be one of always, interval",
				"three-mistakes.yaml:7: deliveries[0].buffer.size: must be between 1MiB and 128MiB",
				`three-mistakes.yaml:9: deliveries[0].transforms[0]: unknown transform type "append_newlines"`,
			},
		},
		"prefix expressions are checked": {
			args: []string{"validate", "-c", "testdata/bad-prefix.yaml"}, wantCode: 2,
			wantErr: []string{
				`bad-prefix.yaml:6: deliveries[0].destination.file.prefix: unterminated expression`,
				`bad-prefix.yaml:7: deliveries[0].destination.file.error_prefix: expression !{partitionKeyFromQuery:customer}: not allowed in error_prefix`,
			},
		},
		"partitioned prefix needs a typed error prefix": {
			args: []string{"validate", "-c", "testdata/partition-needs-error-type.yaml"}, wantCode: 2,
			wantErr: []string{`partition-needs-error-type.yaml:7: deliveries[0].destination.file.error_prefix: must contain !{firehose:error-output-type} when prefix uses partition keys`},
		},
		"missing file":    {args: []string{"validate", "-c", "testdata/nope.yaml"}, wantCode: 2, wantErr: []string{"nope.yaml"}},
		"unknown command": {args: []string{"frobnicate"}, wantCode: 2, wantErr: []string{`unknown command "frobnicate"`}},
		"help":            {args: []string{"--help"}, wantCode: 0, wantOut: "Usage: hydrant"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tt.wantOut)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr does not contain %q:\n%s", want, stderr.String())
				}
			}
		})
	}
}
