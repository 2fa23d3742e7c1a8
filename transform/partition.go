package transform

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/itchyny/gojq"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/internal/partitionkey"
)

const codePartitionKeyError = "Transform.PartitionKeyError"

// NewPartition builds partition, Firehose's MetadataExtraction processor:
// a jq query run on each JSON record must yield an object whose members
// become the record's partition keys, for !{partitionKeyFromQuery:name} in
// a destination's prefix. The record's data is left as it is.
//
//	transforms:
//	  - type: partition
//	    query: '{customer: .customer_id, year: (.ts | strftime("%Y"))}'
//
// String values are taken as they are; numbers and booleans as their JSON
// text (numbers in canonical form, so 1.0 and 1 name the same partition).
// The record fails (Transform.PartitionKeyError, with a message naming the
// key) when it is not JSON, or the query yields an error, no output,
// something other than a non-empty object, or a key whose value is null, an
// object or an array, or that could not be one path segment: longer than
// 255 bytes, holding '/' or '\\', "." or "..", holding a control character,
// or not UTF-8. As in Firehose, failed records go to the error output.
func NewPartition(_ Env, options map[string]any) (Transform, error) {
	o := NewOptions(options)
	code := jqOption(o, "query")
	timeout := jqTimeout(o)
	if err := o.Err(); err != nil {
		return nil, err
	}
	return BatchFunc(func(ctx context.Context, recs []buffer.Record) ([]Output, error) {
		out := make([]Output, len(recs))
		for i, r := range recs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			v, failed, err := runFirst(ctx, code, r.Data, timeout)
			switch {
			case err != nil:
				return nil, err
			case failed != nil:
				failed.ErrorCode = codePartitionKeyError // not JSON, or a jq error
				out[i] = *failed
			default:
				out[i] = partitionOutput(v, r.Data)
			}
		}
		return out, nil
	}), nil
}

// partitionOutput turns the query's result into partition keys.
func partitionOutput(v any, data []byte) Output {
	obj, isObject := v.(map[string]any)
	if !isObject {
		if v == nil {
			return failedOutput(codePartitionKeyError, "the query produced no object (null or no output)")
		}
		return failedOutput(codePartitionKeyError, fmt.Sprintf("the query must produce an object, got %s", jqKind(v)))
	}
	if len(obj) == 0 {
		return failedOutput(codePartitionKeyError, "the query produced an empty object: no partition keys")
	}
	keys := make(map[string]string, len(obj))
	var badKey, problem string // the smallest failing key, so the message does not depend on map order
	for k, val := range obj {
		s, msg := partitionValue(val)
		if msg == "" {
			msg = partitionkey.Unsafe(s)
		}
		if msg != "" {
			if problem == "" || k < badKey {
				badKey, problem = k, msg
			}
			continue
		}
		keys[k] = s
	}
	if problem != "" {
		return failedOutput(codePartitionKeyError, fmt.Sprintf("partition key %q %s", badKey, problem))
	}
	return Output{Result: Ok, Data: data, PartitionKeys: keys}
}

// checkPartitionKeys fails an output whose partition keys (set by a
// transform such as http's Lambda metadata) hold a value
// partitionkey.Unsafe refuses.
func checkPartitionKeys(o Output, code string) Output {
	for _, k := range slices.Sorted(maps.Keys(o.PartitionKeys)) {
		if msg := partitionkey.Unsafe(o.PartitionKeys[k]); msg != "" {
			return failedOutput(code, fmt.Sprintf("partition key %q %s", k, msg))
		}
	}
	return o
}

// partitionValue formats one key's value, or says why it cannot be a key.
func partitionValue(v any) (string, string) {
	switch x := v.(type) {
	case string:
		return x, ""
	case bool:
		return strconv.FormatBool(x), ""
	case nil:
		return "", "is null or missing"
	case map[string]any, []any:
		return "", fmt.Sprintf("is %s; it must be a string, number or boolean", jqKind(v))
	case json.Number:
		return formatNumber(canonicalNumber(x)), ""
	case int, float64, *big.Int:
		return formatNumber(x), ""
	}
	return "", fmt.Sprintf("has an unexpected value of type %T", v)
}

// canonicalNumber reads a number as jq reads its input, so that 1.0, 1 and
// 1e0 give the same key: an int when it fits, a *big.Int for a longer
// integer (exact, where jq 1.6 would round it), else a float64.
func canonicalNumber(n json.Number) any {
	if i, err := n.Int64(); err == nil && math.MinInt <= i && i <= math.MaxInt {
		return int(i)
	}
	if s := n.String(); !strings.ContainsAny(s, ".eE") {
		if b, ok := new(big.Int).SetString(s, 10); ok {
			return b
		}
	}
	f, _ := n.Float64() // out of range: ±Inf, which jq writes as ±MaxFloat64
	return f
}

// formatNumber writes a number as jq does.
func formatNumber(v any) string {
	b, err := gojq.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// jqKind names a value's jq type, with its article, for messages.
func jqKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "a number"
}
