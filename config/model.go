package config

import (
	"fmt"
	"net/url"
	"time"
)

// Values of StorageConfig.Fsync.
const (
	FsyncAlways   = "always"
	FsyncInterval = "interval"
)

// Values of the destinations' Compression.
const (
	CompressionNone = "none"
	CompressionGzip = "gzip"
	CompressionZstd = "zstd"
)

// DefaultErrorPrefix is where destinations put records that failed, unless
// error_prefix says otherwise.
const DefaultErrorPrefix = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"

// Config is a whole Hydrant configuration file.
type Config struct {
	Server     ServerConfig     `yaml:"server"`
	Storage    StorageConfig    `yaml:"storage"`
	Streams    []StreamConfig   `yaml:"streams"`
	Deliveries []DeliveryConfig `yaml:"deliveries"`
	// Analytics are SQL applications over streams.
	Analytics []AnalyticsConfig `yaml:"analytics"`
	// FirehoseAPI configures delivery streams created with Firehose's
	// CreateDeliveryStream.
	FirehoseAPI FirehoseAPIConfig `yaml:"firehose_api"`
	// Metrics configures GET /metrics.
	Metrics MetricsConfig `yaml:"metrics"`

	file string              // name given to Load or Parse
	pos  map[string]position // path -> where it is written
}

// position is where a path is written in the file, 1-based.
type position struct{ line, col int }

// NewDefaultConfig returns a Config with every default set and no streams
// or deliveries.
func NewDefaultConfig() Config {
	return Config{Server: NewDefaultServerConfig(), Storage: NewDefaultStorageConfig(), FirehoseAPI: NewDefaultFirehoseAPIConfig()}
}

// FirehoseAPIConfig is what deliveries created through the Firehose API
// (CreateDeliveryStream with an ExtendedS3 destination) need beyond what the
// request says: the S3 service their bucket ARN names a bucket on.
type FirehoseAPIConfig struct {
	S3     *S3ConnectionConfig `yaml:"s3"`     // without it, CreateDeliveryStream is refused
	Shards int                 `yaml:"shards"` // shards of each created delivery's stream; 1..1024
	// AllowedBuckets are where created deliveries may write: "bucket" (any
	// prefix), or "bucket/prefix" where the prefix may end in * (and may
	// hold * and ?). A request's prefix and error prefix must both match.
	// Empty: any bucket the s3 credentials reach.
	AllowedBuckets []string `yaml:"allowed_buckets"`
}

// MetricsConfig is GET /metrics.
type MetricsConfig struct {
	// Public serves metrics without credentials even when auth is on
	// (they hold no record data; Prometheus scrapers can also send an API
	// key as a bearer token instead).
	Public bool `yaml:"public"`
}

// NewDefaultFirehoseAPIConfig returns the defaults: no S3, one shard.
func NewDefaultFirehoseAPIConfig() FirehoseAPIConfig { return FirehoseAPIConfig{Shards: 1} }

// S3ConnectionConfig is an S3-compatible service and its credentials.
type S3ConnectionConfig struct {
	Endpoint        string `yaml:"endpoint"` // http:// or https:// URL
	Region          string `yaml:"region"`
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
}

func (c *S3ConnectionConfig) setDefaults() { *c = S3ConnectionConfig{Region: "us-east-1"} }

// String never shows the secret.
func (c S3ConnectionConfig) String() string {
	return fmt.Sprintf("{%s %s %s REDACTED}", c.Endpoint, c.Region, c.AccessKeyID)
}

// ServerConfig is the HTTP front door.
type ServerConfig struct {
	Listen         string `yaml:"listen"`           // host:port
	MaxRequestSize Size   `yaml:"max_request_size"` // 1MiB..256MiB
	MaxRecordSize  Size   `yaml:"max_record_size"`  // 1KiB..10MiB, at most MaxRequestSize
	// MaxInFlightBytes bounds what requests being served may make the
	// server hold, all connections together: a body as declared (twice,
	// for what is decoded from it), a compressed one as it decompresses, a
	// GetRecords answer until it is written. Requests over 1MiB may take
	// three quarters of it; a request past it gets 503 and Retry-After.
	MaxInFlightBytes Size `yaml:"max_in_flight_bytes"` // 16MiB..1TiB, at least 3 × max_request_size; default 256MiB
	// MaxConnections bounds open client connections; past it new ones wait
	// in the listen queue.
	MaxConnections int        `yaml:"max_connections"` // 16..1000000; default 1024
	Auth           AuthConfig `yaml:"auth"`            // off when empty
	TLS            *TLSConfig `yaml:"tls"`             // HTTPS when set
}

// AuthConfig says who may call the APIs. With aws set, every AWS API request
// must carry a valid SigV4 signature by one of the keys; with api_keys set,
// every native API request must carry one of the bearer keys.
type AuthConfig struct {
	AWS     []AWSCredentialConfig `yaml:"aws"`
	APIKeys []APIKeyConfig        `yaml:"api_keys"`
	// Policies are named IAM-style policies that aws and api_keys entries
	// attach by name.
	Policies map[string][]PolicyStatementConfig `yaml:"policies"`
}

// PolicyStatementConfig is one IAM-style statement: effect on actions over
// resources. An explicit deny wins; what no statement allows is denied.
type PolicyStatementConfig struct {
	Effect    string   `yaml:"effect"`    // allow | deny
	Actions   []string `yaml:"actions"`   // e.g. kinesis:PutRecords, firehose:PutRecord*, hydrant:GetStatus, hydrant:Query, *
	Resources []string `yaml:"resources"` // ARN globs, e.g. arn:aws:kinesis:*:*:stream/clicks-*, or *
}

// AWSCredentialConfig is an access key pair that may sign AWS API requests.
type AWSCredentialConfig struct {
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
	// Policies name server.auth.policies entries; without any, the key may
	// use the data plane (put, read, list, describe, status, metrics, SQL queries) on
	// every stream and no control-plane action (create, delete, change).
	Policies []string `yaml:"policies"`
}

// String never shows the secret.
func (c AWSCredentialConfig) String() string { return "{" + c.AccessKeyID + " REDACTED}" }

// APIKeyConfig is a bearer key of the native API, limited to streams and actions.
type APIKeyConfig struct {
	Key     string   `yaml:"key"`
	Streams []string `yaml:"streams"` // stream name globs, e.g. "clicks-*" or "*"
	Actions []string `yaml:"actions"` // put | read | admin
	// Policies name server.auth.policies entries that apply beside
	// streams and actions (their denies win over both).
	Policies []string `yaml:"policies"`
}

// String never shows the key.
func (c APIKeyConfig) String() string { return fmt.Sprintf("{REDACTED %v %v}", c.Streams, c.Actions) }

// TLSConfig serves HTTPS with a certificate and key in PEM files.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// NewDefaultServerConfig returns the server defaults.
func NewDefaultServerConfig() ServerConfig {
	return ServerConfig{Listen: "127.0.0.1:4545", MaxRequestSize: 16 * MiB, MaxRecordSize: 1000 * KiB,
		MaxInFlightBytes: 256 * MiB, MaxConnections: 1024}
}

// StorageConfig is where and how durably the shard logs are written.
type StorageConfig struct {
	// EncryptionKey, when set, encrypts the shard log at rest (JetStream's
	// own encryption). Losing it loses the data; never printed.
	EncryptionKey string   `yaml:"encryption_key"`
	DataDir       string   `yaml:"data_dir"`       // required
	Fsync         string   `yaml:"fsync"`          // FsyncAlways or FsyncInterval
	FsyncInterval Duration `yaml:"fsync_interval"` // used only with FsyncInterval; 1ms..10m
	// DiskBudget bounds the bytes the shard log may hold: at it, puts get
	// the APIs' throttling errors until deliveries catch up and what they
	// delivered is trimmed. 0 (default): 80% of the free space of data_dir's
	// disk at start, plus what the log holds already, at most
	// DefaultDiskBudgetCap; with NATS, no budget (see AutoDiskBudget).
	DiskBudget Size `yaml:"disk_budget"` // 0, or 1MiB..1PiB
	// BufferMemory bounds the bytes all deliveries' buffers hold together;
	// past it the largest buffers flush early (flush reason "memory").
	BufferMemory Size `yaml:"buffer_memory"` // 1MiB..1TiB; default 256MiB
	// MaxStreams and MaxShards bound the streams (declared, created through
	// the APIs, and DirectPut deliveries' own) and their shards in all that
	// CreateStream and CreateDeliveryStream may reach: each shard holds
	// memory and file descriptors. Past them those calls get
	// LimitExceededException; the config's own must fit.
	MaxStreams int `yaml:"max_streams"` // 1..100000; default 256
	MaxShards  int `yaml:"max_shards"`  // 1..1000000; default 1024
	// NATS, when set, puts the shard log on an external NATS JetStream
	// cluster instead of the embedded server, so that several Hydrant
	// nodes share it (nil: embedded, under data_dir).
	NATS *NATSStorageConfig `yaml:"nats"`
}

// DefaultDiskBudgetCap is the largest disk budget Hydrant picks by itself.
const DefaultDiskBudgetCap = 1 * TiB

// NewDefaultStorageConfig returns the storage defaults.
func NewDefaultStorageConfig() StorageConfig {
	return StorageConfig{DataDir: "./data", Fsync: FsyncAlways, FsyncInterval: Duration(100 * time.Millisecond),
		BufferMemory: 256 * MiB, MaxStreams: 256, MaxShards: 1024}
}

// StreamConfig declares a stream that producers write to and deliveries read.
type StreamConfig struct {
	Name              string            `yaml:"name"`                // [a-zA-Z0-9_.-]{1,64}, unique among streams and deliveries
	Shards            int               `yaml:"shards"`              // 1..1024
	Retention         Duration          `yaml:"retention"`           // 1m..8760h
	ShardLimits       ShardLimitsConfig `yaml:"shard_limits"`        //
	PartitionKeyField string            `yaml:"partition_key_field"` // optional RFC 6901 JSON pointer, e.g. /user_id
	// DiskBudget bounds what this stream's shards may hold of the log, so
	// that it cannot throttle the others; at it, its puts are throttled.
	// 0 (default): its fair share (storage.disk_budget divided by the open
	// streams) once the log holds half the budget.
	DiskBudget Size `yaml:"disk_budget"` // 0, or 1MiB..1PiB
	// Capacity is the stream's capacity mode: provisioned (its shard
	// count changes only when asked) or on_demand (Hydrant splits shards
	// that throttle puts and merges quiet ones, never below shards:).
	// Unset: a new stream is provisioned, an existing one keeps its mode
	// (which UpdateStreamMode may have changed).
	Capacity string `yaml:"capacity"` // "" | provisioned | on_demand
	// AtomicPuts stores each native put whole or refuses it whole (429
	// or 503 with Retry-After), for clients that count any 2xx as
	// delivered; ?atomic=true asks it of one request.
	AtomicPuts bool `yaml:"atomic_puts"`
}

// NewDefaultStreamConfig returns the stream defaults (no name).
func NewDefaultStreamConfig() StreamConfig {
	return StreamConfig{Shards: 1, Retention: Duration(24 * time.Hour), ShardLimits: NewDefaultShardLimitsConfig()}
}

func (c *StreamConfig) setDefaults() { *c = NewDefaultStreamConfig() }

// ShardLimitsConfig is the write quota of each shard.
type ShardLimitsConfig struct {
	BytesPerSecond   Size `yaml:"bytes_per_second"`   // 1KiB..1GiB
	RecordsPerSecond int  `yaml:"records_per_second"` // 1..1000000
}

// DirectPutShardLimits are the per-shard quotas of a DirectPut delivery's
// implicit stream: Firehose's direct-put quotas (5 MiB/s, 100,000
// records/s), not Kinesis' per-shard ones.
func DirectPutShardLimits() ShardLimitsConfig {
	return ShardLimitsConfig{BytesPerSecond: 5 * MiB, RecordsPerSecond: 100_000}
}

// NewDefaultShardLimitsConfig returns the Kinesis-like per-shard limits.
func NewDefaultShardLimitsConfig() ShardLimitsConfig {
	return ShardLimitsConfig{BytesPerSecond: MiB, RecordsPerSecond: 1000}
}

// DeliveryConfig reads a stream (Source) or takes direct puts, transforms
// the records, buffers them and writes batches to one destination.
type DeliveryConfig struct {
	Name   string `yaml:"name"`   // same rules as a stream name
	Source string `yaml:"source"` // a declared stream; empty means DirectPut
	Shards int    `yaml:"shards"` // DirectPut only; 1..1024
	// ShardLimits are the write quota of each of a DirectPut delivery's
	// shards: Firehose's direct-put quotas unless raised here, as AWS
	// raises them on request. A delivery with a source takes its stream's.
	ShardLimits ShardLimitsConfig `yaml:"shard_limits"` // DirectPut only
	// DiskBudget is the DirectPut stream's part of the log, as a stream's
	// (0: its fair share of storage.disk_budget).
	DiskBudget Size `yaml:"disk_budget"` // DirectPut only
	// AtomicPuts is a stream's atomic_puts, for the DirectPut stream.
	AtomicPuts  bool              `yaml:"atomic_puts"` // DirectPut only
	Transforms  []TransformConfig `yaml:"transforms"`
	Buffer      BufferConfig      `yaml:"buffer"`
	Retry       RetryConfig       `yaml:"retry"`
	Destination DestinationConfig `yaml:"destination"`
	// MaxActivePartitions bounds the partition-key sets buffered at once
	// (Firehose's active partitions); records beyond go to the error output.
	MaxActivePartitions int `yaml:"max_active_partitions"` // 1..10000
	// Backup, when set, also writes every batch to a directory or bucket
	// (Firehose's S3 backup of all data).
	Backup *BackupConfig `yaml:"backup"`
	// Start is where the delivery starts reading a shard it has no
	// checkpoint of yet (see StartConfig).
	Start StartConfig `yaml:"start"`
}

// BackupConfig is where every batch is also written: exactly one of file, s3.
type BackupConfig struct {
	File *FileDestinationConfig `yaml:"file"`
	S3   *S3DestinationConfig   `yaml:"s3"`
}

// NewDefaultDeliveryConfig returns the delivery defaults (no name, no
// destination).
func NewDefaultDeliveryConfig() DeliveryConfig {
	return DeliveryConfig{Shards: 1, ShardLimits: DirectPutShardLimits(), Buffer: NewDefaultBufferConfig(), Retry: NewDefaultRetryConfig(),
		MaxActivePartitions: 500}
}

func (c *DeliveryConfig) setDefaults() { *c = NewDefaultDeliveryConfig() }

// DirectPut reports whether producers write to the delivery directly rather
// than through a declared stream.
func (d DeliveryConfig) DirectPut() bool { return d.Source == "" }

// SourceStream names the stream the delivery reads: Source, or for a
// DirectPut delivery its implicit stream, which has the delivery's name.
func (d DeliveryConfig) SourceStream() string {
	if d.DirectPut() {
		return d.Name
	}
	return d.Source
}

// TransformConfig is one step of a delivery's transform chain. In YAML it is
// a mapping with a "type" key; every other key goes to Options, which the
// transform registry validates.
type TransformConfig struct {
	Type    string
	Options map[string]any
}

// BufferConfig decides when a delivery flushes a batch: when Size is
// reached, when Interval has passed since the first buffered record, and at
// each time Schedule names. Interval 0 flushes as soon as records are read
// (Firehose's zero buffering). When a file sets schedule but not interval,
// ScheduleOnly is set and the schedule alone decides.
type BufferConfig struct {
	Size     Size     `yaml:"size"`     // 1MiB..128MiB
	Interval Duration `yaml:"interval"` // 0..900s; 0: flush as soon as records are read
	Schedule string   `yaml:"schedule"` // optional cron expression, see ParseSchedule
	// ScheduleOnly: schedule is set and interval is not; no interval flushes.
	ScheduleOnly bool `yaml:"-"`
}

// NewDefaultBufferConfig returns the buffer defaults.
func NewDefaultBufferConfig() BufferConfig {
	return BufferConfig{Size: 5 * MiB, Interval: Duration(60 * time.Second)}
}

// RetryConfig bounds how long a failing batch is retried.
type RetryConfig struct {
	Duration Duration `yaml:"duration"` // 0..24h
}

// NewDefaultRetryConfig returns the retry defaults.
func NewDefaultRetryConfig() RetryConfig {
	return RetryConfig{Duration: Duration(300 * time.Second)}
}

// DestinationConfig holds exactly one destination.
type DestinationConfig struct {
	File     *FileDestinationConfig     `yaml:"file"`
	S3       *S3DestinationConfig       `yaml:"s3"`
	Postgres *PostgresDestinationConfig `yaml:"postgres"`
	// Elasticsearch sends batches to Elasticsearch or OpenSearch with the
	// _bulk API.
	Elasticsearch *ElasticsearchDestinationConfig `yaml:"elasticsearch"`
	// HTTP posts batches to an HTTP endpoint by Firehose's HTTP endpoint
	// delivery specification.
	HTTP *HTTPDestinationConfig `yaml:"http"`
	// Iceberg appends batches to an Apache Iceberg table.
	Iceberg *IcebergDestinationConfig `yaml:"iceberg"`
}

// PostgresDestinationConfig loads batches into a table with COPY, each in
// one transaction with a ledger row, so that no batch is loaded twice.
type PostgresDestinationConfig struct {
	DSN              string          `yaml:"dsn"`   // postgres://user:pass@host:5432/db?sslmode=require; never printed
	Table            string          `yaml:"table"` // schema-qualified allowed
	Columns          PostgresColumns `yaml:"columns"`
	CreateTable      bool            `yaml:"create_table"`      // create the table from columns when absent
	MaxConns         int             `yaml:"max_conns"`         // pool size; 1..100
	StatementTimeout Duration        `yaml:"statement_timeout"` // per statement
}

// NewDefaultPostgresDestinationConfig returns the Postgres destination defaults.
func NewDefaultPostgresDestinationConfig() PostgresDestinationConfig {
	return PostgresDestinationConfig{MaxConns: 4, StatementTimeout: Duration(60 * time.Second)}
}

func (c *PostgresDestinationConfig) setDefaults() { *c = NewDefaultPostgresDestinationConfig() }

// String never shows the DSN, which holds the password.
func (c PostgresDestinationConfig) String() string {
	return fmt.Sprintf("{table %s, %d columns, auto %v}", c.Table, len(c.Columns.List), c.Columns.Auto)
}

// Values of ElasticsearchDestinationConfig.Flavor: which client library
// talks to the cluster.
const (
	FlavorElasticsearch = "elasticsearch" // go-elasticsearch
	FlavorOpenSearch    = "opensearch"    // opensearch-go
)

// Values of ElasticsearchDestinationConfig.IndexRotation, as Firehose's
// IndexRotationPeriod: the index name gets a suffix of the record's arrival
// time, -2006-01-02-15 (hour), -2006-01-02 (day), -2006-w01 (week) or
// -2006-01 (month).
const (
	IndexRotationNone  = "none"
	IndexRotationHour  = "hour"
	IndexRotationDay   = "day"
	IndexRotationWeek  = "week"
	IndexRotationMonth = "month"
)

// IndexRotationSuffixMax is the length of the longest index rotation
// suffix (-2006-01-02-15); a rotated index name leaves room for it.
const IndexRotationSuffixMax = 14

// MaxIndexNameBytes is the longest index name Elasticsearch accepts.
const MaxIndexNameBytes = 255

// Values of ElasticsearchDestinationConfig.DocumentID besides a JSON
// pointer.
const (
	DocumentIDNone = "none" // Elasticsearch assigns the _id
	DocumentIDAuto = "auto" // Hydrant assigns each record an _id that stays the same when its batch is retried
)

// Values of ElasticsearchDestinationConfig.Action: the bulk operation of
// each document.
const (
	BulkActionIndex  = "index"  // create or replace
	BulkActionCreate = "create" // create only; an existing _id is a conflict
)

// Values of ElasticsearchDestinationConfig.BackupMode, as Firehose's
// S3BackupMode.
const (
	BackupModeFailedOnly = "failed_only" // FailedDocumentsOnly
	BackupModeAll        = "all"         // AllDocuments: needs the delivery's backup
)

// ElasticsearchDestinationConfig sends batches to Elasticsearch or
// OpenSearch with the _bulk API.
type ElasticsearchDestinationConfig struct {
	Flavor    string   `yaml:"flavor"`    // FlavorElasticsearch (default) or FlavorOpenSearch
	Endpoints []string `yaml:"endpoints"` // at least one http:// or https:// URL
	Username  string   `yaml:"username"`  // basic auth, with Password
	Password  string   `yaml:"password"`  // never printed
	// APIKey is the base64 "id:api_key" credential, sent as
	// Authorization: ApiKey …; not together with Username. Never printed.
	APIKey         string                 `yaml:"api_key"`
	TLS            ElasticsearchTLSConfig `yaml:"tls"`
	Index          string                 `yaml:"index"`           // required; an Elasticsearch index name
	IndexRotation  string                 `yaml:"index_rotation"`  // IndexRotationNone (default), …Hour, …Day, …Week, …Month
	DocumentID     string                 `yaml:"document_id"`     // DocumentIDNone, DocumentIDAuto (default) or a JSON pointer such as /id
	Action         string                 `yaml:"action"`          // BulkActionIndex (default) or BulkActionCreate
	Pipeline       string                 `yaml:"pipeline"`        // optional ingest pipeline
	Compression    string                 `yaml:"compression"`     // of request bodies: CompressionNone (default) or CompressionGzip
	MaxBulkBytes   Size                   `yaml:"max_bulk_bytes"`  // largest bulk body before compression; 1KiB..100MiB
	RequestTimeout Duration               `yaml:"request_timeout"` // per bulk request; 1s..10m
	BackupMode     string                 `yaml:"backup_mode"`     // BackupModeFailedOnly (default) or BackupModeAll
}

// ElasticsearchTLSConfig is how https:// endpoints are trusted.
type ElasticsearchTLSConfig struct {
	CAFile             string `yaml:"ca_file"`              // PEM CA bundle; default the system's roots
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"` // accept any certificate
}

// NewDefaultElasticsearchDestinationConfig returns the Elasticsearch
// destination defaults.
func NewDefaultElasticsearchDestinationConfig() ElasticsearchDestinationConfig {
	return ElasticsearchDestinationConfig{
		Flavor:         FlavorElasticsearch,
		IndexRotation:  IndexRotationNone,
		DocumentID:     DocumentIDAuto,
		Action:         BulkActionIndex,
		Compression:    CompressionNone,
		MaxBulkBytes:   10 * MiB,
		RequestTimeout: Duration(60 * time.Second),
		BackupMode:     BackupModeFailedOnly,
	}
}

func (c *ElasticsearchDestinationConfig) setDefaults() {
	*c = NewDefaultElasticsearchDestinationConfig()
}

// String never shows the password or the API key, nor a password written
// in an endpoint URL.
func (c ElasticsearchDestinationConfig) String() string {
	type plain ElasticsearchDestinationConfig // no String method: no recursion
	if c.Password != "" {
		c.Password = "REDACTED"
	}
	if c.APIKey != "" {
		c.APIKey = "REDACTED"
	}
	endpoints := make([]string, len(c.Endpoints))
	for i, e := range c.Endpoints {
		endpoints[i] = e
		if u, err := url.Parse(e); err != nil {
			endpoints[i] = "REDACTED" // cannot tell where a password would be
		} else if u.User != nil {
			endpoints[i] = u.Redacted()
		}
	}
	c.Endpoints = endpoints
	return fmt.Sprintf("%+v", plain(c))
}

// PostgresColumns is either the word auto (map top-level JSON keys to the
// table's same-named columns, as Redshift's json 'auto') or a list.
type PostgresColumns struct {
	Auto bool
	List []PostgresColumnConfig
}

// PostgresColumnConfig maps a JSON pointer to a column of a type.
type PostgresColumnConfig struct {
	Name string `yaml:"name"`
	Path string `yaml:"path"` // default /<name>
	Type string `yaml:"type"` // text, bigint, integer, double, boolean, numeric, timestamptz, date, jsonb, uuid
}

// FileDestinationConfig writes batches as files under a local directory.
type FileDestinationConfig struct {
	Dir         string         `yaml:"dir"`          // required
	Prefix      string         `yaml:"prefix"`       // Firehose-style, e.g. "clicks/!{timestamp:yyyy/MM/dd}/"
	ErrorPrefix string         `yaml:"error_prefix"` // default DefaultErrorPrefix
	Compression string         `yaml:"compression"`  // JSON lines: none, gzip, zstd or snappy
	Format      string         `yaml:"format"`       // json (default) or parquet
	Parquet     *ParquetConfig `yaml:"parquet"`      // with format: parquet
}

// NewDefaultFileDestinationConfig returns the file destination defaults.
func NewDefaultFileDestinationConfig() FileDestinationConfig {
	return FileDestinationConfig{ErrorPrefix: DefaultErrorPrefix, Compression: CompressionNone, Format: FormatJSON}
}

// PostgresRetryDuration is the default retry duration of Postgres
// deliveries, as Firehose's for Redshift.
const PostgresRetryDuration = Duration(3600 * time.Second)

// ParquetBufferSize is the default buffer size of Parquet deliveries.
const ParquetBufferSize = 64 * MiB

// Format returns the output format of the destination.
func (d DestinationConfig) Format() string {
	switch {
	case d.File != nil:
		return d.File.Format
	case d.S3 != nil:
		return d.S3.Format
	}
	return ""
}

// Output formats of object destinations.
const (
	FormatJSON    = "json"
	FormatParquet = "parquet"
)

// CompressionSnappy is the snappy framing format, for JSON lines.
const CompressionSnappy = "snappy"

// ParquetConfig is Firehose's record format conversion: each flushed batch
// becomes one Parquet file with these columns.
type ParquetConfig struct {
	Schema       []ParquetColumnConfig `yaml:"schema"`
	Compression  string                `yaml:"compression"`    // uncompressed, snappy (default), gzip or zstd, inside the file
	RowGroupSize Size                  `yaml:"row_group_size"` // default 128MiB
	// TimestampFormats are tried in order on the strings of timestamp and
	// date columns before the default forms: Joda-Time patterns, or
	// epoch_seconds / epoch_millis (also "millis"), which set the unit of numbers.
	TimestampFormats []string `yaml:"timestamp_formats"`
	// SchemaAuto is schema: auto, the word instead of a list: each file's
	// columns are inferred from its batch's records (Schema is then empty).
	SchemaAuto bool `yaml:"-"`
}

func (c *ParquetConfig) setDefaults() {
	*c = ParquetConfig{Compression: "snappy", RowGroupSize: 128 * MiB}
}

// ParquetColumnConfig is one column: where its value is in each JSON record
// and its type.
type ParquetColumnConfig struct {
	Name     string `yaml:"name"`
	Type     string `yaml:"type"`     // string, int32, int64, float, double, boolean, timestamp_millis, timestamp_micros, date, decimal(p,s), json, struct, list, map
	Path     string `yaml:"path"`     // JSON pointer; default /<name> (top-level columns only)
	Required bool   `yaml:"required"` // a record without it goes to the error output
	// Nested columns: a struct's fields, a list's element, a map's key
	// (a scalar type, string by default) and value, each a column without a path.
	Fields  []ParquetColumnConfig `yaml:"fields"`
	Element *ParquetColumnConfig  `yaml:"element"`
	Key     *ParquetColumnConfig  `yaml:"key"`
	Value   *ParquetColumnConfig  `yaml:"value"`
}

func (c *FileDestinationConfig) setDefaults() { *c = NewDefaultFileDestinationConfig() }

// S3DestinationConfig writes batches as objects to an S3-compatible store.
type S3DestinationConfig struct {
	Endpoint        string         `yaml:"endpoint"` // http:// or https:// URL
	Region          string         `yaml:"region"`
	Bucket          string         `yaml:"bucket"`
	AccessKeyID     string         `yaml:"access_key_id"`
	SecretAccessKey string         `yaml:"secret_access_key"` // never printed
	Prefix          string         `yaml:"prefix"`
	ErrorPrefix     string         `yaml:"error_prefix"`
	Compression     string         `yaml:"compression"` // JSON lines: none, gzip, zstd or snappy
	Format          string         `yaml:"format"`      // json (default) or parquet
	Parquet         *ParquetConfig `yaml:"parquet"`     // with format: parquet
	SSE             string         `yaml:"sse"`         // server-side encryption: s3 (SSE-S3) or kms (SSE-KMS)
	SSEKMSKeyID     string         `yaml:"sse_kms_key_id"`
	SSECKey         string         `yaml:"sse_c_key"` // SSE-C: base64 of a 32-byte key; never printed
}

// NewDefaultS3DestinationConfig returns the S3 destination defaults.
func NewDefaultS3DestinationConfig() S3DestinationConfig {
	return S3DestinationConfig{Region: "us-east-1", ErrorPrefix: DefaultErrorPrefix, Compression: CompressionNone, Format: FormatJSON}
}

func (c *S3DestinationConfig) setDefaults() { *c = NewDefaultS3DestinationConfig() }

// ResolvedStream is a stream Hydrant serves: a declared stream, or the
// implicit stream of a DirectPut delivery.
type ResolvedStream struct {
	StreamConfig
	DirectPut bool
}

// ResolvedStreams returns the declared streams followed by one implicit
// stream per DirectPut delivery, named after the delivery, with its shards
// and shard limits and the default retention.
func (c *Config) ResolvedStreams() []ResolvedStream {
	out := make([]ResolvedStream, 0, len(c.Streams)+len(c.Deliveries))
	for _, s := range c.Streams {
		out = append(out, ResolvedStream{StreamConfig: s})
	}
	for _, d := range c.Deliveries {
		if !d.DirectPut() {
			continue
		}
		s := NewDefaultStreamConfig()
		s.Name, s.Shards = d.Name, d.Shards
		s.ShardLimits, s.DiskBudget, s.AtomicPuts = d.ShardLimits, d.DiskBudget, d.AtomicPuts
		out = append(out, ResolvedStream{StreamConfig: s, DirectPut: true})
	}
	return out
}

// File returns the file name the Config was loaded from.
func (c *Config) File() string { return c.file }

// Line returns the line path is written on, or the line of its nearest
// written parent when the path itself is absent (0 for a Config that was not
// loaded from a file). Paths look like deliveries[0].buffer.size; the keys
// of transform options are paths too: deliveries[0].transforms[1].field.
func (c *Config) Line(path string) int { return c.position(path).line }

// Errorf returns a FieldError for path positioned like Line, so that other
// packages can report problems they find in the config (an unknown transform
// option, say) the same way the loader does. Combine them with NewError.
func (c *Config) Errorf(path, format string, args ...any) FieldError {
	return c.fieldError(path, fmt.Sprintf(format, args...))
}

func (c *Config) fieldError(path, msg string) FieldError {
	p := c.position(path)
	return FieldError{File: c.file, Line: p.line, Column: p.col, Path: path, Message: msg}
}

func (c *Config) position(path string) position {
	for {
		if p, ok := c.pos[path]; ok {
			return p
		}
		if path == "" {
			return position{}
		}
		path = parentPath(path)
	}
}

// written reports whether path is a key present in the loaded file.
func (c *Config) written(path string) bool {
	_, ok := c.pos[path]
	return ok
}

// String prints the S3 settings with the secret key redacted, so that
// logging a config cannot leak it.
func (c S3DestinationConfig) String() string {
	type plain S3DestinationConfig // no String method: no recursion
	if c.SecretAccessKey != "" {
		c.SecretAccessKey = "REDACTED"
	}
	if c.SSECKey != "" {
		c.SSECKey = "REDACTED"
	}
	return fmt.Sprintf("%+v", plain(c))
}

// String prints the storage settings with the encryption key and the NATS
// secrets redacted.
func (c StorageConfig) String() string {
	type plain StorageConfig
	if c.EncryptionKey != "" {
		c.EncryptionKey = "REDACTED"
	}
	return fmt.Sprintf("%+v", plain(c))
}
