// Package partitionkey says which dynamic partition key values are safe to
// become one segment of an object key or file path. Transforms that set
// keys and the destinations that write them share it.
package partitionkey

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxValue is the longest value, in bytes: a value becomes one segment of
// a file path or object key, and file systems refuse names over 255 bytes
// (Firehose's own limit is 512).
const MaxValue = 255

// Unsafe says why a partition key value cannot become one segment of an
// object key or file path, or "" when it can. A value is refused when it
// holds "/" or "\\" (it would add segments: "/.." would write into another
// partition's path), is "." or "..", holds a control character (C0, DEL or
// C1: NUL, newline, ...) or invalid UTF-8 (file systems and S3 refuse
// them, which used to stall the shard in retries), or is longer than
// MaxValue bytes (a file name's limit on common file systems).
func Unsafe(s string) string {
	switch {
	case len(s) > MaxValue:
		return fmt.Sprintf("is %d bytes long; the limit is %d", len(s), MaxValue)
	case s == "." || s == "..":
		return fmt.Sprintf("is %q, which names a directory, not a partition", s)
	case strings.ContainsAny(s, "/\\"):
		return "contains '/' or '\\', which would add path segments to the object key"
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.ContainsFunc(s, unicode.IsControl):
		return "contains a control character"
	}
	return ""
}
