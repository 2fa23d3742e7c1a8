package analytics

import (
	"strconv"
	"strings"
)

// quoteNamedArgs quotes the reserved words from and to where they name a
// parameter — followed by => or := — as in stream('clicks', from => '1h'):
// DuckDB parses the SQL, and takes a parameter's name as an identifier,
// which a reserved word is only when quoted. Nowhere else may from or to
// be followed by => or :=, so no SQL that parses changes meaning; strings,
// quoted identifiers and comments are left as they are.
func quoteNamedArgs(sql string) string {
	var b strings.Builder
	last := 0 // sql[last:i] is not yet written to b
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'':
			i = skipString(sql, i, false)
		case c == '"':
			i = skipQuotedIdent(sql, i)
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			i = skipLineComment(sql, i)
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			i = skipBlockComment(sql, i)
		case c == '$':
			i = skipDollar(sql, i)
		case isIdentStart(c):
			j := i + 1
			for j < len(sql) && isIdentPart(sql[j]) {
				j++
			}
			word := sql[i:j]
			switch {
			case (word == "e" || word == "E") && j < len(sql) && sql[j] == '\'':
				j = skipString(sql, j, true) // E'…' with backslash escapes
			case (strings.EqualFold(word, "from") || strings.EqualFold(word, "to")) && namesParameter(sql, j):
				b.WriteString(sql[last:i])
				b.WriteString(`"` + strings.ToLower(word) + `"`)
				last = j
			}
			i = j
		case c >= '0' && c <= '9':
			for i < len(sql) && isIdentPart(sql[i]) { // 1e5, 0x1F: not words
				i++
			}
		default:
			i++
		}
	}
	if last == 0 {
		return sql
	}
	b.WriteString(sql[last:])
	return b.String()
}

// namesParameter reports whether => or := follows sql[i:], past spaces and
// comments.
func namesParameter(sql string, i int) bool {
	for i < len(sql) {
		switch {
		case sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\n' || sql[i] == '\r' || sql[i] == '\f':
			i++
		case strings.HasPrefix(sql[i:], "--"):
			i = skipLineComment(sql, i)
		case strings.HasPrefix(sql[i:], "/*"):
			i = skipBlockComment(sql, i)
		default:
			return strings.HasPrefix(sql[i:], "=>") || strings.HasPrefix(sql[i:], ":=")
		}
	}
	return false
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isIdentPart(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' || c == '$' }

// skipString returns the index after the string literal at sql[i] (a
// doubled quote inside it is a quote; so is a backslashed one when
// escapes), or len(sql).
func skipString(sql string, i int, escapes bool) int {
	for j := i + 1; j < len(sql); j++ {
		switch {
		case escapes && sql[j] == '\\':
			j++
		case sql[j] == '\'' && j+1 < len(sql) && sql[j+1] == '\'':
			j++
		case sql[j] == '\'':
			return j + 1
		}
	}
	return len(sql)
}

// skipQuotedIdent returns the index after the quoted identifier at sql[i].
func skipQuotedIdent(sql string, i int) int {
	for j := i + 1; j < len(sql); j++ {
		if sql[j] == '"' {
			if j+1 < len(sql) && sql[j+1] == '"' {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(sql)
}

func skipLineComment(sql string, i int) int {
	if n := strings.IndexByte(sql[i:], '\n'); n >= 0 {
		return i + n + 1
	}
	return len(sql)
}

// skipBlockComment returns the index after the /* … */ comment at sql[i],
// which may nest.
func skipBlockComment(sql string, i int) int {
	depth := 0
	for j := i; j+1 < len(sql); j++ {
		switch sql[j : j+2] {
		case "/*":
			depth++
			j++
		case "*/":
			depth--
			j++
			if depth == 0 {
				return j + 1
			}
		}
	}
	return len(sql)
}

// skipDollar returns the index after the dollar-quoted string ($$…$$,
// $tag$…$tag$) at sql[i], or after the $ of anything else ($1).
func skipDollar(sql string, i int) int {
	j := i + 1
	if j < len(sql) && isIdentStart(sql[j]) {
		for j < len(sql) && isIdentPart(sql[j]) && sql[j] != '$' {
			j++
		}
	}
	if j >= len(sql) || sql[j] != '$' {
		return i + 1
	}
	tag := sql[i : j+1]
	if end := strings.Index(sql[j+1:], tag); end >= 0 {
		return j + 1 + end + len(tag)
	}
	return len(sql)
}

// tokens calls f with the start and end of each token of sql that is not
// space or a comment: a word, a number, a string, a quoted identifier, or
// one other byte.
func tokens(sql string, f func(start, end int)) {
	for i := 0; i < len(sql); {
		c, j := sql[i], i+1
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
			continue
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			i = skipLineComment(sql, i)
			continue
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			i = skipBlockComment(sql, i)
			continue
		case c == '\'':
			j = skipString(sql, i, false)
		case c == '"':
			j = skipQuotedIdent(sql, i)
		case c == '$':
			j = skipDollar(sql, i)
		case isIdentPart(c):
			for j < len(sql) && isIdentPart(sql[j]) {
				j++
			}
			if (sql[i:j] == "e" || sql[i:j] == "E") && j < len(sql) && sql[j] == '\'' {
				j = skipString(sql, j, true)
			}
		}
		f(i, j)
		i = j
	}
}

// firstWord returns the first token of sql.
func firstWord(sql string) string {
	word, done := "", false
	tokens(sql, func(start, end int) {
		if !done {
			word, done = sql[start:end], true
		}
	})
	return word
}

// trimSemicolons removes the semicolons that end sql, but for comments.
func trimSemicolons(sql string) string {
	for {
		last := -1
		tokens(sql, func(start, end int) { last = start })
		if last < 0 || sql[last] != ';' {
			return sql
		}
		sql = sql[:last] + sql[last+1:]
	}
}

// uniqueNames returns names with each repeated one suffixed _2, _3, … so
// that a row can be a JSON object.
func uniqueNames(names []string) []string {
	out := make([]string, len(names))
	taken := make(map[string]bool, len(names))
	for _, n := range names {
		taken[n] = true
	}
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		name := n
		if seen[n] {
			for k := 2; taken[name]; k++ {
				name = n + "_" + strconv.Itoa(k)
			}
			taken[name] = true
		}
		seen[n] = true
		out[i] = name
	}
	return out
}
