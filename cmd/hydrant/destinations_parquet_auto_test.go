package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hydrant-dev/hydrant/config"
)

// TestParquetFormatAuto checks that schema: auto builds an inferring format
// whose timestamp columns read parquet.timestamp_formats, and that a bad
// entry is an error naming the list.
func TestParquetFormatAuto(t *testing.T) {
	tests := []struct {
		name    string
		formats []string
		err     string
	}{
		{name: "default forms"},
		{name: "a pattern", formats: []string{"dd/MM/yyyy HH:mm"}},
		{name: "a bad pattern", formats: []string{"yyyy-QQ"}, err: `parquet.timestamp_formats[0] "yyyy-QQ"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parquetFormat(&config.ParquetConfig{SchemaAuto: true, Compression: "zstd", TimestampFormats: tt.formats})
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("err %v, want %s...", err, tt.err)
				}
				return
			}
			if err != nil || f.Auto == nil || f.Schema != nil || f.Options.Compression != "zstd" {
				t.Fatalf("format %+v, err %v", f, err)
			}
			rec := `{"at":"2024-03-05T12:34:56Z"}`
			if tt.formats != nil {
				rec = `{"at":"05/03/2024 12:34"}`
			}
			cols, failed := f.Auto.Infer([][]byte{[]byte(rec)})
			if failed != nil || len(cols) != 1 || cols[0].Type != "timestamp_millis" {
				t.Fatalf("columns %+v, failed %v", cols, failed)
			}
			var buf bytes.Buffer
			if failed, err := f.Auto.Encode(&buf, [][]byte{[]byte(rec)}, f.Options); err != nil || failed != nil {
				t.Fatalf("Encode: %v %v", failed, err)
			}
		})
	}
}
