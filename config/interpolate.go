package config

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// interpolateNodes replaces ${VAR}, ${VAR:-default} and $$ in every scalar
// value of the tree (not in keys, never in comments). It works on parsed
// values, not on the text, so a value can hold any characters — '#', ': ',
// a leading '*', line breaks — without changing the YAML's structure.
// ${VAR:-default} uses default when VAR is unset or empty; ${VAR} with VAR
// unset is an error; a $ followed by anything else is kept. A plain
// (unquoted) value is re-typed after substitution, so `shards: ${N}` is an
// integer when N is. Errors have Line, Column and Message set.
func interpolateNodes(root *yaml.Node, lookup func(string) (string, bool)) []FieldError {
	var errs []FieldError
	seen := map[*yaml.Node]bool{} // an anchored node is expanded once
	var walk func(n *yaml.Node, isKey bool)
	walk = func(n *yaml.Node, isKey bool) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, false)
			}
		case yaml.MappingNode:
			for i, c := range n.Content {
				walk(c, i%2 == 0)
			}
		case yaml.ScalarNode:
			if isKey || !strings.Contains(n.Value, "$") {
				return
			}
			out, valueErrs := interpolateString(n.Value, lookup)
			for _, e := range valueErrs {
				e.Line, e.Column = n.Line, n.Column
				errs = append(errs, e)
			}
			n.Value = out
			if n.Style == 0 {
				n.Tag = "" // resolve the type from the substituted text
			}
		}
	}
	walk(root, false)
	return errs
}

// interpolateString expands one value. Errors carry only a Message.
func interpolateString(s string, lookup func(string) (string, bool)) (string, []FieldError) {
	var (
		b    strings.Builder
		errs []FieldError
	)
	for rest := s; rest != ""; {
		j := strings.IndexByte(rest, '$')
		if j < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:j])
		rest = rest[j:]
		switch {
		case strings.HasPrefix(rest, "$$"):
			b.WriteByte('$')
			rest = rest[2:]
		case strings.HasPrefix(rest, "${"):
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				errs = append(errs, FieldError{Message: `unterminated "${": write ${VAR} or ${VAR:-default}, or $$ for a literal $`})
				b.WriteString(rest)
				return b.String(), errs
			}
			v, err := expand(rest[2:end], lookup)
			if err != nil {
				errs = append(errs, FieldError{Message: err.Error()})
			}
			b.WriteString(v)
			rest = rest[end+1:]
		default:
			b.WriteByte('$')
			rest = rest[1:]
		}
	}
	return b.String(), errs
}

// expand evaluates the inside of ${...}. On error it returns "".
func expand(expr string, lookup func(string) (string, bool)) (string, error) {
	name, def, hasDef := strings.Cut(expr, ":-")
	if !validEnvName(name) {
		return "", fmt.Errorf("invalid environment variable name %q in ${%s}", name, expr)
	}
	v, ok := lookup(name)
	if hasDef && v == "" {
		v = def
	} else if !ok {
		return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} to give a default)", name, name)
	}
	return v, nil
}

func validEnvName(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
