package transform

import (
	"fmt"
	"log/slog"
	"sort"
)

// Env is what a transform may know of the delivery it runs in.
type Env struct {
	Delivery    string // the delivery's name
	DeliveryARN string // arn:aws:firehose:<region>:<account>:deliverystream/<name>
	Region      string
	Logger      *slog.Logger
	_           struct{}
}

// Factory builds a transform from its options: every key of the transform's
// config entry except "type". It rejects unknown options and bad values,
// naming the option (see Options), so that config errors point at the key.
// Expensive preparation (compiling a query) happens here, once.
type Factory func(env Env, options map[string]any) (Transform, error)

// Registry maps transform type names to factories. Build one in main, register
// the built-ins and your own, and hand it to the pipeline.
type Registry struct {
	factories map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{factories: make(map[string]Factory)} }

// Register adds a factory; registering a name twice is an error.
func (r *Registry) Register(name string, f Factory) error {
	if _, dup := r.factories[name]; dup {
		return fmt.Errorf("transform %q is already registered", name)
	}
	r.factories[name] = f
	return nil
}

// New builds a transform of type name.
func (r *Registry) New(name string, env Env, options map[string]any) (Transform, error) {
	f, ok := r.factories[name]
	if !ok {
		return nil, fmt.Errorf("unknown transform type %q (registered: %v)", name, r.Names())
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	return f(env, options)
}

// Names returns the registered type names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// RegisterBuiltins registers Hydrant's built-in transforms.
func RegisterBuiltins(r *Registry) error {
	for _, b := range []struct {
		name string
		f    Factory
	}{
		{"append_newline", NewAppendNewline},
		{"jq", NewJQ},
		{"partition", NewPartition},
		{"http", NewHTTP},
		{"decompress", NewDecompress},
		{"drop_fields", NewDropFields},
		{"add_fields", NewAddFields},
		{"kpl_deaggregate", NewKPLDeaggregate},
		{"split", NewSplit},
		{"cloudwatch_logs", NewCloudWatchLogs},
	} {
		if err := r.Register(b.name, b.f); err != nil {
			return err
		}
	}
	return nil
}
