package config

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Each Validate method checks one struct on its own and returns FieldErrors
// whose paths are relative to it; (*Config).Validate prefixes the paths and
// positions the errors. Messages say what would be valid.

// Validate checks the whole configuration, including the references between
// streams and deliveries. It returns a plain nil or an *Error. Parse and Load
// call it; call it again after building or changing a Config in code.
func (c *Config) Validate() error {
	return NewError(c.validate())
}

// validate returns every semantic problem, positioned.
func (c *Config) validate() []FieldError {
	var errs fieldErrors
	errs.addAll("server", c.Server.Validate())
	errs.addAll("storage", c.Storage.Validate())
	for i, s := range c.Streams {
		errs.addAll(indexPath("streams", i), s.Validate())
	}
	for i, d := range c.Deliveries {
		errs.addAll(indexPath("deliveries", i), d.Validate())
	}
	for i, a := range c.Analytics {
		errs.addAll(indexPath("analytics", i), a.Validate())
	}
	errs.addAll("firehose_api", c.FirehoseAPI.Validate())
	errs = append(errs, c.validateReferences()...)
	errs = append(errs, c.validateAnalytics()...)
	out := make([]FieldError, len(errs))
	for i, fe := range errs {
		out[i] = c.fieldError(fe.Path, fe.Message)
	}
	return out
}

// validateReferences checks what no single struct can: names are unique
// across streams and deliveries, sources name declared streams, and only
// DirectPut deliveries set shards.
func (c *Config) validateReferences() []FieldError {
	var errs fieldErrors
	if len(c.Streams) == 0 && len(c.Deliveries) == 0 {
		errs.add("", "at least one of streams, deliveries must be declared")
	}
	owner := map[string]string{} // name -> path of its first use
	claim := func(path, name string) {
		if name == "" {
			return
		}
		if first, ok := owner[name]; ok {
			errs.add(path+".name", "name %q is already used by %s", name, first)
			return
		}
		owner[name] = path
	}
	var streams []string
	for i, s := range c.Streams {
		claim(indexPath("streams", i), s.Name)
		if s.Name != "" && !slices.Contains(streams, s.Name) {
			streams = append(streams, s.Name)
		}
	}
	declared := "no streams are declared"
	if len(streams) > 0 {
		declared = "declared: " + strings.Join(streams, ", ")
	}
	for i, d := range c.Deliveries {
		p := indexPath("deliveries", i)
		claim(p, d.Name)
		if d.DirectPut() {
			continue
		}
		if !slices.Contains(streams, d.Source) {
			errs.add(p+".source", "unknown stream %q (%s)", d.Source, declared)
		}
		if c.written(p+".shards") || d.Shards > 1 {
			errs.add(p+".shards", "only valid without source; a delivery reading stream %q uses that stream's shards", d.Source)
		}
	}
	resolved, total := c.ResolvedStreams(), 0
	for _, rs := range resolved {
		total += rs.Shards
	}
	if len(resolved) > c.Storage.MaxStreams {
		errs.add("storage.max_streams", "the config declares %d streams (DirectPut deliveries included), more than max_streams (%d): raise it", len(resolved), c.Storage.MaxStreams)
	}
	if total > c.Storage.MaxShards {
		errs.add("storage.max_shards", "the config's streams have %d shards in all, more than max_shards (%d): raise it", total, c.Storage.MaxShards)
	}
	for i, d := range c.Deliveries {
		if ice := d.Destination.Iceberg; ice != nil && c.Storage.NATS != nil && ice.CatalogType() == IcebergCatalogSQLite {
			errs.add(indexPath("deliveries", i)+".destination.iceberg.catalog",
				"sqlite is one node's catalog, and with storage.nats the shards are read on every node: use catalog: postgres or rest")
		}
	}
	return errs
}

// validateAnalytics checks the applications' names and the streams they
// read and write.
func (c *Config) validateAnalytics() []FieldError {
	var errs fieldErrors
	var sources, declared []string
	for _, rs := range c.ResolvedStreams() {
		sources = append(sources, rs.Name)
		if !rs.DirectPut {
			declared = append(declared, rs.Name)
		}
	}
	names := map[string]string{}
	for i, a := range c.Analytics {
		p := indexPath("analytics", i)
		if first, ok := names[a.Name]; ok && a.Name != "" {
			errs.add(p+".name", "name %q is already used by %s", a.Name, first)
		}
		names[a.Name] = p
		if !slices.Contains(sources, a.Source) {
			errs.add(p+".source", "unknown stream %q (streams: %s)", a.Source, strings.Join(sources, ", "))
		}
		switch {
		case a.Output.Stream == "":
		case a.Output.Stream == a.Source:
			errs.add(p+".output.stream", "must not be the source: the results would be read again")
		case !slices.Contains(declared, a.Output.Stream):
			errs.add(p+".output.stream", "unknown stream %q (declared: %s)", a.Output.Stream, strings.Join(declared, ", "))
		}
	}
	return errs
}

// Validate checks the server settings.
func (c ServerConfig) Validate() []FieldError {
	var errs fieldErrors
	if !validHostPort(c.Listen) {
		errs.add("listen", "must be host:port with a port from 0 to 65535, e.g. 127.0.0.1:4545")
	}
	between(&errs, "max_request_size", c.MaxRequestSize, MiB, 256*MiB)
	if between(&errs, "max_record_size", c.MaxRecordSize, KiB, 10*MiB) && c.MaxRecordSize > c.MaxRequestSize {
		errs.add("max_record_size", "must not exceed max_request_size (%v)", c.MaxRequestSize)
	}
	// A body counts twice, and large requests may take three quarters.
	if between(&errs, "max_in_flight_bytes", c.MaxInFlightBytes, 16*MiB, TiB) && c.MaxInFlightBytes < 3*c.MaxRequestSize {
		errs.add("max_in_flight_bytes", "must be at least 3 × max_request_size (%v), or the largest request never fits", 3*c.MaxRequestSize)
	}
	between(&errs, "max_connections", c.MaxConnections, 16, 1_000_000)
	seen := map[string]bool{}
	for i, cred := range c.Auth.AWS {
		p := fmt.Sprintf("auth.aws[%d]", i)
		if cred.AccessKeyID == "" {
			errs.add(p+".access_key_id", "required")
		} else if seen[cred.AccessKeyID] {
			errs.add(p+".access_key_id", "%q is listed twice", cred.AccessKeyID)
		}
		seen[cred.AccessKeyID] = true
		if cred.SecretAccessKey == "" {
			errs.add(p+".secret_access_key", "required")
		}
		c.Auth.checkPolicyNames(&errs, p, cred.Policies)
	}
	for i, k := range c.Auth.APIKeys {
		p := fmt.Sprintf("auth.api_keys[%d]", i)
		if len(k.Key) < 16 {
			errs.add(p+".key", "must be at least 16 characters")
		}
		c.Auth.checkPolicyNames(&errs, p, k.Policies)
		if len(k.Streams) == 0 && len(k.Policies) == 0 {
			errs.add(p+".streams", "required (unless policies are given): stream name globs such as \"clicks-*\" or \"*\"")
		}
		for j, g := range k.Streams {
			if _, err := path.Match(g, ""); err != nil || g == "" {
				errs.add(fmt.Sprintf("%s.streams[%d]", p, j), "%q is not a valid glob", g)
			}
		}
		if len(k.Actions) == 0 && len(k.Streams) > 0 {
			errs.add(p+".actions", "required: one or more of put, read, admin")
		}
		for j, a := range k.Actions {
			oneOf(&errs, fmt.Sprintf("%s.actions[%d]", p, j), a, "put", "read", "admin")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Auth.Policies)) {
		p := "auth.policies." + name
		if !validPolicyName(name) {
			errs.add(p, "policy names are 1-64 of a-z A-Z 0-9 _ . -")
		}
		if len(c.Auth.Policies[name]) == 0 {
			errs.add(p, "a policy needs at least one statement: {effect: allow, actions: [kinesis:PutRecords], resources: [\"*\"]}")
		}
		for i, st := range c.Auth.Policies[name] {
			st.validate(&errs, fmt.Sprintf("%s[%d]", p, i))
		}
	}
	if c.TLS != nil {
		if c.TLS.CertFile == "" {
			errs.add("tls.cert_file", "required")
		}
		if c.TLS.KeyFile == "" {
			errs.add("tls.key_file", "required")
		}
	}
	return errs
}

// checkPolicyNames checks that names are policies of a.
func (a AuthConfig) checkPolicyNames(errs *fieldErrors, path string, names []string) {
	for j, n := range names {
		if _, ok := a.Policies[n]; !ok {
			errs.add(fmt.Sprintf("%s.policies[%d]", path, j), "no policy %q in server.auth.policies (have: %v)",
				n, slices.Sorted(maps.Keys(a.Policies)))
		}
	}
}

func validPolicyName(s string) bool {
	return s != "" && len(s) <= 64 && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-')
	})
}

// validate checks one statement as IAM would take it.
func (s PolicyStatementConfig) validate(errs *fieldErrors, path string) {
	oneOf(errs, path+".effect", strings.ToLower(s.Effect), "allow", "deny")
	if len(s.Actions) == 0 {
		errs.add(path+".actions", "required, e.g. [kinesis:PutRecords] or [\"kinesis:*\"]")
	}
	for j, a := range s.Actions {
		svc, name, ok := strings.Cut(a, ":")
		if a != "*" && (!ok || name == "" || !slices.Contains([]string{"kinesis", "firehose", "hydrant"}, strings.ToLower(svc))) {
			errs.add(fmt.Sprintf("%s.actions[%d]", path, j), "%q is not an action: use service:Action with service kinesis, firehose or hydrant, e.g. kinesis:PutRecords, firehose:*, or *", a)
		}
	}
	if len(s.Resources) == 0 {
		errs.add(path+".resources", "required, e.g. [\"arn:aws:kinesis:*:*:stream/clicks-*\"] or [\"*\"]")
	}
	for j, r := range s.Resources {
		if r != "*" && !strings.HasPrefix(r, "arn:") {
			errs.add(fmt.Sprintf("%s.resources[%d]", path, j), "%q is not an ARN glob: use e.g. arn:aws:kinesis:*:*:stream/clicks-*, arn:aws:firehose:*:*:deliverystream/events, or *", r)
		}
	}
}

// Validate checks the storage settings.
func (c StorageConfig) Validate() []FieldError {
	var errs fieldErrors
	if c.DataDir == "" {
		errs.add("data_dir", "required")
	}
	oneOf(&errs, "fsync", c.Fsync, FsyncAlways, FsyncInterval)
	between(&errs, "fsync_interval", c.FsyncInterval, Duration(time.Millisecond), Duration(10*time.Minute))
	between(&errs, "max_streams", c.MaxStreams, 1, 100_000)
	between(&errs, "max_shards", c.MaxShards, 1, 1_000_000)
	if c.DiskBudget != 0 {
		between(&errs, "disk_budget", c.DiskBudget, MiB, 1024*TiB)
	}
	between(&errs, "buffer_memory", c.BufferMemory, MiB, TiB)
	if c.NATS != nil {
		errs.addAll("nats", c.NATS.Validate())
		if c.EncryptionKey != "" {
			errs.add("encryption_key", "cannot be combined with nats: on a NATS cluster, encryption at rest is the servers' setting (JetStream's cipher and key in their config)")
		}
	}
	return errs
}

// Validate checks one stream on its own.
func (c StreamConfig) Validate() []FieldError {
	var errs fieldErrors
	checkName(&errs, "name", c.Name)
	between(&errs, "shards", c.Shards, 1, 1024)
	between(&errs, "retention", c.Retention, Duration(time.Minute), Duration(8760*time.Hour))
	errs.addAll("shard_limits", c.ShardLimits.Validate())
	if c.DiskBudget != 0 {
		between(&errs, "disk_budget", c.DiskBudget, MiB, 1024*TiB)
	}
	if c.Capacity != "" && c.Capacity != "provisioned" && c.Capacity != "on_demand" {
		errs.add("capacity", "must be provisioned or on_demand, not %q", c.Capacity)
	}
	if c.PartitionKeyField != "" && !validJSONPointer(c.PartitionKeyField) {
		errs.add("partition_key_field", `must be a JSON pointer (RFC 6901) starting with "/", e.g. /user_id`)
	}
	return errs
}

// Validate checks the per-shard quota.
func (c ShardLimitsConfig) Validate() []FieldError {
	var errs fieldErrors
	between(&errs, "bytes_per_second", c.BytesPerSecond, KiB, GiB)
	between(&errs, "records_per_second", c.RecordsPerSecond, 1, 1_000_000)
	return errs
}

// Validate checks one delivery on its own; that its source exists and its
// name is unique is checked by (*Config).Validate.
func (c DeliveryConfig) Validate() []FieldError {
	var errs fieldErrors
	checkName(&errs, "name", c.Name)
	if c.DiskBudget != 0 {
		between(&errs, "disk_budget", c.DiskBudget, MiB, 1024*TiB)
	}
	if c.DirectPut() {
		between(&errs, "shards", c.Shards, 1, 1024)
		errs.addAll("shard_limits", c.ShardLimits.Validate())
	} else if c.ShardLimits != DirectPutShardLimits() {
		errs.add("shard_limits", "only a DirectPut delivery has shard limits; this one reads %s, whose shard_limits apply", c.Source)
	}
	if !c.DirectPut() && c.AtomicPuts {
		errs.add("atomic_puts", "only a DirectPut delivery takes puts; set atomic_puts on stream %s", c.Source)
	}
	for i, t := range c.Transforms {
		errs.addAll(indexPath("transforms", i), t.Validate())
	}
	errs.addAll("buffer", c.Buffer.Validate())
	errs.addAll("retry", c.Retry.Validate())
	errs.addAll("destination", c.Destination.Validate())
	between(&errs, "max_active_partitions", c.MaxActivePartitions, 1, 10000)
	errs.addAll("start", c.Start.Validate())
	if es := c.Destination.Elasticsearch; es != nil && es.BackupMode == BackupModeAll && c.Backup == nil {
		errs.add("destination.elasticsearch.backup_mode", "all needs the delivery's backup (file or s3) to be set")
	}
	if h := c.Destination.HTTP; h != nil && h.BackupMode == BackupModeAll && c.Backup == nil {
		errs.add("destination.http.backup_mode", "all needs the delivery's backup (file or s3) to be set")
	}
	if b := c.Backup; b != nil {
		if (b.File == nil) == (b.S3 == nil) {
			errs.add("backup", "exactly one of file, s3 must be set")
		}
		if b.File != nil {
			errs.addAll("backup.file", b.File.Validate())
		}
		if b.S3 != nil {
			errs.addAll("backup.s3", b.S3.Validate())
		}
	}
	return errs
}

// Validate checks that the transform names a type; its options are the
// transform registry's to check.
func (c TransformConfig) Validate() []FieldError {
	var errs fieldErrors
	if c.Type == "" {
		errs.add("type", "required")
	}
	return errs
}

// Validate checks the flush triggers.
func (c BufferConfig) Validate() []FieldError {
	var errs fieldErrors
	between(&errs, "size", c.Size, MiB, 128*MiB)
	between(&errs, "interval", c.Interval, 0, Duration(900*time.Second))
	if c.Schedule != "" {
		if _, err := ParseSchedule(c.Schedule); err != nil {
			errs.add("schedule", "invalid cron expression: %v (want e.g. \"0 * * * *\", @hourly or @every 5m)", err)
		}
	}
	return errs
}

// ParseSchedule parses a buffer schedule the way the config is validated:
// a standard 5-field cron expression or a descriptor such as @hourly or
// @every 5m, optionally preceded by CRON_TZ=Zone.
func ParseSchedule(expr string) (sched cron.Schedule, err error) {
	if (strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=")) && !strings.Contains(expr, " ") {
		return nil, fmt.Errorf("a time zone must be followed by a space and a schedule")
	}
	defer func() { // cron has panicked on malformed input before; bad config must not crash
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("cannot parse %q", expr)
		}
	}()
	return cron.ParseStandard(expr)
}

// Validate checks the retry bound.
func (c RetryConfig) Validate() []FieldError {
	var errs fieldErrors
	between(&errs, "duration", c.Duration, 0, Duration(24*time.Hour))
	return errs
}

// Validate checks that exactly one destination is set, and that one.
func (c DestinationConfig) Validate() []FieldError {
	var errs fieldErrors
	set := 0
	for _, d := range []bool{c.File != nil, c.S3 != nil, c.Postgres != nil, c.Elasticsearch != nil, c.HTTP != nil, c.Iceberg != nil} {
		if d {
			set++
		}
	}
	if set != 1 {
		errs.add("", "exactly one of file, s3, postgres, elasticsearch, http, iceberg must be set")
	}
	if c.Postgres != nil {
		errs.addAll("postgres", c.Postgres.Validate())
	}
	if c.Elasticsearch != nil {
		errs.addAll("elasticsearch", c.Elasticsearch.Validate())
	}
	if c.HTTP != nil {
		errs.addAll("http", c.HTTP.Validate())
	}
	if c.Iceberg != nil {
		errs.addAll("iceberg", c.Iceberg.Validate())
	}
	if c.File != nil {
		errs.addAll("file", c.File.Validate())
	}
	if c.S3 != nil {
		errs.addAll("s3", c.S3.Validate())
	}
	return errs
}

// Validate checks the file destination.
func (c FileDestinationConfig) Validate() []FieldError {
	var errs fieldErrors
	if c.Dir == "" {
		errs.add("dir", "required")
	}
	validateFormat(&errs, c.Format, c.Compression, c.Parquet)
	return errs
}

// validateFormat checks an object destination's format settings.
func validateFormat(errs *fieldErrors, format, compression string, pq *ParquetConfig) {
	oneOf(errs, "format", format, FormatJSON, FormatParquet)
	oneOf(errs, "compression", compression, CompressionNone, CompressionGzip, CompressionZstd, CompressionSnappy)
	switch {
	case format == FormatParquet && pq == nil:
		errs.add("parquet", "required with format: parquet (a schema of columns)")
	case format != FormatParquet && pq != nil:
		errs.add("parquet", "only valid with format: parquet")
	}
	if format == FormatParquet && compression != CompressionNone {
		errs.add("compression", "must be none with format: parquet: Parquet compresses inside the file (parquet.compression)")
	}
	if pq == nil {
		return
	}
	if len(pq.Schema) == 0 && !pq.SchemaAuto {
		errs.add("parquet.schema", "required: auto, or a list of columns {name, type, path, required}")
	}
	for i, col := range pq.Schema {
		p := fmt.Sprintf("parquet.schema[%d]", i)
		if col.Name == "" {
			errs.add(p+".name", "required")
		}
		if col.Type == "" {
			errs.add(p+".type", "required")
		}
	}
	oneOf(errs, "parquet.compression", pq.Compression, "uncompressed", "snappy", "gzip", "zstd")
	between(errs, "parquet.row_group_size", pq.RowGroupSize, MiB, GiB)
}

// Validate checks the S3 destination. It never puts the secret key in a
// message.
func (c S3DestinationConfig) Validate() []FieldError {
	var errs fieldErrors
	if c.Endpoint == "" {
		errs.add("endpoint", "required")
	} else if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs.add("endpoint", "must be a URL with an http:// or https:// scheme, e.g. http://127.0.0.1:9000")
	}
	if c.Region == "" {
		errs.add("region", "required")
	}
	if c.Bucket == "" {
		errs.add("bucket", "required")
	} else if !validBucket(c.Bucket) {
		errs.add("bucket", "must be 3 to 63 characters from a-z, 0-9, '.', '-', starting and ending with a letter or digit")
	}
	if c.AccessKeyID != "" && c.SecretAccessKey == "" {
		errs.add("secret_access_key", "required when access_key_id is set")
	}
	if c.AccessKeyID == "" && c.SecretAccessKey != "" {
		errs.add("access_key_id", "required when secret_access_key is set")
	}
	validateFormat(&errs, c.Format, c.Compression, c.Parquet)
	if c.SSE != "" {
		oneOf(&errs, "sse", c.SSE, "s3", "kms")
	}
	if c.SSEKMSKeyID != "" && c.SSE != "kms" {
		errs.add("sse_kms_key_id", "only valid with sse: kms")
	}
	if c.SSECKey != "" {
		if c.SSE != "" {
			errs.add("sse_c_key", "cannot be combined with sse")
		}
		if k, err := base64.StdEncoding.DecodeString(c.SSECKey); err != nil || len(k) != 32 {
			errs.add("sse_c_key", "must be the base64 encoding of a 32-byte key")
		}
		if !strings.HasPrefix(c.Endpoint, "https://") {
			errs.add("sse_c_key", "needs an https:// endpoint: S3 refuses SSE-C keys over plain HTTP")
		}
	}
	return errs
}

// between reports whether lo <= v <= hi, adding an error when not.
func between[T cmp.Ordered](errs *fieldErrors, path string, v, lo, hi T) bool {
	if v < lo || v > hi {
		errs.add(path, "must be between %v and %v", lo, hi)
		return false
	}
	return true
}

func oneOf(errs *fieldErrors, path, v string, valid ...string) {
	if !slices.Contains(valid, v) {
		errs.add(path, "must be one of %s", strings.Join(valid, ", "))
	}
}

func checkName(errs *fieldErrors, path, name string) {
	if name == "" {
		errs.add(path, "required")
		return
	}
	ok := len(name) <= 64
	for _, r := range name {
		ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-')
	}
	if !ok {
		errs.add(path, "must be 1 to 64 characters from a-z, A-Z, 0-9, '_', '.', '-'")
	}
}

func validHostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err == nil
}

// validJSONPointer checks RFC 6901 syntax: "/" then reference tokens in
// which "~" is always followed by 0 or 1.
func validJSONPointer(s string) bool {
	if !strings.HasPrefix(s, "/") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '~' && (i+1 == len(s) || (s[i+1] != '0' && s[i+1] != '1')) {
			return false
		}
	}
	return true
}

func validBucket(s string) bool {
	if len(s) < 3 || len(s) > 63 {
		return false
	}
	alnum := func(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }
	for i := 0; i < len(s); i++ {
		if !alnum(s[i]) && s[i] != '.' && s[i] != '-' {
			return false
		}
	}
	return alnum(s[0]) && alnum(s[len(s)-1])
}

// Validate checks the settings of API-created deliveries.
func (c FirehoseAPIConfig) Validate() []FieldError {
	var errs fieldErrors
	between(&errs, "shards", c.Shards, 1, 1024)
	for i, b := range c.AllowedBuckets {
		bucket, _, _ := strings.Cut(b, "/")
		if bucket == "" || strings.ContainsAny(bucket, "*?") {
			errs.add(fmt.Sprintf("allowed_buckets[%d]", i), "%q: name a bucket, optionally with a prefix glob after /, e.g. logs or logs/team-a/*", b)
		}
	}
	if s := c.S3; s != nil {
		if u, err := url.Parse(s.Endpoint); s.Endpoint == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs.add("s3.endpoint", "must be a URL with an http:// or https:// scheme, e.g. http://127.0.0.1:9000")
		}
		if s.Region == "" {
			errs.add("s3.region", "required")
		}
		if (s.AccessKeyID == "") != (s.SecretAccessKey == "") {
			errs.add("s3.secret_access_key", "access_key_id and secret_access_key go together")
		}
	}
	return errs
}

// Validate checks the Postgres destination. It never puts the DSN in a
// message: it holds the password.
func (c PostgresDestinationConfig) Validate() []FieldError {
	var errs fieldErrors
	if c.DSN == "" {
		errs.add("dsn", "required, e.g. postgres://user:password@host:5432/db?sslmode=require")
	}
	if c.Table == "" {
		errs.add("table", "required")
	}
	if !c.Columns.Auto && len(c.Columns.List) == 0 {
		errs.add("columns", "required: auto, or a list of {name, path, type}")
	}
	if c.Columns.Auto && c.CreateTable {
		errs.add("create_table", "needs a list of columns, not auto")
	}
	for i, col := range c.Columns.List {
		p := fmt.Sprintf("columns[%d]", i)
		if col.Name == "" {
			errs.add(p+".name", "required")
		}
		oneOf(&errs, p+".type", col.Type, "text", "bigint", "integer", "double", "boolean", "numeric", "timestamptz", "date", "jsonb", "uuid")
	}
	between(&errs, "max_conns", c.MaxConns, 1, 100)
	between(&errs, "statement_timeout", c.StatementTimeout, Duration(time.Second), Duration(time.Hour))
	return errs
}

// Validate checks the Elasticsearch destination on its own; that
// backup_mode: all has a backup to write to is checked by the delivery. It
// never puts the password or the API key in a message.
func (c ElasticsearchDestinationConfig) Validate() []FieldError {
	var errs fieldErrors
	oneOf(&errs, "flavor", c.Flavor, FlavorElasticsearch, FlavorOpenSearch)
	if len(c.Endpoints) == 0 {
		errs.add("endpoints", "required: a list of http:// or https:// URLs, e.g. [http://127.0.0.1:9200]")
	}
	for i, e := range c.Endpoints {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs.add(indexPath("endpoints", i), "must be a URL with an http:// or https:// scheme, e.g. http://127.0.0.1:9200")
		}
	}
	if c.Password != "" && c.Username == "" {
		errs.add("username", "required when password is set")
	}
	if c.Username != "" && c.Password == "" {
		errs.add("password", "required when username is set")
	}
	if c.Username != "" && c.APIKey != "" {
		errs.add("api_key", "cannot be combined with username: use either basic auth or an API key")
	}
	if c.TLS.CAFile != "" {
		if err := readableFile(c.TLS.CAFile); err != nil {
			errs.add("tls.ca_file", "must name a readable PEM file (%v)", err)
		}
	}
	oneOf(&errs, "index_rotation", c.IndexRotation, IndexRotationNone, IndexRotationHour, IndexRotationDay, IndexRotationWeek, IndexRotationMonth)
	if c.Index == "" {
		errs.add("index", "required")
	} else {
		for _, problem := range indexNameProblems(c.Index, c.IndexRotation) {
			errs.add("index", "%s", problem)
		}
	}
	if c.DocumentID != DocumentIDNone && c.DocumentID != DocumentIDAuto && !validJSONPointer(c.DocumentID) {
		errs.add("document_id", `must be none, auto or a JSON pointer (RFC 6901) starting with "/", e.g. /id`)
	}
	oneOf(&errs, "action", c.Action, BulkActionIndex, BulkActionCreate)
	oneOf(&errs, "compression", c.Compression, CompressionNone, CompressionGzip)
	between(&errs, "max_bulk_bytes", c.MaxBulkBytes, KiB, 100*MiB)
	between(&errs, "request_timeout", c.RequestTimeout, Duration(time.Second), Duration(10*time.Minute))
	oneOf(&errs, "backup_mode", c.BackupMode, BackupModeFailedOnly, BackupModeAll)
	return errs
}

// indexNameProblems returns what is wrong with index as an Elasticsearch
// index name, leaving room for the date suffix when the index rotates.
func indexNameProblems(index, rotation string) []string {
	var out []string
	if strings.ToLower(index) != index {
		out = append(out, "must be lowercase")
	}
	if strings.ContainsAny(index, `\/*?"<>|,#: `) {
		out = append(out, `must not contain spaces or any of \ / * ? " < > | , # :`)
	}
	if strings.HasPrefix(index, "-") || strings.HasPrefix(index, "_") || strings.HasPrefix(index, "+") {
		out = append(out, "must not start with -, _ or +")
	}
	if index == "." || index == ".." {
		out = append(out, "must not be . or ..")
	}
	switch limit := MaxIndexNameBytes - IndexRotationSuffixMax; {
	case rotation != IndexRotationNone && len(index) > limit:
		out = append(out, fmt.Sprintf("must be at most %d bytes with index_rotation: %s, to leave room for the date suffix within Elasticsearch's %d", limit, rotation, MaxIndexNameBytes))
	case len(index) > MaxIndexNameBytes:
		out = append(out, fmt.Sprintf("must be at most %d bytes", MaxIndexNameBytes))
	}
	return out
}

// readableFile returns why path cannot be opened and read as a file, or nil.
func readableFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	return nil
}
