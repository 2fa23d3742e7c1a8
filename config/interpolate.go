package config

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// substitution records one replaced expression within a line, as rune
// offsets into the interpolated (out) and original (in) line.
type substitution struct{ outStart, outEnd, inStart, inEnd int }

// columnMap maps columns of the interpolated text back to the file the user
// wrote. Keys are 1-based line numbers; lines without substitutions are
// absent.
type columnMap map[int][]substitution

// original returns the column in the written file of 1-based column col of
// the interpolated text. A column inside a substituted value maps to the
// start of its ${...} expression.
func (m columnMap) original(line, col int) int {
	c, shift := col-1, 0
	for _, s := range m[line] {
		if c < s.outStart {
			break
		}
		if c < s.outEnd {
			return s.inStart + 1
		}
		shift = s.inEnd - s.outEnd
	}
	return c + shift + 1
}

// interpolate replaces ${VAR}, ${VAR:-default} and $$ in data, line by line
// so that line numbers do not change. ${VAR:-default} uses default when VAR
// is unset or empty; ${VAR} with VAR unset is an error. A $ followed by
// anything else is kept. Lines whose first non-blank character is # are
// comments and are left alone. Errors have Line, Column and Message set.
func interpolate(data []byte, lookup func(string) (string, bool)) ([]byte, columnMap, []FieldError) {
	lines := strings.Split(string(data), "\n")
	cols := columnMap{}
	var errs []FieldError
	for i, line := range lines {
		if !strings.Contains(line, "$") || strings.HasPrefix(strings.TrimLeft(line, " \t"), "#") {
			continue
		}
		out, subs, lineErrs := interpolateLine(line, i+1, lookup)
		lines[i] = out
		if len(subs) > 0 {
			cols[i+1] = subs
		}
		errs = append(errs, lineErrs...)
	}
	return []byte(strings.Join(lines, "\n")), cols, errs
}

func interpolateLine(line string, lineNo int, lookup func(string) (string, bool)) (string, []substitution, []FieldError) {
	var (
		b        strings.Builder
		subs     []substitution
		errs     []FieldError
		in, out  int // rune offsets
		replaced string
	)
	for rest := line; rest != ""; {
		j := strings.IndexByte(rest, '$')
		if j < 0 {
			b.WriteString(rest)
			break
		}
		n := utf8.RuneCountInString(rest[:j])
		b.WriteString(rest[:j])
		in, out, rest = in+n, out+n, rest[j:]

		var consumed int
		switch {
		case strings.HasPrefix(rest, "$$"):
			replaced, consumed = "$", 2
		case strings.HasPrefix(rest, "${"):
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				errs = append(errs, FieldError{Line: lineNo, Column: in + 1, Message: `unterminated "${": write ${VAR} or ${VAR:-default}, or $$ for a literal $`})
				b.WriteString(rest)
				return b.String(), subs, errs
			}
			var err error
			replaced, err = expand(rest[2:end], lookup)
			if err != nil {
				errs = append(errs, FieldError{Line: lineNo, Column: in + 1, Message: err.Error()})
			}
			consumed = end + 1
		default:
			b.WriteByte('$')
			in, out, rest = in+1, out+1, rest[1:]
			continue
		}
		b.WriteString(replaced)
		n = utf8.RuneCountInString(replaced)
		m := utf8.RuneCountInString(rest[:consumed])
		subs = append(subs, substitution{outStart: out, outEnd: out + n, inStart: in, inEnd: in + m})
		in, out, rest = in+m, out+n, rest[consumed:]
	}
	return b.String(), subs, errs
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
	if strings.ContainsAny(v, "\r\n") {
		return "", fmt.Errorf("environment variable %s contains a line break; values must be single-line", name)
	}
	return v, nil
}

func validEnvName(s string) bool {
	if s == "" {
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
