package transform

import (
	"fmt"
	"slices"
	"sort"
)

// Factory builds a transform from its options: every key of the transform's
// config entry except "type". It rejects unknown options and bad values,
// naming the option, so that config errors point at the right key.
type Factory func(options map[string]any) (Transform, error)

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
func (r *Registry) New(name string, options map[string]any) (Transform, error) {
	f, ok := r.factories[name]
	if !ok {
		return nil, fmt.Errorf("unknown transform type %q (registered: %v)", name, r.Names())
	}
	return f(options)
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
	return r.Register("append_newline", NewAppendNewline)
}

// checkOptions rejects options outside allowed.
func checkOptions(options map[string]any, allowed ...string) error {
	for k := range options {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return fmt.Errorf("%s: unknown option (this transform takes none)", k)
			}
			return fmt.Errorf("%s: unknown option (valid: %v)", k, allowed)
		}
	}
	return nil
}
