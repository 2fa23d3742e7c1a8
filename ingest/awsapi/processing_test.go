package awsapi

import (
	"fmt"
	"strings"
	"testing"
)

func TestProcessing(t *testing.T) {
	deagg := func(params ...string) Processor {
		p := Processor{Type: "RecordDeAggregation"}
		for i := 0; i+1 < len(params); i += 2 {
			p.Parameters = append(p.Parameters, ProcessorParameter{ParameterName: params[i], ParameterValue: params[i+1]})
		}
		return p
	}
	tests := []struct {
		name string
		p    *Processing
		want string // the transforms, or the error's part
		err  bool
	}{
		{name: "none", p: nil, want: "[]"},
		{name: "disabled", p: &Processing{Processors: []Processor{deagg("SubRecordType", "JSON")}}, want: "[]"},
		{name: "JSON", p: &Processing{Enabled: true, Processors: []Processor{deagg("SubRecordType", "JSON")}},
			want: "[{kpl_deaggregate map[]} {split map[format:json]}]"},
		{name: "DELIMITED", p: &Processing{Enabled: true, Processors: []Processor{deagg("SubRecordType", "DELIMITED", "Delimiter", "IyMjIw==")}},
			want: "[{kpl_deaggregate map[]} {split map[delimiter:#### format:delimited]}]"},
		{name: "in Firehose's order", p: &Processing{Enabled: true, Processors: []Processor{{Type: "AppendDelimiterToRecord"},
			deagg("SubRecordType", "JSON"), {Type: "Decompression", Parameters: []ProcessorParameter{{"CompressionFormat", "GZIP"}}}}},
			want: "[{decompress map[format:gzip]} {kpl_deaggregate map[]} {split map[format:json]} {append_newline map[]}]"},
		{name: "no SubRecordType", p: &Processing{Enabled: true, Processors: []Processor{deagg()}}, err: true, want: "SubRecordType must be JSON or DELIMITED"},
		{name: "DELIMITED without Delimiter", p: &Processing{Processors: []Processor{deagg("SubRecordType", "DELIMITED")}}, err: true, want: "needs a Delimiter"},
		{name: "Delimiter not base64", p: &Processing{Processors: []Processor{deagg("SubRecordType", "DELIMITED", "Delimiter", "###")}}, err: true, want: "base64"},
		{name: "Delimiter with JSON", p: &Processing{Processors: []Processor{deagg("SubRecordType", "JSON", "Delimiter", "IyMjIw==")}}, err: true, want: "only for SubRecordType DELIMITED"},
		{name: "unknown parameter", p: &Processing{Processors: []Processor{deagg("SubRecordType", "JSON", "LambdaArn", "x")}}, err: true, want: "has no parameter LambdaArn"},
		{name: "parameter twice", p: &Processing{Processors: []Processor{deagg("SubRecordType", "JSON", "SubRecordType", "JSON")}}, err: true, want: "given twice"},
		{name: "processor twice", p: &Processing{Processors: []Processor{deagg("SubRecordType", "JSON"), deagg("SubRecordType", "JSON")}}, err: true, want: "given twice"},
		{name: "Lambda", p: &Processing{Processors: []Processor{{Type: "Lambda"}}}, err: true, want: "Processor type Lambda is not supported"},
		{name: "CloudWatch Logs message extraction", p: &Processing{Enabled: true, Processors: []Processor{{Type: "AppendDelimiterToRecord"},
			{Type: "CloudWatchLogProcessing", Parameters: []ProcessorParameter{{"DataMessageExtraction", "true"}}}, {Type: "Decompression", Parameters: []ProcessorParameter{{"CompressionFormat", "GZIP"}}}}},
			want: "[{cloudwatch_logs map[extract:message]} {append_newline map[]}]"},
		{name: "CloudWatch Logs without message extraction", p: &Processing{Enabled: true, Processors: []Processor{
			{Type: "Decompression", Parameters: []ProcessorParameter{{"CompressionFormat", "GZIP"}}}, {Type: "CloudWatchLogProcessing", Parameters: []ProcessorParameter{{"DataMessageExtraction", "false"}}}}},
			want: "[{decompress map[format:gzip]}]"},
		{name: "CloudWatchLogProcessing without Decompression", p: &Processing{Processors: []Processor{{Type: "CloudWatchLogProcessing", Parameters: []ProcessorParameter{{"DataMessageExtraction", "true"}}}}},
			err: true, want: "needs a Decompression processor"},
		{name: "DataMessageExtraction not a boolean", p: &Processing{Processors: []Processor{{Type: "Decompression", Parameters: []ProcessorParameter{{"CompressionFormat", "GZIP"}}},
			{Type: "CloudWatchLogProcessing", Parameters: []ProcessorParameter{{"DataMessageExtraction", "yes"}}}}},
			err: true, want: "DataMessageExtraction must be true or false"},
		{name: "Decompression of ZSTD", p: &Processing{Processors: []Processor{{Type: "Decompression", Parameters: []ProcessorParameter{{"CompressionFormat", "ZSTD"}}}}},
			err: true, want: "CompressionFormat must be GZIP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			aerr := checkProcessing(tt.p)
			if tt.err {
				if aerr == nil || aerr.typ != "InvalidArgumentException" || !strings.Contains(aerr.message, tt.want) {
					t.Fatalf("error %+v, want InvalidArgumentException saying %q", aerr, tt.want)
				}
				return
			}
			if aerr != nil {
				t.Fatal(aerr)
			}
			if got := fmt.Sprint(tt.p.Transforms()); got != tt.want {
				t.Errorf("transforms %s, want %s", got, tt.want)
			}
		})
	}
}
