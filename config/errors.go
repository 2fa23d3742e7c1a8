package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// FieldError is one problem in a configuration file. Path names the field
// like deliveries[0].buffer.size; an empty Path means the whole file. Line
// and Column are 1-based and 0 when unknown. When the field is absent from
// the file, Line and Column point at the closest enclosing key that is there.
type FieldError struct {
	File    string
	Line    int
	Column  int
	Path    string
	Message string
}

// Error formats the error as FILE:LINE: PATH: MESSAGE, leaving out the parts
// that are unknown.
func (e FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File + ":" + strconv.Itoa(e.Line) + ": ")
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Error is every problem found in a configuration, sorted by line.
type Error struct {
	Errors []FieldError
}

// NewError returns an *Error holding errs sorted by line and column, or a
// plain nil when errs is empty. Other packages use it to report the
// FieldErrors they built with (*Config).Errorf.
func NewError(errs []FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	sorted := slices.Clone(errs)
	slices.SortStableFunc(sorted, func(a, b FieldError) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return &Error{Errors: sorted}
}

// Error prints one FieldError per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each FieldError to errors.As.
func (e *Error) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i, fe := range e.Errors {
		errs[i] = fe
	}
	return errs
}

// fieldErrors collects FieldErrors whose paths are relative to the struct
// being validated; the caller prefixes them.
type fieldErrors []FieldError

func (e *fieldErrors) add(path, format string, args ...any) {
	*e = append(*e, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// addAll appends errs with prefix joined in front of their paths.
func (e *fieldErrors) addAll(prefix string, errs []FieldError) {
	for _, fe := range errs {
		fe.Path = joinPath(prefix, fe.Path)
		*e = append(*e, fe)
	}
}

// joinPath appends a relative path ("size", "[2].name" or "") to prefix.
func joinPath(prefix, rel string) string {
	switch {
	case rel == "":
		return prefix
	case prefix == "":
		return rel
	case rel[0] == '[':
		return prefix + rel
	}
	return prefix + "." + rel
}

// indexPath returns prefix[i].
func indexPath(prefix string, i int) string {
	return prefix + "[" + strconv.Itoa(i) + "]"
}

// parentPath strips the last element from a path:
// "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a" -> "".
func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}

// within reports whether path is ancestor itself or lies below it.
func within(path, ancestor string) bool {
	if ancestor == "" || path == ancestor {
		return true
	}
	if !strings.HasPrefix(path, ancestor) {
		return false
	}
	next := path[len(ancestor)]
	return next == '.' || next == '['
}
