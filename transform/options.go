package transform

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hydrant-dev/hydrant/config"
)

// Options reads a transform's options (its config entry less "type") with
// types and defaults, collecting every problem; Err reports them all, and
// names options that no getter asked for as unknown.
//
//	o := transform.NewOptions(options)
//	query := o.String("query", "")   // "" default: required if you check it
//	timeout := o.Duration("timeout", 3*time.Second)
//	if err := o.Err(); err != nil { return nil, err }
type Options struct {
	raw  map[string]any
	used []string
	errs []string
}

// NewOptions wraps raw options.
func NewOptions(raw map[string]any) *Options { return &Options{raw: raw} }

func (o *Options) get(name string) (any, bool) {
	o.used = append(o.used, name)
	v, ok := o.raw[name]
	return v, ok && v != nil
}

func (o *Options) fail(name, format string, args ...any) {
	o.errs = append(o.errs, name+": "+fmt.Sprintf(format, args...))
}

// Required records an error when name is absent.
func (o *Options) Required(name string) {
	if _, ok := o.raw[name]; !ok {
		o.fail(name, "required")
	}
}

// String returns a string option.
func (o *Options) String(name, def string) string {
	v, ok := o.get(name)
	if !ok {
		return def
	}
	s, isString := v.(string)
	if !isString {
		o.fail(name, "must be a string, got %T", v)
		return def
	}
	return s
}

// Int returns an integer option.
func (o *Options) Int(name string, def int) int {
	v, ok := o.get(name)
	if !ok {
		return def
	}
	n, isInt := v.(int)
	if !isInt {
		o.fail(name, "must be an integer, got %v", v)
		return def
	}
	return n
}

// Bool returns a boolean option.
func (o *Options) Bool(name string, def bool) bool {
	v, ok := o.get(name)
	if !ok {
		return def
	}
	b, isBool := v.(bool)
	if !isBool {
		o.fail(name, "must be true or false, got %v", v)
		return def
	}
	return b
}

// Size returns a size option written like 1MiB or as a number of bytes.
func (o *Options) Size(name string, def int) int {
	v, ok := o.get(name)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case int:
		return x
	case string:
		s, err := config.ParseSize(x)
		if err != nil {
			o.fail(name, "%v", err)
			return def
		}
		return int(s)
	}
	o.fail(name, "must be a size such as 1MiB, got %v", v)
	return def
}

// Duration returns a duration option written like 3s or as seconds.
func (o *Options) Duration(name string, def time.Duration) time.Duration {
	v, ok := o.get(name)
	if !ok {
		return def
	}
	switch x := v.(type) {
	case int:
		return time.Duration(x) * time.Second
	case string:
		d, err := config.ParseDuration(x)
		if err != nil {
			o.fail(name, "%v", err)
			return def
		}
		return d.Std()
	}
	o.fail(name, "must be a duration such as 3s, got %v", v)
	return def
}

// Strings returns a list of strings.
func (o *Options) Strings(name string) []string {
	v, ok := o.get(name)
	if !ok {
		return nil
	}
	list, isList := v.([]any)
	if !isList {
		o.fail(name, "must be a list of strings, got %v", v)
		return nil
	}
	out := make([]string, 0, len(list))
	for i, e := range list {
		s, isString := e.(string)
		if !isString {
			o.fail(fmt.Sprintf("%s[%d]", name, i), "must be a string, got %v", e)
			continue
		}
		out = append(out, s)
	}
	return out
}

// StringMap returns a mapping of strings to strings.
func (o *Options) StringMap(name string) map[string]string {
	v, ok := o.get(name)
	if !ok {
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		o.fail(name, "must be a mapping of strings, got %v", v)
		return nil
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		s, isString := e.(string)
		if !isString {
			o.fail(name+"."+k, "must be a string, got %v", e)
			continue
		}
		out[k] = s
	}
	return out
}

// Map returns a mapping option as it was written.
func (o *Options) Map(name string) map[string]any {
	v, ok := o.get(name)
	if !ok {
		return nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		o.fail(name, "must be a mapping, got %v", v)
		return nil
	}
	return m
}

// Fail records a problem with an option found by the caller.
func (o *Options) Fail(name, format string, args ...any) { o.fail(name, format, args...) }

// Err returns every problem found, unknown options included, or nil.
func (o *Options) Err() error {
	errs := slices.Clone(o.errs)
	var unknown []string
	for k := range o.raw {
		if !slices.Contains(o.used, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	valid := slices.Clone(o.used)
	sort.Strings(valid)
	valid = slices.Compact(valid)
	for _, k := range unknown {
		if len(valid) == 0 {
			errs = append(errs, k+": unknown option (this transform takes none)")
		} else {
			errs = append(errs, fmt.Sprintf("%s: unknown option (valid: %s)", k, strings.Join(valid, ", ")))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(errs, "; "))
}
