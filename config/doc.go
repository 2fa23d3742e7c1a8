// Package config loads Hydrant's configuration: one YAML file that declares
// the server, the storage of shard logs, the streams producers write to and
// the deliveries that carry records from a stream (or from direct puts) to a
// destination.
//
// Loading goes through four steps, and every step reports all the problems
// it finds rather than stopping at the first:
//
//  1. YAML parsing into a node tree (gopkg.in/yaml.v3).
//  2. Environment interpolation of every scalar value: ${VAR},
//     ${VAR:-default} (default when VAR is unset or empty) and $$ for a
//     literal $. An unset ${VAR} without default is an error. Values are
//     substituted after parsing, so a variable may hold any text ('#', ': ',
//     line breaks) without changing the file's structure; keys and comments
//     are never interpolated. An unquoted value is typed after substitution
//     (shards: ${N} is a number), a quoted one stays a string.
//  3. Decoding by a small reflection walker over the tree that follows
//     `yaml:"name"` tags. Unknown keys, duplicate keys and values of the
//     wrong type are errors. Defaults come from the NewDefault…Config
//     constructors, and list elements start from their default, so absent
//     keys keep the default value; so does a key written as null. Anchors,
//     aliases and << merge keys work.
//  4. Validation: every …Config type has a Validate method returning
//     FieldErrors with paths relative to itself, and (*Config).Validate
//     adds the checks between streams and deliveries and positions each
//     error.
//
// Problems come back as one *Error holding FieldErrors sorted by line, each
// naming the file, line, path and what would be valid:
//
//	pipeline.yaml:5: storage.fsync: must be one of always, interval
//	pipeline.yaml:13: deliveries[0].buffer.size: must be between 1MiB and 128MiB
//	pipeline.yaml:16: deliveries[0].retry.duraton: unknown key (valid: duration)
//
// A loaded Config remembers where every path is written, so other packages
// can report their own findings (an unknown transform option, say) in the
// same form with (*Config).Errorf and NewError.
//
// Sizes (5MiB, 512KB, 1048576) and durations (60s, 1h30m, 300 meaning
// seconds) have their own types, Size and Duration.
package config
