package transform_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/transform"
)

// A Go program that embeds Hydrant adds its own transform types next to the
// built-ins: a factory checks the options and returns a Transform.
func ExampleRegistry() {
	reg := transform.NewRegistry()
	if err := transform.RegisterBuiltins(reg); err != nil {
		fmt.Println(err)
		return
	}
	upper := func(_ transform.Env, options map[string]any) (transform.Transform, error) {
		if err := transform.NewOptions(options).Err(); err != nil { // takes no options
			return nil, err
		}
		return transform.Func(func(r buffer.Record) transform.Output {
			return transform.Output{Result: transform.Ok, Data: bytes.ToUpper(r.Data)}
		}), nil
	}
	if err := reg.Register("upper", upper); err != nil {
		fmt.Println(err)
		return
	}

	// What the pipeline does for a delivery whose config has "- type: upper".
	tr, err := reg.New("upper", transform.Env{Delivery: "d"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := tr.Process(context.Background(), []buffer.Record{
		{Data: []byte(`{"msg":"hello"}`)},
		{Data: []byte(`{"msg":"world"}`)},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range out {
		fmt.Println(o.Result, string(o.Data))
	}
	_, err = reg.New("upper", transform.Env{Delivery: "d"}, map[string]any{"shout": true})
	fmt.Println(err)
	// Output:
	// Ok {"MSG":"HELLO"}
	// Ok {"MSG":"WORLD"}
	// shout: unknown option (this transform takes none)
}
