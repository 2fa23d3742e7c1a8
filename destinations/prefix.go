package destinations

import (
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hydrant-dev/hydrant/internal/partitionkey"
)

// Prefix is a compiled Firehose S3 prefix: literal text and !{namespace:value}
// expressions, evaluated per batch.
type Prefix struct {
	parts []prefixPart
}

type prefixKind int

const (
	partLiteral prefixKind = iota
	partTimestamp
	partRandom
	partErrorType
	partPartitionKey
)

type prefixPart struct {
	kind    prefixKind
	literal string
	ts      timestampFormat
	key     string
}

// PrefixValues are what a prefix is evaluated against.
type PrefixValues struct {
	Oldest        time.Time         // arrival of the batch's oldest record (UTC)
	ErrorType     string            // for error prefixes
	PartitionKeys map[string]string // dynamic partitioning keys
	Seed          string            // makes !{firehose:random-string} deterministic per batch
}

// CompilePrefix parses a prefix. isError allows !{firehose:error-output-type}
// and forbids partition keys, as Firehose does for ErrorOutputPrefix. A
// prefix without a timestamp expression gets yyyy/MM/dd/HH/ appended.
func CompilePrefix(s string, isError bool) (Prefix, error) {
	var p Prefix
	hasTimestamp := false
	rest := s
	for rest != "" {
		i := strings.Index(rest, "!{")
		if i < 0 {
			p.parts = append(p.parts, prefixPart{kind: partLiteral, literal: rest})
			break
		}
		if i > 0 {
			p.parts = append(p.parts, prefixPart{kind: partLiteral, literal: rest[:i]})
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return Prefix{}, fmt.Errorf("unterminated expression %q", rest[i:])
		}
		expr := rest[i+2 : i+end]
		rest = rest[i+end+1:]
		ns, val, ok := strings.Cut(expr, ":")
		if !ok {
			return Prefix{}, fmt.Errorf("expression !{%s}: want !{namespace:value}", expr)
		}
		switch {
		case ns == "timestamp":
			f, err := compileTimestamp(val)
			if err != nil {
				return Prefix{}, fmt.Errorf("expression !{%s}: %w", expr, err)
			}
			hasTimestamp = true
			p.parts = append(p.parts, prefixPart{kind: partTimestamp, ts: f})
		case ns == "firehose" && val == "random-string":
			p.parts = append(p.parts, prefixPart{kind: partRandom})
		case ns == "firehose" && val == "error-output-type":
			if !isError {
				return Prefix{}, fmt.Errorf("expression !{%s}: allowed only in error_prefix", expr)
			}
			p.parts = append(p.parts, prefixPart{kind: partErrorType})
		case ns == "partitionKeyFromQuery" || ns == "partitionKeyFromLambda":
			if isError {
				return Prefix{}, fmt.Errorf("expression !{%s}: not allowed in error_prefix", expr)
			}
			if val == "" {
				return Prefix{}, fmt.Errorf("expression !{%s}: missing key name", expr)
			}
			p.parts = append(p.parts, prefixPart{kind: partPartitionKey, key: val})
		default:
			return Prefix{}, fmt.Errorf("expression !{%s}: unknown (valid: timestamp:<pattern>, firehose:random-string, firehose:error-output-type, partitionKeyFromQuery:<key>, partitionKeyFromLambda:<key>)", expr)
		}
	}
	if !hasTimestamp {
		f, _ := compileTimestamp("yyyy/MM/dd/HH")
		p.parts = append(p.parts, prefixPart{kind: partTimestamp, ts: f}, prefixPart{kind: partLiteral, literal: "/"})
	}
	return p, nil
}

// HasPartitionKeys reports whether the prefix uses partition keys.
func (p Prefix) HasPartitionKeys() bool { return p.has(partPartitionKey) }

// HasErrorOutputType reports whether the prefix uses !{firehose:error-output-type}.
func (p Prefix) HasErrorOutputType() bool { return p.has(partErrorType) }

func (p Prefix) has(kind prefixKind) bool {
	for _, part := range p.parts {
		if part.kind == kind {
			return true
		}
	}
	return false
}

// Evaluate returns the prefix for one batch.
func (p Prefix) Evaluate(v PrefixValues) (string, error) {
	var b strings.Builder
	for _, part := range p.parts {
		switch part.kind {
		case partLiteral:
			b.WriteString(part.literal)
		case partTimestamp:
			b.WriteString(part.ts.format(v.Oldest.UTC()))
		case partRandom:
			b.WriteString(randomString(v.Seed))
		case partErrorType:
			b.WriteString(v.ErrorType)
		case partPartitionKey:
			val, ok := v.PartitionKeys[part.key]
			if !ok {
				return "", fmt.Errorf("partition key %q is not set on the batch", part.key)
			}
			if problem := UnsafePartitionValue(val); problem != "" {
				return "", fmt.Errorf("partition key %q %s", part.key, problem)
			}
			b.WriteString(val)
		}
	}
	if b.Len() > 512 {
		return "", fmt.Errorf("evaluated prefix is %d characters; at most 512 are allowed", b.Len())
	}
	return b.String(), nil
}

// MaxPartitionKeyValue is the longest partition key value, in bytes
// (partitionkey.MaxValue).
const MaxPartitionKeyValue = partitionkey.MaxValue

// UnsafePartitionValue says why a partition key value cannot become one
// segment of an object key or file path, or "" when it can
// (partitionkey.Unsafe). Transforms that set keys fail such a record
// alone; Evaluate refuses it again, so a transform that forgets cannot
// write outside its partition.
func UnsafePartitionValue(s string) string { return partitionkey.Unsafe(s) }

// randomString is Firehose's 11-character random string, derived from seed
// so that a re-delivered batch gets the same key.
func randomString(seed string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	sum := sha256.Sum256([]byte(seed))
	out := make([]byte, 11)
	for i := range out {
		out[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return string(out)
}

// timestampFormat is a Java DateTimeFormatter pattern, the subset Firehose
// prefixes use: y, M, d, H, m, s, literal punctuation and 'quoted text'.
type timestampFormat []tsField

type tsField struct {
	letter byte // 0 for a literal
	width  int
	lit    string
}

func compileTimestamp(pattern string) (timestampFormat, error) {
	if pattern == "" {
		return nil, fmt.Errorf("empty timestamp pattern")
	}
	var f timestampFormat
	for i := 0; i < len(pattern); {
		c := pattern[i]
		switch {
		case c == '\'':
			end := strings.IndexByte(pattern[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", pattern)
			}
			lit := pattern[i+1 : i+1+end]
			if lit == "" {
				lit = "'"
			}
			f = append(f, tsField{lit: lit})
			i += end + 2
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			j := i
			for j < len(pattern) && pattern[j] == c {
				j++
			}
			if !strings.ContainsRune("yMdHms", rune(c)) {
				return nil, fmt.Errorf("pattern letter %q in %q is not supported (use y, M, d, H, m, s)", c, pattern)
			}
			f = append(f, tsField{letter: c, width: j - i})
			i = j
		default:
			f = append(f, tsField{lit: string(c)})
			i++
		}
	}
	return f, nil
}

func (f timestampFormat) format(t time.Time) string {
	var b []byte
	for _, fl := range f {
		var n int
		switch fl.letter {
		case 0:
			b = append(b, fl.lit...)
			continue
		case 'y':
			n = t.Year()
			if fl.width == 2 {
				n %= 100
			}
		case 'M':
			n = int(t.Month())
		case 'd':
			n = t.Day()
		case 'H':
			n = t.Hour()
		case 'm':
			n = t.Minute()
		case 's':
			n = t.Second()
		}
		s := strconv.Itoa(n)
		for k := len(s); k < fl.width; k++ {
			b = append(b, '0')
		}
		b = append(b, s...)
	}
	return string(b)
}
