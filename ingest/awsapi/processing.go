package awsapi

import (
	"encoding/base64"
	"slices"
	"strings"
)

// Processing is a delivery stream's ProcessingConfiguration, as
// CreateDeliveryStream takes it and DescribeDeliveryStream shows it back.
type Processing struct {
	Enabled    bool        `json:"Enabled"`
	Processors []Processor `json:"Processors"`
}

// Processor is one data processor of a ProcessingConfiguration.
type Processor struct {
	Type       string               `json:"Type"`
	Parameters []ProcessorParameter `json:"Parameters,omitempty"`
}

// ProcessorParameter is one parameter of a Processor.
type ProcessorParameter struct {
	ParameterName  string `json:"ParameterName"`
	ParameterValue string `json:"ParameterValue"`
}

// Transform is one step of the transform chain a Processing stands for:
// a transform type of Hydrant's registry and its options, as a delivery's
// transforms in the config file name them.
type Transform struct {
	Type    string
	Options map[string]any
}

// The processor types a delivery stream created through the API may have,
// in the order they run, whatever their order in the request (as in
// Firehose: records are decompressed, then de-aggregated, then delimited).
var processorOrder = []string{"Decompression", "CloudWatchLogProcessing", "RecordDeAggregation", "AppendDelimiterToRecord"}

// Transforms returns the transform chain p runs: none when p is nil or not
// Enabled. RecordDeAggregation de-aggregates KPL records (kpl_deaggregate:
// what Firehose does to a Kinesis source's KPL records, and a record
// without the KPL's magic passes through), then splits each record into
// JSON objects or at its Delimiter (split); Decompression is decompress,
// or with CloudWatchLogProcessing's DataMessageExtraction true
// cloudwatch_logs with extract: message (each log event's message on a
// line, control messages dropped), as Firehose extracts them;
// AppendDelimiterToRecord is append_newline. p must have passed
// checkProcessing.
func (p *Processing) Transforms() []Transform {
	if p == nil || !p.Enabled {
		return nil
	}
	var out []Transform
	for _, typ := range processorOrder {
		for _, pr := range p.Processors {
			if pr.Type != typ {
				continue
			}
			switch typ {
			case "Decompression":
				if p.extractsMessages() {
					out = append(out, Transform{Type: "cloudwatch_logs", Options: map[string]any{"extract": "message"}})
					break
				}
				out = append(out, Transform{Type: "decompress", Options: map[string]any{"format": "gzip"}})
			case "RecordDeAggregation":
				split := map[string]any{"format": "json"}
				if pr.param("SubRecordType") == "DELIMITED" {
					delim, _ := base64.StdEncoding.DecodeString(pr.param("Delimiter"))
					split = map[string]any{"format": "delimited", "delimiter": string(delim)}
				}
				out = append(out, Transform{Type: "kpl_deaggregate", Options: map[string]any{}}, Transform{Type: "split", Options: split})
			case "AppendDelimiterToRecord":
				out = append(out, Transform{Type: "append_newline", Options: map[string]any{}})
			}
		}
	}
	return out
}

// extractsMessages says whether p has a CloudWatchLogProcessing processor
// with DataMessageExtraction true.
func (p *Processing) extractsMessages() bool {
	for _, pr := range p.Processors {
		if pr.Type == "CloudWatchLogProcessing" && strings.EqualFold(pr.param("DataMessageExtraction"), "true") {
			return true
		}
	}
	return false
}

func (p Processor) param(name string) string {
	for _, pp := range p.Parameters {
		if pp.ParameterName == name {
			return pp.ParameterValue
		}
	}
	return ""
}

// checkProcessing refuses a ProcessingConfiguration Hydrant cannot run
// for a delivery stream created through the API, naming what it can.
func checkProcessing(p *Processing) *apiError {
	if p == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, pr := range p.Processors {
		if !slices.Contains(processorOrder, pr.Type) {
			return errInvalidArgument("Processor type %s is not supported for a delivery stream created through the API (supported: %v); declare the delivery in the config file with transforms instead", pr.Type, processorOrder)
		}
		if seen[pr.Type] {
			return errInvalidArgument("Processor type %s is given twice", pr.Type)
		}
		seen[pr.Type] = true
		allowed := map[string][]string{"Decompression": {"CompressionFormat"}, "RecordDeAggregation": {"SubRecordType", "Delimiter"},
			"CloudWatchLogProcessing": {"DataMessageExtraction"}}[pr.Type]
		names := map[string]bool{}
		for _, pp := range pr.Parameters {
			if !slices.Contains(allowed, pp.ParameterName) {
				return errInvalidArgument("Processor %s has no parameter %s (it takes %v)", pr.Type, pp.ParameterName, allowed)
			}
			if names[pp.ParameterName] {
				return errInvalidArgument("Processor %s: parameter %s is given twice", pr.Type, pp.ParameterName)
			}
			names[pp.ParameterName] = true
		}
		if aerr := checkProcessor(pr); aerr != nil {
			return aerr
		}
	}
	if seen["CloudWatchLogProcessing"] && !seen["Decompression"] {
		return errInvalidArgument("CloudWatchLogProcessing extracts messages from decompressed CloudWatch Logs: it needs a Decompression processor too")
	}
	return nil
}

// checkProcessor checks one processor's parameters' values.
func checkProcessor(pr Processor) *apiError {
	switch pr.Type {
	case "Decompression":
		if f := pr.param("CompressionFormat"); f != "GZIP" {
			return errInvalidArgument("Decompression: CompressionFormat must be GZIP, not %q", f)
		}
	case "CloudWatchLogProcessing":
		if v := pr.param("DataMessageExtraction"); !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return errInvalidArgument("CloudWatchLogProcessing: DataMessageExtraction must be true or false, not %q", v)
		}
	case "RecordDeAggregation":
		switch t, d := pr.param("SubRecordType"), pr.param("Delimiter"); t {
		case "JSON":
			if d != "" {
				return errInvalidArgument("RecordDeAggregation: Delimiter is only for SubRecordType DELIMITED")
			}
		case "DELIMITED":
			if delim, err := base64.StdEncoding.DecodeString(d); err != nil || len(delim) == 0 {
				return errInvalidArgument("RecordDeAggregation: SubRecordType DELIMITED needs a Delimiter, base64-encoded (IyMjIw== for ####)")
			}
		default:
			return errInvalidArgument("RecordDeAggregation: SubRecordType must be JSON or DELIMITED, not %q", t)
		}
	}
	return nil
}
