package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hydrant-dev/hydrant/config"
)

// TestParquetFormatTimestampFormats checks that parquet.timestamp_formats
// reach the timestamp and date columns, and that a bad entry is an error
// naming the list.
func TestParquetFormatTimestampFormats(t *testing.T) {
	pc := &config.ParquetConfig{
		Compression:      "snappy",
		TimestampFormats: []string{"epoch_millis"},
		Schema: []config.ParquetColumnConfig{
			{Name: "ts", Type: "timestamp_millis"},
			{Name: "day", Type: "date", Path: "/ts"},
			{Name: "name", Type: "string"},
		},
	}
	f, err := parquetFormat(pc)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	failed, err := f.Schema.Encode(&buf, [][]byte{[]byte(`{"ts":1709642096789,"name":"a"}`)}, f.Options)
	if err != nil || len(failed) != 0 {
		t.Fatalf("epoch milliseconds refused: %v %v", err, failed)
	}

	pc.TimestampFormats = []string{"epoch_seconds", "yyyy-QQ"}
	_, err = parquetFormat(pc)
	if err == nil || !strings.HasPrefix(err.Error(), `parquet.timestamp_formats[1] "yyyy-QQ": pattern letter "Q"`) {
		t.Fatalf("err %v, want parquet.timestamp_formats[1] ...", err)
	}
}
