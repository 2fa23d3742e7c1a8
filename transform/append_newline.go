package transform

import "github.com/hydrant-dev/hydrant/buffer"

// NewAppendNewline builds append_newline, Firehose's AppendDelimiterToRecord
// processor: it appends "\n" to every record. It takes no options.
func NewAppendNewline(_ Env, options map[string]any) (Transform, error) {
	if err := NewOptions(options).Err(); err != nil {
		return nil, err
	}
	return Func(func(r buffer.Record) Output {
		data := make([]byte, len(r.Data)+1)
		copy(data, r.Data)
		data[len(r.Data)] = '\n'
		return Output{Result: Ok, Data: data}
	}), nil
}
