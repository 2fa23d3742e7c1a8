package config

import (
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

var sqlIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// AnalyticsConfig is a SQL application (Kinesis Data Analytics for SQL): it
// runs SQL over the windows of a stream's records and puts the result rows
// into another stream as JSON records.
type AnalyticsConfig struct {
	Name   string `yaml:"name"`   // [a-zA-Z0-9_.-]{1,64}, unique among applications
	Source string `yaml:"source"` // a declared stream, or a DirectPut delivery's
	// SQL is one DuckDB query over table source: the schema's columns plus
	// approximate_arrival_time, partition_key, sequence_number, shard_id,
	// window_start and window_end.
	SQL    string       `yaml:"sql"`
	Window WindowConfig `yaml:"window"`
	// Time is what windows go by: arrival (the default; Kinesis' ROWTIME)
	// or the JSON pointer of each record's event time (RFC 3339 or epoch
	// milliseconds), with AllowedLateness.
	Time            string   `yaml:"time"`
	AllowedLateness Duration `yaml:"allowed_lateness"` // with an event time: 0..24h
	// Schema is the input's columns, as a Parquet schema declares them
	// (name, type, path), or auto: inferred from the source's first
	// records when the application first starts, then kept. A record that
	// does not fit is in no window.
	Schema AnalyticsSchema       `yaml:"schema"`
	Output AnalyticsOutputConfig `yaml:"output"`
	// Reference are tables the query may join with, loaded from files at
	// start and every ReferenceReload.
	Reference       []ReferenceConfig `yaml:"reference"`
	ReferenceReload Duration          `yaml:"reference_reload"` // 0 (never) or 1s..24h; default 5m
	// MemoryLimit bounds the application's SQL engine; past it, work
	// spills to data_dir.
	MemoryLimit Size `yaml:"memory_limit"` // 16MiB..1TiB; default 256MiB
}

// AnalyticsSchema is an application's input columns: the word auto, or a
// list.
type AnalyticsSchema struct {
	Auto bool
	List []AnalyticsColumnConfig
}

// AnalyticsColumnConfig is one input column: where its value is in each
// JSON record, and its type.
type AnalyticsColumnConfig struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"` // string, int32, int64, float, double, boolean, timestamp_millis, timestamp_micros, date, decimal(p,s), json
	Path string `yaml:"path"` // JSON pointer; default /<name>
}

// ReferenceConfig is a reference table: a file, or an object in S3, whose
// extension says its format.
type ReferenceConfig struct {
	Name string `yaml:"name"` // an SQL identifier, the table's name in the query
	// Path is a local file, or s3://bucket/key with S3 (copied under
	// data_dir at each load when it changed).
	Path string              `yaml:"path"` // .csv, .json, .jsonl, .ndjson or .parquet
	S3   *S3ConnectionConfig `yaml:"s3"`   // with an s3:// path
}

// S3Location returns the bucket and key of an s3:// path (ok false for a
// local file).
func (r ReferenceConfig) S3Location() (bucket, key string, ok bool) {
	rest, ok := strings.CutPrefix(r.Path, "s3://")
	if !ok {
		return "", "", false
	}
	bucket, key, _ = strings.Cut(rest, "/")
	return bucket, key, true
}

// WindowConfig groups records by arrival time: tumbling windows, sliding
// ones, or (neither) a continuous query over micro-batches of a second.
type WindowConfig struct {
	Tumbling Duration             `yaml:"tumbling"` // 1s..24h
	Sliding  *SlidingWindowConfig `yaml:"sliding"`
}

// SlidingWindowConfig is windows of Size starting every Every, which
// divides it.
type SlidingWindowConfig struct {
	Size  Duration `yaml:"size"`  // 1s..24h
	Every Duration `yaml:"every"` // 1s..size, dividing it
}

// AnalyticsOutputConfig is where results go.
type AnalyticsOutputConfig struct {
	Stream string `yaml:"stream"` // a declared stream, not the source
	// PartitionKey is the result column whose value is each record's
	// partition key (default: the row's text).
	PartitionKey string `yaml:"partition_key"`
}

func (c *AnalyticsConfig) setDefaults() {
	*c = AnalyticsConfig{MemoryLimit: 256 * MiB, Time: TimeArrival, ReferenceReload: Duration(5 * time.Minute)}
}

// TimeArrival is windows by arrival time.
const TimeArrival = "arrival"

// EventTime returns the event time's JSON pointer; "" for arrival time.
func (c AnalyticsConfig) EventTime() string {
	if c.Time == TimeArrival {
		return ""
	}
	return c.Time
}

// Validate checks one application on its own (its schema and SQL are
// checked when it starts).
func (c AnalyticsConfig) Validate() []FieldError {
	var errs fieldErrors
	checkName(&errs, "name", c.Name)
	if c.SQL == "" {
		errs.add("sql", "required: a query over table source")
	}
	if len(c.Schema.List) == 0 && !c.Schema.Auto {
		errs.add("schema", "required: auto, or the input's columns, e.g. [{name: ticker, type: string}]")
	}
	for i, col := range c.Schema.List {
		if col.Name == "" {
			errs.add(indexPath("schema", i)+".name", "required")
		}
	}
	w := c.Window
	switch {
	case w.Sliding != nil && w.Tumbling != 0:
		errs.add("window", "tumbling or sliding, not both")
	case w.Sliding != nil:
		if between(&errs, "window.sliding.size", w.Sliding.Size, Duration(time.Second), Duration(24*time.Hour)) &&
			between(&errs, "window.sliding.every", w.Sliding.Every, Duration(time.Second), w.Sliding.Size) &&
			w.Sliding.Size%w.Sliding.Every != 0 {
			errs.add("window.sliding.every", "must divide size (%v)", w.Sliding.Size)
		} else if w.Sliding.Every > 0 && w.Sliding.Size/w.Sliding.Every > 1000 {
			errs.add("window.sliding.every", "size/every is above 1000: each record would be in that many windows")
		}
	case w.Tumbling != 0:
		between(&errs, "window.tumbling", w.Tumbling, Duration(time.Second), Duration(24*time.Hour))
	}
	switch {
	case c.Time == TimeArrival || c.Time == "":
		if c.AllowedLateness != 0 {
			errs.add("allowed_lateness", "only with an event time (time: /pointer): arrival times are never late")
		}
	case !validJSONPointer(c.Time):
		errs.add("time", `must be arrival or the JSON pointer of an event time, e.g. /ts`)
	default:
		between(&errs, "allowed_lateness", c.AllowedLateness, 0, Duration(24*time.Hour))
	}
	refs := map[string]bool{}
	for i, r := range c.Reference {
		p := indexPath("reference", i)
		switch {
		case !sqlIdentifier.MatchString(r.Name) || strings.EqualFold(r.Name, "source"):
			errs.add(p+".name", "must be an SQL identifier (a letter or _, then letters, digits or _) other than source")
		case refs[strings.ToLower(r.Name)]:
			errs.add(p+".name", "%q is named twice", r.Name)
		}
		refs[strings.ToLower(r.Name)] = true
		bucket, key, isS3 := r.S3Location()
		switch {
		case isS3 && (bucket == "" || key == ""):
			errs.add(p+".path", "s3://bucket/key: a bucket and a key")
		case isS3 && (r.S3 == nil || r.S3.Endpoint == ""):
			errs.add(p+".s3.endpoint", "required with an s3:// path: the S3-compatible service, e.g. http://minio:9000")
		case !isS3 && r.S3 != nil:
			errs.add(p+".s3", "only with an s3://bucket/key path")
		}
		switch strings.ToLower(filepath.Ext(r.Path)) {
		case ".csv", ".json", ".jsonl", ".ndjson", ".parquet":
		default:
			errs.add(p+".path", "a file whose extension says its format: .csv, .json, .jsonl, .ndjson or .parquet")
		}
	}
	if c.ReferenceReload != 0 {
		between(&errs, "reference_reload", c.ReferenceReload, Duration(time.Second), Duration(24*time.Hour))
	}
	if c.Output.Stream == "" {
		errs.add("output.stream", "required: the declared stream results are put into")
	}
	between(&errs, "memory_limit", c.MemoryLimit, 16*MiB, TiB)
	return errs
}
