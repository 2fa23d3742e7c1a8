package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func noEnv(string) (string, bool) { return "", false }

func mustParse(t *testing.T, yaml string) *Config {
	t.Helper()
	cfg, err := ParseWithEnv("test.yaml", []byte(yaml), noEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

func TestLoadValid(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")     // empty: the ${...:-default} applies
	t.Setenv("AWS_SECRET_ACCESS_KEY", "") //
	cfg, err := Load("testdata/valid.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}

	want := NewDefaultConfig()
	want.Server.Listen = "127.0.0.1:4545"
	want.Storage.DataDir = "./data"
	want.Storage.Fsync = FsyncAlways
	clicks := NewDefaultStreamConfig()
	clicks.Name, clicks.Shards, clicks.PartitionKeyField = "clicks", 4, "/user_id"
	want.Streams = []StreamConfig{clicks}

	archive := NewDefaultDeliveryConfig()
	archive.Name, archive.Source = "clicks-archive", "clicks"
	archive.Transforms = []TransformConfig{{Type: "append_newline"}}
	file := NewDefaultFileDestinationConfig()
	file.Dir, file.Prefix = "./out", "clicks/"
	archive.Destination.File = &file

	events := NewDefaultDeliveryConfig()
	events.Name, events.Shards = "events", 2
	events.Buffer.Schedule, events.Buffer.Interval, events.Buffer.ScheduleOnly = "@hourly", 0, true // schedule without interval
	s3 := NewDefaultS3DestinationConfig()
	s3.Endpoint, s3.Bucket, s3.Compression = "http://127.0.0.1:9000", "events", CompressionGzip
	s3.AccessKeyID, s3.SecretAccessKey = "minio", "minio123"
	events.Destination.S3 = &s3
	want.Deliveries = []DeliveryConfig{archive, events}

	for name, pair := range map[string][2]any{
		"server":     {cfg.Server, want.Server},
		"storage":    {cfg.Storage, want.Storage},
		"streams":    {cfg.Streams, want.Streams},
		"deliveries": {cfg.Deliveries, want.Deliveries},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, pair[0], pair[1])
		}
	}

	// Spot-check the defaults themselves, so a changed constructor is noticed.
	checks := map[string]struct{ got, want any }{
		"max_request_size": {cfg.Server.MaxRequestSize, 16 * MiB},
		"max_record_size":  {cfg.Server.MaxRecordSize, 1000 * KiB},
		"fsync_interval":   {cfg.Storage.FsyncInterval.Std(), 100 * time.Millisecond},
		"retention":        {cfg.Streams[0].Retention.Std(), 24 * time.Hour},
		"bytes_per_second": {cfg.Streams[0].ShardLimits.BytesPerSecond, MiB},
		"records_per_sec":  {cfg.Streams[0].ShardLimits.RecordsPerSecond, 1000},
		"buffer size":      {cfg.Deliveries[1].Buffer.Size, 5 * MiB},
		"buffer interval":  {cfg.Deliveries[0].Buffer.Interval.Std(), 60 * time.Second},
		"retry":            {cfg.Deliveries[1].Retry.Duration.Std(), 300 * time.Second},
		"region":           {cfg.Deliveries[1].Destination.S3.Region, "us-east-1"},
		"error_prefix":     {cfg.Deliveries[0].Destination.File.ErrorPrefix, "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"},
		"source stream":    {cfg.Deliveries[1].SourceStream(), "events"},
		"file":             {cfg.File(), "testdata/valid.yaml"},
	}
	for name, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", name, c.got, c.want)
		}
	}
}

func TestLoadEnvironment(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIA-from-env")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-from-env")
	cfg, err := Load("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s3 := cfg.Deliveries[1].Destination.S3
	if s3.AccessKeyID != "AKIA-from-env" || s3.SecretAccessKey != "secret-from-env" {
		t.Fatalf("credentials = %q, %q; want the environment's", s3.AccessKeyID, s3.SecretAccessKey)
	}
}

// TestDirectPutShardLimits checks that a DirectPut delivery's quota can be
// raised, keeping the default of what is not set, and that a delivery with
// a source is told its stream's limits apply.
func TestDirectPutShardLimits(t *testing.T) {
	cfg := mustParse(t, `
deliveries:
  - {name: events, shards: 2, shard_limits: {bytes_per_second: 64MiB}, destination: {file: {dir: ./out}}}
`)
	got := cfg.ResolvedStreams()[0].ShardLimits
	if want := (ShardLimitsConfig{BytesPerSecond: 64 * MiB, RecordsPerSecond: 100_000}); got != want {
		t.Errorf("shard limits = %+v, want %+v", got, want)
	}
	_, err := ParseWithEnv("test.yaml", []byte(`
streams: [{name: clicks}]
deliveries:
  - {name: archive, source: clicks, shard_limits: {bytes_per_second: 64MiB}, destination: {file: {dir: ./out}}}
`), noEnv)
	if err == nil || !strings.Contains(err.Error(), "deliveries[0].shard_limits: only a DirectPut delivery has shard limits; this one reads clicks") {
		t.Errorf("err = %v, want the shard_limits error", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestResolvedStreams(t *testing.T) {
	cfg := mustParse(t, `
streams:
  - {name: clicks, shards: 4, retention: 48h}
deliveries:
  - {name: archive, source: clicks, destination: {file: {dir: ./out}}}
  - {name: events, shards: 3, destination: {file: {dir: ./out}}}
`)
	implicit := NewDefaultStreamConfig()
	implicit.Name, implicit.Shards = "events", 3
	implicit.ShardLimits = ShardLimitsConfig{BytesPerSecond: 5 * MiB, RecordsPerSecond: 100_000} // Firehose's direct-put quota
	want := []ResolvedStream{
		{StreamConfig: cfg.Streams[0]},
		{StreamConfig: implicit, DirectPut: true},
	}
	if got := cfg.ResolvedStreams(); !reflect.DeepEqual(got, want) {
		t.Fatalf("ResolvedStreams() =\n%+v\nwant\n%+v", got, want)
	}
	for name, tt := range map[string]struct {
		d    DeliveryConfig
		want string
	}{
		"from a stream": {cfg.Deliveries[0], "clicks"},
		"direct put":    {cfg.Deliveries[1], "events"},
	} {
		if got := tt.d.SourceStream(); got != tt.want {
			t.Errorf("%s: SourceStream() = %q, want %q", name, got, tt.want)
		}
	}
}

func TestScheduleAndInterval(t *testing.T) {
	tests := map[string]struct {
		buffer       string
		interval     time.Duration
		schedule     string
		scheduleOnly bool
	}{
		"neither":            {buffer: `{}`, interval: 60 * time.Second},
		"interval only":      {buffer: `{interval: 30s}`, interval: 30 * time.Second},
		"zero buffering":     {buffer: `{interval: 0s}`, interval: 0},
		"schedule only":      {buffer: `{schedule: "@hourly"}`, interval: 0, schedule: "@hourly", scheduleOnly: true},
		"both written":       {buffer: `{schedule: "*/5 * * * *", interval: 90s}`, interval: 90 * time.Second, schedule: "*/5 * * * *"},
		"schedule and zero":  {buffer: `{schedule: "@hourly", interval: 0s}`, interval: 0, schedule: "@hourly"},
		"every descriptor":   {buffer: `{schedule: "@every 5m"}`, schedule: "@every 5m", scheduleOnly: true},
		"schedule with zone": {buffer: `{schedule: "CRON_TZ=UTC 0 3 * * *"}`, schedule: "CRON_TZ=UTC 0 3 * * *", scheduleOnly: true},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := mustParse(t, fmt.Sprintf("deliveries:\n  - {name: d, buffer: %s, destination: {file: {dir: ./out}}}\n", tt.buffer))
			b := cfg.Deliveries[0].Buffer
			if b.Interval.Std() != tt.interval || b.Schedule != tt.schedule || b.ScheduleOnly != tt.scheduleOnly {
				t.Fatalf("buffer = %+v, want interval %v schedule %q schedule only %v", b, tt.interval, tt.schedule, tt.scheduleOnly)
			}
		})
	}
}

func TestLineAndErrorf(t *testing.T) {
	cfg := mustParse(t, `streams:
  - name: clicks
deliveries:
  - name: archive
    source: clicks
    transforms:
      - type: extract
        fields: [a, b]
    buffer:
      size: 8MiB
    destination:
      file: {dir: ./out, prefix: "p/"}
`)
	tests := map[string]struct {
		path string
		line int
	}{
		"root":                     {"", 1},
		"written key":              {"deliveries[0].buffer.size", 10},
		"list element":             {"deliveries[0]", 4},
		"absent key uses parent":   {"deliveries[0].buffer.interval", 9},
		"absent parent too":        {"deliveries[0].retry.duration", 4},
		"flow mapping key":         {"deliveries[0].destination.file.prefix", 12},
		"transform option":         {"deliveries[0].transforms[0].fields", 8},
		"transform option element": {"deliveries[0].transforms[0].fields[1]", 8},
		"unknown path":             {"nothing.here", 1},
		"out of range index":       {"streams[7].name", 1},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := cfg.Line(tt.path); got != tt.line {
				t.Fatalf("Line(%q) = %d, want %d", tt.path, got, tt.line)
			}
		})
	}

	fe := cfg.Errorf("deliveries[0].transforms[0].fields", "unknown field %q", "c")
	want := FieldError{File: "test.yaml", Line: 8, Column: 9, Path: "deliveries[0].transforms[0].fields", Message: `unknown field "c"`}
	if fe != want {
		t.Fatalf("Errorf = %+v, want %+v", fe, want)
	}
	if got := fe.Error(); got != `test.yaml:8: deliveries[0].transforms[0].fields: unknown field "c"` {
		t.Fatalf("Error() = %q", got)
	}
	if got := cfg.Deliveries[0].Transforms[0].Options; !reflect.DeepEqual(got, map[string]any{"fields": []any{"a", "b"}}) {
		t.Fatalf("Options = %#v", got)
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	cfg := mustParse(t, `streams:
  - &base {name: clicks, shards: 4, retention: 48h}
  - <<: *base
    name: views
  - <<: [{name: taken, retention: 1h}, *base]
    shards: 8
deliveries:
  - name: a
    source: clicks
    destination: &out {file: {dir: ./out, compression: gzip}}
  - name: b
    source: views
    destination: *out
`)
	if got := cfg.Streams[1]; got.Name != "views" || got.Shards != 4 || got.Retention.Std() != 48*time.Hour {
		t.Fatalf("merged stream = %+v", got)
	}
	if got := cfg.Streams[2]; got.Name != "taken" || got.Shards != 8 || got.Retention.Std() != time.Hour {
		t.Fatalf("stream merged from a list = %+v", got)
	}
	if got := cfg.Deliveries[1].Destination.File; got == nil || got.Compression != CompressionGzip {
		t.Fatalf("aliased destination = %+v", got)
	}
	if cfg.Deliveries[0].Destination.File == cfg.Deliveries[1].Destination.File {
		t.Fatal("aliased destinations share one pointer")
	}
}

func TestAliasCycleIsAnError(t *testing.T) {
	tests := map[string]struct{ yaml, want string }{
		"merge of itself": {
			yaml: "streams:\n  - &s {name: a, <<: *s}\n",
			want: "cycle.yaml:2: streams[0]: alias *s refers to itself",
		},
		"merge of a list holding itself": {
			yaml: "streams:\n  - &s {name: a, <<: [*s]}\n",
			want: "cycle.yaml:2: streams[0]: alias *s refers to itself",
		},
		"transform option containing itself": {
			yaml: "deliveries:\n  - name: d\n    transforms: [&t {type: x, again: *t}]\n    destination: {file: {dir: ./out}}\n",
			want: "cycle.yaml:3: deliveries[0].transforms[0].again: anchor 't' value contains itself",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseWithEnv("cycle.yaml", []byte(tt.yaml), noEnv)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %s", err, tt.want)
			}
		})
	}
}

func TestErrorsAreCollected(t *testing.T) {
	_, err := ParseWithEnv("three.yaml", []byte(`storage:
  fsync: sometimes
streams:
  - name: clicks
    shardz: 2
deliveries:
  - name: d
    source: clicks
    buffer: {size: 200MiB}
    destination: {file: {dir: ./out}}
`), noEnv)
	var cfgErr *Error
	if !errors.As(err, &cfgErr) {
		t.Fatalf("err = %T %v, want *Error", err, err)
	}
	want := []FieldError{
		{File: "three.yaml", Line: 2, Column: 3, Path: "storage.fsync", Message: "must be one of always, interval"},
		{File: "three.yaml", Line: 5, Column: 5, Path: "streams[0].shardz", Message: "unknown key (valid: name, shards, retention, shard_limits, partition_key_field, disk_budget, capacity, atomic_puts)"},
		{File: "three.yaml", Line: 9, Column: 14, Path: "deliveries[0].buffer.size", Message: "must be between 1MiB and 128MiB"},
	}
	if !reflect.DeepEqual(cfgErr.Errors, want) {
		t.Fatalf("errors =\n%+v\nwant\n%+v", cfgErr.Errors, want)
	}
	var fe FieldError
	if !errors.As(err, &fe) || fe != want[0] {
		t.Fatalf("errors.As(FieldError) = %+v, want the first error", fe)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	const secret = "s3cr3t-value"
	_, err := ParseWithEnv("secret.yaml", []byte(`deliveries:
  - name: d
    destination:
      s3:
        endpoint: "ftp://`+secret+`@host"
        bucket: "`+secret+`"
        secret_access_key: "`+secret+`"
        compression: "`+secret+`"
        region: ""
`), noEnv)
	if err == nil {
		t.Fatal("want errors")
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error text contains the secret:\n%s", err)
	}
	s3 := NewDefaultS3DestinationConfig()
	s3.SecretAccessKey = secret
	for _, format := range []string{"%v", "%+v", "%s"} {
		if got := fmt.Sprintf(format, s3); strings.Contains(got, secret) || !strings.Contains(got, "REDACTED") {
			t.Fatalf("Sprintf(%q) = %s", format, got)
		}
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	cfg := NewDefaultConfig()
	s := NewDefaultStreamConfig()
	s.Name = "clicks"
	cfg.Streams = append(cfg.Streams, s)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate() = %v, want nil", err)
	}
	cfg.Streams[0].Shards = 0
	err := cfg.Validate()
	if err == nil || err.Error() != "streams[0].shards: must be between 1 and 1024" {
		t.Fatalf("Validate() = %v", err)
	}
}

func TestNewError(t *testing.T) {
	if err := NewError(nil); err != nil {
		t.Fatalf("NewError(nil) = %#v, want a plain nil", err)
	}
	err := NewError([]FieldError{
		{File: "f.yaml", Line: 9, Path: "b", Message: "second"},
		{File: "f.yaml", Line: 2, Path: "a", Message: "first"},
		{Message: "no position"},
	})
	want := "no position\nf.yaml:2: a: first\nf.yaml:9: b: second"
	if err.Error() != want {
		t.Fatalf("Error() =\n%s\nwant\n%s", err, want)
	}
}

func TestNullsKeepDefaults(t *testing.T) {
	cfg := mustParse(t, `server:
storage:
  data_dir: ~
streams:
  - name: clicks
    shard_limits:
deliveries:
  - name: d
    buffer: {size: null}
    destination:
      file: {dir: ./out, error_prefix: ""}
`)
	if !reflect.DeepEqual(cfg.Server, NewDefaultServerConfig()) || cfg.Storage != NewDefaultStorageConfig() {
		t.Fatalf("server/storage = %+v %+v, want defaults", cfg.Server, cfg.Storage)
	}
	if cfg.Deliveries[0].Buffer.Size != 5*MiB {
		t.Fatalf("buffer size = %v, want the default", cfg.Deliveries[0].Buffer.Size)
	}
	if got := cfg.Deliveries[0].Destination.File.ErrorPrefix; got != "" {
		t.Fatalf("error_prefix = %q, want an explicit empty string", got)
	}
}

// TestSyntaxErrorLine checks that YAML syntax errors point at the line with
// the mistake rather than where yaml.v3 says the enclosing block starts.
func TestSyntaxErrorLine(t *testing.T) {
	tests := map[string]struct {
		yaml string
		line int
	}{
		"bad indentation":       {"streams:\n  - name: clicks\n    shards: 4\n   retention: 24h\n", 4},
		"tab indentation":       {"server:\n  listen: x\n\tfsync: always\n", 3},
		"unclosed quote":        {"server:\n  listen: \"x\n  fsync: always\n", 2},
		"unclosed flow mapping": {"server:\n  listen: {x: 1\n  fsync: always\n", 2},
		"colon in plain value":  {"server:\n  listen: a\n  fsync: a: b\n", 3},
		"unclosed flow list":    {"a: 1\nb: 2\nc: 3\nq: [1,\n 2,\n 3\nr: 5\n", 6},
		"list item in mapping":  {"server: {}\n- x\n", 2},
		"reserved character":    {"server: {}\nstreams: @x\n", 2},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseWithEnv("s.yaml", []byte(tt.yaml), noEnv)
			var cfgErr *Error
			if !errors.As(err, &cfgErr) || len(cfgErr.Errors) != 1 {
				t.Fatalf("err = %v, want one syntax error", err)
			}
			if fe := cfgErr.Errors[0]; fe.Line != tt.line || !strings.HasPrefix(fe.Message, "invalid YAML: ") {
				t.Fatalf("error = %v, want line %d", fe, tt.line)
			}
		})
	}
}

func TestPostgresColumns(t *testing.T) {
	auto := mustParse(t, `
deliveries:
  - name: d
    destination:
      postgres: {dsn: "postgres://u:p@h/db", table: t, columns: auto}
`)
	if pg := auto.Deliveries[0].Destination.Postgres; !pg.Columns.Auto || pg.MaxConns != 4 || pg.StatementTimeout.Std() != 60*time.Second {
		t.Fatalf("auto: %+v", pg)
	}
	if auto.Deliveries[0].Retry.Duration.Std() != time.Hour {
		t.Fatalf("postgres retry duration = %v, want an hour", auto.Deliveries[0].Retry.Duration)
	}
	list := mustParse(t, `
deliveries:
  - name: d
    destination:
      postgres:
        dsn: "postgres://u:secret@h/db"
        table: public.t
        columns: [{name: id, type: bigint}, {name: v, type: jsonb, path: /value}]
`)
	pg := list.Deliveries[0].Destination.Postgres
	if pg.Columns.Auto || len(pg.Columns.List) != 2 || pg.Columns.List[1].Path != "/value" {
		t.Fatalf("list: %+v", pg.Columns)
	}
	if strings.Contains(fmt.Sprint(*pg), "secret") {
		t.Fatal("printing the config shows the DSN's password")
	}
	_, err := Parse("bad.yaml", []byte(`
deliveries:
  - name: d
    destination:
      postgres: {dsn: "postgres://h/db", table: t, columns: 5}
`))
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:5: deliveries[0].destination.postgres.columns: must be auto or a list") {
		t.Fatalf("columns: 5: %v", err)
	}
}

func TestElasticsearchDefaults(t *testing.T) {
	cfg := mustParse(t, `
deliveries:
  - name: logs-to-es
    destination:
      elasticsearch: {endpoints: [http://127.0.0.1:9200], index: logs}
`)
	d := cfg.Deliveries[0]
	want := NewDefaultElasticsearchDestinationConfig()
	want.Endpoints, want.Index = []string{"http://127.0.0.1:9200"}, "logs"
	if !reflect.DeepEqual(*d.Destination.Elasticsearch, want) {
		t.Fatalf("elasticsearch =\n%+v\nwant\n%+v", *d.Destination.Elasticsearch, want)
	}
	// Spot-check the defaults themselves, so a changed constructor is noticed.
	es := d.Destination.Elasticsearch
	checks := map[string]struct{ got, want any }{
		"flavor":               {es.Flavor, "elasticsearch"},
		"index_rotation":       {es.IndexRotation, "none"},
		"document_id":          {es.DocumentID, "auto"},
		"action":               {es.Action, "index"},
		"pipeline":             {es.Pipeline, ""},
		"compression":          {es.Compression, "none"},
		"max_bulk_bytes":       {es.MaxBulkBytes, 10 * MiB},
		"request_timeout":      {es.RequestTimeout.Std(), 60 * time.Second},
		"backup_mode":          {es.BackupMode, "failed_only"},
		"tls":                  {es.TLS, ElasticsearchTLSConfig{}},
		"no credentials":       {es.Username + es.Password + es.APIKey, ""},
		"retry (not postgres)": {d.Retry.Duration.Std(), 300 * time.Second}, // Firehose's default for OpenSearch
		"buffer size":          {d.Buffer.Size, 5 * MiB},
		"format":               {d.Destination.Format(), ""},
	}
	for name, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", name, c.got, c.want)
		}
	}
}

func TestElasticsearchEveryKey(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := mustParse(t, fmt.Sprintf(`
deliveries:
  - name: logs-to-es
    retry: {duration: 60s}
    destination:
      elasticsearch:
        flavor: opensearch
        endpoints: [http://127.0.0.1:9200, "https://es.example.com:9243/prefix"]
        username: admin
        password: admin-password
        tls: {ca_file: %q, insecure_skip_verify: true}
        index: logs
        index_rotation: week
        document_id: /meta/id
        action: create
        pipeline: enrich
        compression: gzip
        max_bulk_bytes: 5MiB
        request_timeout: 2m
        backup_mode: all
    backup:
      file: {dir: ./backup}
`, ca))
	want := ElasticsearchDestinationConfig{
		Flavor:         FlavorOpenSearch,
		Endpoints:      []string{"http://127.0.0.1:9200", "https://es.example.com:9243/prefix"},
		Username:       "admin",
		Password:       "admin-password",
		TLS:            ElasticsearchTLSConfig{CAFile: ca, InsecureSkipVerify: true},
		Index:          "logs",
		IndexRotation:  IndexRotationWeek,
		DocumentID:     "/meta/id",
		Action:         BulkActionCreate,
		Pipeline:       "enrich",
		Compression:    CompressionGzip,
		MaxBulkBytes:   5 * MiB,
		RequestTimeout: Duration(2 * time.Minute),
		BackupMode:     BackupModeAll,
	}
	d := cfg.Deliveries[0]
	if got := *d.Destination.Elasticsearch; !reflect.DeepEqual(got, want) {
		t.Fatalf("elasticsearch =\n%+v\nwant\n%+v", got, want)
	}
	if d.Retry.Duration.Std() != time.Minute {
		t.Fatalf("retry duration = %v, want the written 60s", d.Retry.Duration)
	}
}

func TestElasticsearchSecretsFromEnvironmentNeverPrinted(t *testing.T) {
	const password, apiKey, urlPassword = "es-pass-from-env", "es-api-key-from-env", "url-pass"
	t.Setenv("ES_PASSWORD", password)
	t.Setenv("ES_API_KEY", apiKey)
	file := filepath.Join(t.TempDir(), "hydrant.yaml")
	if err := os.WriteFile(file, []byte(`
deliveries:
  - name: basic
    destination:
      elasticsearch:
        endpoints: [http://127.0.0.1:9200, "http://elastic:`+urlPassword+`@127.0.0.1:9201"]
        username: elastic
        password: ${ES_PASSWORD}
        index: logs
  - name: api-key
    destination:
      elasticsearch:
        endpoints: [http://127.0.0.1:9200]
        api_key: ${ES_API_KEY}
        index: logs
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	basic, key := cfg.Deliveries[0].Destination.Elasticsearch, cfg.Deliveries[1].Destination.Elasticsearch
	if basic.Password != password || key.APIKey != apiKey {
		t.Fatalf("password, api_key = %q, %q; want the environment's", basic.Password, key.APIKey)
	}
	for _, v := range []any{*basic, basic, *key, key, cfg.Deliveries, *cfg} {
		for _, format := range []string{"%v", "%+v", "%s"} {
			got := fmt.Sprintf(format, v)
			for _, secret := range []string{password, apiKey, urlPassword} {
				if strings.Contains(got, secret) {
					t.Fatalf("Sprintf(%q, %T) shows a secret: %s", format, v, got)
				}
			}
		}
	}
	if got := basic.String(); !strings.Contains(got, "REDACTED") || !strings.Contains(got, "127.0.0.1:9201") {
		t.Fatalf("String() = %s, want the endpoints with the secrets REDACTED", got)
	}

	// Nor is a secret in an error message, whatever else is wrong.
	t.Setenv("ES_PASSWORD", "Bad Index"+password)
	_, err = ParseWithEnv("bad.yaml", []byte(`
deliveries:
  - name: d
    destination:
      elasticsearch: {endpoints: ["ftp://u:`+urlPassword+`@h"], password: "${ES_PASSWORD}", api_key: "${ES_API_KEY}", index: "${ES_PASSWORD}"}
`), os.LookupEnv)
	if err == nil || strings.Contains(err.Error(), password) || strings.Contains(err.Error(), apiKey) || strings.Contains(err.Error(), urlPassword) {
		t.Fatalf("err = %v, want errors without the secrets", err)
	}
}

// TestElasticsearchValidation changes one key at a time of a valid
// destination and checks the one error it makes, or that it makes none.
func TestElasticsearchValidation(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const es = "deliveries[0].destination.elasticsearch."
	const urlMsg = "must be a URL with an http:// or https:// scheme, e.g. http://127.0.0.1:9200"
	const docIDMsg = `must be none, auto or a JSON pointer (RFC 6901) starting with "/", e.g. /id`
	const charsMsg = `must not contain spaces or any of \ / * ? " < > | , # :`
	tests := map[string]struct {
		set      map[string]string // keys of the destination to write (YAML values); "" leaves a key out
		delivery string            // more keys of the delivery
		path     string            // of the one error; "" for none
		msg      string
	}{
		"valid":                        {},
		"opensearch":                   {set: map[string]string{"flavor": "opensearch"}},
		"unknown flavor":               {set: map[string]string{"flavor": "solr"}, path: es + "flavor", msg: "must be one of elasticsearch, opensearch"},
		"flavor is case-sensitive":     {set: map[string]string{"flavor": "Elasticsearch"}, path: es + "flavor", msg: "must be one of elasticsearch, opensearch"},
		"no endpoints":                 {set: map[string]string{"endpoints": ""}, path: es + "endpoints", msg: "required: a list of http:// or https:// URLs, e.g. [http://127.0.0.1:9200]"},
		"empty endpoints":              {set: map[string]string{"endpoints": "[]"}, path: es + "endpoints", msg: "required: a list of http:// or https:// URLs, e.g. [http://127.0.0.1:9200]"},
		"several endpoints":            {set: map[string]string{"endpoints": "[http://a:9200, https://b:9243, https://c/es]"}},
		"endpoint without scheme":      {set: map[string]string{"endpoints": "[http://a:9200, 'b:9200']"}, path: es + "endpoints[1]", msg: urlMsg},
		"endpoint of another scheme":   {set: map[string]string{"endpoints": "[ftp://a]"}, path: es + "endpoints[0]", msg: urlMsg},
		"endpoint without host":        {set: map[string]string{"endpoints": "['http:///x']"}, path: es + "endpoints[0]", msg: urlMsg},
		"endpoint that does not parse": {set: map[string]string{"endpoints": "['http://a b']"}, path: es + "endpoints[0]", msg: urlMsg},
		"endpoint is not a list":       {set: map[string]string{"endpoints": "http://a:9200"}, path: es + "endpoints", msg: `must be a list, got string "http://a:9200"`},
		"basic auth":                   {set: map[string]string{"username": "elastic", "password": "pw"}},
		"api key":                      {set: map[string]string{"api_key": "aWQ6a2V5"}},
		"password without username":    {set: map[string]string{"password": "pw"}, path: es + "username", msg: "required when password is set"},
		"username without password":    {set: map[string]string{"username": "elastic"}, path: es + "password", msg: "required when username is set"},
		"username and api key":         {set: map[string]string{"username": "elastic", "password": "pw", "api_key": "aWQ6a2V5"}, path: es + "api_key", msg: "cannot be combined with username: use either basic auth or an API key"},
		"ca file":                      {set: map[string]string{"tls": fmt.Sprintf("{ca_file: %q}", ca)}},
		"insecure skip verify":         {set: map[string]string{"tls": "{insecure_skip_verify: true}"}},
		"missing ca file":              {set: map[string]string{"tls": fmt.Sprintf("{ca_file: %q}", ca+".missing")}, path: es + "tls.ca_file", msg: fmt.Sprintf("must name a readable PEM file (open %s.missing: no such file or directory)", ca)},
		"ca file is a directory":       {set: map[string]string{"tls": fmt.Sprintf("{ca_file: %q}", dir)}, path: es + "tls.ca_file", msg: fmt.Sprintf("must name a readable PEM file (%s is a directory)", dir)},
		"unknown tls key":              {set: map[string]string{"tls": "{cert_file: x}"}, path: es + "tls.cert_file", msg: "unknown key (valid: ca_file, insecure_skip_verify)"},
		"no index":                     {set: map[string]string{"index": ""}, path: es + "index", msg: "required"},
		"empty index":                  {set: map[string]string{"index": `""`}, path: es + "index", msg: "required"},
		"uppercase index":              {set: map[string]string{"index": "Logs"}, path: es + "index", msg: "must be lowercase"},
		"hidden index":                 {set: map[string]string{"index": ".logs"}},
		"index with digits and dashes": {set: map[string]string{"index": "logs-2024.01_a+b"}},
		"non-ASCII lowercase index":    {set: map[string]string{"index": "journaux-été"}},
		"index starting with -":        {set: map[string]string{"index": "-logs"}, path: es + "index", msg: "must not start with -, _ or +"},
		"index starting with _":        {set: map[string]string{"index": "_logs"}, path: es + "index", msg: "must not start with -, _ or +"},
		"index starting with +":        {set: map[string]string{"index": "'+logs'"}, path: es + "index", msg: "must not start with -, _ or +"},
		"index .":                      {set: map[string]string{"index": "'.'"}, path: es + "index", msg: "must not be . or .."},
		"index ..":                     {set: map[string]string{"index": "'..'"}, path: es + "index", msg: "must not be . or .."},
		"index of 255 bytes":           {set: map[string]string{"index": strings.Repeat("a", 255)}},
		"index of 256 bytes":           {set: map[string]string{"index": strings.Repeat("a", 256)}, path: es + "index", msg: "must be at most 255 bytes"},
		"index of 255 bytes in runes":  {set: map[string]string{"index": strings.Repeat("é", 128)}, path: es + "index", msg: "must be at most 255 bytes"},
		"rotated index of 241 bytes":   {set: map[string]string{"index": strings.Repeat("a", 241), "index_rotation": "hour"}},
		"rotated index of 242 bytes":   {set: map[string]string{"index": strings.Repeat("a", 242), "index_rotation": "month"}, path: es + "index", msg: "must be at most 241 bytes with index_rotation: month, to leave room for the date suffix within Elasticsearch's 255"},
		"index rotations":              {set: map[string]string{"index_rotation": "none"}},
		"index rotation hour":          {set: map[string]string{"index_rotation": "hour"}},
		"index rotation day":           {set: map[string]string{"index_rotation": "day"}},
		"index rotation week":          {set: map[string]string{"index_rotation": "week"}},
		"index rotation month":         {set: map[string]string{"index_rotation": "month"}},
		"unknown index rotation":       {set: map[string]string{"index_rotation": "daily"}, path: es + "index_rotation", msg: "must be one of none, hour, day, week, month"},
		"document id none":             {set: map[string]string{"document_id": "none"}},
		"document id pointer":          {set: map[string]string{"document_id": "/meta/id"}},
		"document id escaped pointer":  {set: map[string]string{"document_id": "/a~0b/c~1d"}},
		"document id root pointer":     {set: map[string]string{"document_id": "/"}},
		"document id not a pointer":    {set: map[string]string{"document_id": "id"}, path: es + "document_id", msg: docIDMsg},
		"document id empty":            {set: map[string]string{"document_id": `""`}, path: es + "document_id", msg: docIDMsg},
		"document id bad escape":       {set: map[string]string{"document_id": "/a~2b"}, path: es + "document_id", msg: docIDMsg},
		"document id trailing tilde":   {set: map[string]string{"document_id": "/a~"}, path: es + "document_id", msg: docIDMsg},
		"action create":                {set: map[string]string{"action": "create"}},
		"unknown action":               {set: map[string]string{"action": "update"}, path: es + "action", msg: "must be one of index, create"},
		"pipeline":                     {set: map[string]string{"pipeline": "enrich"}},
		"gzip":                         {set: map[string]string{"compression": "gzip"}},
		"unknown compression":          {set: map[string]string{"compression": "zstd"}, path: es + "compression", msg: "must be one of none, gzip"},
		"smallest bulk":                {set: map[string]string{"max_bulk_bytes": "1KiB"}},
		"largest bulk":                 {set: map[string]string{"max_bulk_bytes": "100MiB"}},
		"bulk too small":               {set: map[string]string{"max_bulk_bytes": "1000B"}, path: es + "max_bulk_bytes", msg: "must be between 1KiB and 100MiB"},
		"bulk too large":               {set: map[string]string{"max_bulk_bytes": "101MiB"}, path: es + "max_bulk_bytes", msg: "must be between 1KiB and 100MiB"},
		"bulk not a size":              {set: map[string]string{"max_bulk_bytes": "lots"}, path: es + "max_bulk_bytes", msg: `invalid size "lots": want a non-negative number with an optional unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. 5MiB`},
		"shortest timeout":             {set: map[string]string{"request_timeout": "1s"}},
		"longest timeout":              {set: map[string]string{"request_timeout": "10m"}},
		"timeout too short":            {set: map[string]string{"request_timeout": "999ms"}, path: es + "request_timeout", msg: "must be between 1s and 10m"},
		"timeout too long":             {set: map[string]string{"request_timeout": "601"}, path: es + "request_timeout", msg: "must be between 1s and 10m"},
		"unknown backup mode":          {set: map[string]string{"backup_mode": "AllDocuments"}, path: es + "backup_mode", msg: "must be one of failed_only, all"},
		"backup all with a file":       {set: map[string]string{"backup_mode": "all"}, delivery: "backup: {file: {dir: ./backup}}"},
		"backup all with s3":           {set: map[string]string{"backup_mode": "all"}, delivery: "backup: {s3: {endpoint: 'http://127.0.0.1:9000', bucket: backup}}"},
		"backup all without backup":    {set: map[string]string{"backup_mode": "all"}, path: es + "backup_mode", msg: "all needs the delivery's backup (file or s3) to be set"},
		"failed only with a backup":    {set: map[string]string{"backup_mode": "failed_only"}, delivery: "backup: {file: {dir: ./backup}}"},
		"unknown key":                  {set: map[string]string{"type": "_doc"}, path: es + "type", msg: "unknown key (valid: flavor, endpoints, username, password, api_key, tls, index, index_rotation, document_id, action, pipeline, compression, max_bulk_bytes, request_timeout, backup_mode)"},
	}
	// Each forbidden character, alone in an otherwise valid name.
	for _, c := range `\/*?"<>|,# :` {
		tests[fmt.Sprintf("index with %q", c)] = struct {
			set      map[string]string
			delivery string
			path     string
			msg      string
		}{set: map[string]string{"index": strconv.Quote("lo" + string(c) + "gs")}, path: es + "index", msg: charsMsg}
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			keys := map[string]string{"endpoints": "[http://127.0.0.1:9200]", "index": "logs"}
			maps.Copy(keys, tt.set)
			var fields []string
			for _, k := range slices.Sorted(maps.Keys(keys)) {
				if keys[k] != "" {
					fields = append(fields, k+": "+keys[k])
				}
			}
			yaml := "deliveries:\n  - name: d\n    destination:\n      elasticsearch: {" + strings.Join(fields, ", ") + "}\n"
			if tt.delivery != "" {
				yaml += "    " + tt.delivery + "\n"
			}
			_, err := ParseWithEnv("es.yaml", []byte(yaml), noEnv)
			if tt.path == "" {
				if err != nil {
					t.Fatalf("%s\nerr = %v, want none", yaml, err)
				}
				return
			}
			var cfgErr *Error
			if !errors.As(err, &cfgErr) || len(cfgErr.Errors) != 1 {
				t.Fatalf("%s\nerr = %v, want one error", yaml, err)
			}
			if fe := cfgErr.Errors[0]; fe.Path != tt.path || fe.Message != tt.msg || fe.Line != 4 {
				t.Fatalf("%s\nerror = line %d, %s: %s\n want line 4, %s: %s", yaml, fe.Line, fe.Path, fe.Message, tt.path, tt.msg)
			}
		})
	}
}

// TestElasticsearchBuiltInCode checks the destination the way code that
// builds a Config without a file does.
func TestElasticsearchBuiltInCode(t *testing.T) {
	es := NewDefaultElasticsearchDestinationConfig()
	es.Endpoints, es.Index = []string{"http://127.0.0.1:9200"}, "logs"
	if errs := es.Validate(); len(errs) != 0 {
		t.Fatalf("Validate() = %v, want none", errs)
	}
	es.BackupMode = BackupModeAll
	d := NewDefaultDeliveryConfig()
	d.Name, d.Destination.Elasticsearch = "d", &es
	cfg := NewDefaultConfig()
	cfg.Deliveries = []DeliveryConfig{d}
	want := "deliveries[0].destination.elasticsearch.backup_mode: all needs the delivery's backup (file or s3) to be set"
	if err := cfg.Validate(); err == nil || err.Error() != want {
		t.Fatalf("Validate() = %v, want %s", err, want)
	}
	cfg.Deliveries[0].Backup = &BackupConfig{File: &FileDestinationConfig{Dir: "./backup", Compression: CompressionNone, Format: FormatJSON}}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate() with a backup = %v", err)
	}
}

func TestTransformShorthand(t *testing.T) {
	tests := map[string]struct {
		yaml    string
		want    TransformConfig
		wantErr string
	}{
		"type key": {
			yaml: "{type: split, format: json}",
			want: TransformConfig{Type: "split", Options: map[string]any{"format": "json"}},
		},
		"name with empty options": {
			yaml: "{kpl_deaggregate: {}}",
			want: TransformConfig{Type: "kpl_deaggregate"},
		},
		"name with null": {
			yaml: "{kpl_deaggregate: }",
			want: TransformConfig{Type: "kpl_deaggregate"},
		},
		"name with options": {
			yaml: "{split: {format: delimited, delimiter: '|'}}",
			want: TransformConfig{Type: "split", Options: map[string]any{"format": "delimited", "delimiter": "|"}},
		},
		"one option, not a name": {
			yaml: "{type: append_newline}",
			want: TransformConfig{Type: "append_newline"},
		},
		"named twice": {
			yaml:    "{split: {type: decompress}}",
			wantErr: "deliveries[0].transforms[0].split: names its transform twice",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			doc := "streams:\n  - name: s\ndeliveries:\n  - name: d\n    source: s\n    transforms: [" + tt.yaml + "]\n    destination: {file: {dir: ./out}}\n"
			cfg, err := ParseWithEnv("t.yaml", []byte(doc), noEnv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Deliveries[0].Transforms[0]; !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("transform = %+v, want %+v", got, tt.want)
			}
		})
	}
}
