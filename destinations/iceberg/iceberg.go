package iceberg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	"github.com/apache/iceberg-go/io"
	_ "github.com/apache/iceberg-go/io/gocloud" // registers the s3:// file IO
	"github.com/apache/iceberg-go/table"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, without cgo

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
)

// ErrorType is the error output type of records that did not convert.
const ErrorType = "iceberg-failed"

// CodeConversionFailed is the error code of records that did not convert.
const CodeConversionFailed = "Iceberg.ConversionFailed"

// Snapshot summary properties naming what a commit appended.
const (
	SummaryDelivery      = "hydrant.delivery"
	SummaryShard         = "hydrant.shard"
	SummaryFirstSequence = "hydrant.first-sequence"
	SummaryLastSequence  = "hydrant.last-sequence"
)

// Destination appends batches to an Iceberg table, each batch once.
type Destination struct {
	cfg   Config
	db    *sql.DB // the SQL catalog's; nil with a REST catalog
	ident table.Identifier
	props iceberg.Properties

	// commit serializes this process's commits to the table: its shards'
	// batches would otherwise race each other's commits and retry.
	commit  sync.Mutex
	mu      sync.Mutex // serializes Start
	cat     catalog.Catalog
	schema  *arrow.Schema // the table's, fields in maps' order
	maps    []mapping
	started bool
	close   sync.Once
}

// Open checks cfg without connecting: its errors are configuration errors,
// destinations.Permanent. The catalog is first reached by Start.
func Open(cfg Config) (*Destination, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, destinations.Permanent(fmt.Errorf("iceberg: %w", err))
	}
	props := iceberg.Properties{}
	set := func(k, v string) {
		if v != "" {
			props[k] = v
		}
	}
	set("warehouse", cfg.Warehouse)
	set(io.S3EndpointURL, cfg.Endpoint)
	set(io.S3Region, cfg.Region)
	set(io.S3AccessKeyID, cfg.AccessKeyID)
	set(io.S3SecretAccessKey, cfg.SecretAccessKey)
	maps.Copy(props, cfg.Properties)
	d := &Destination{cfg: cfg, ident: table.Identifier{cfg.Namespace, cfg.Table}, props: props}
	switch cfg.Catalog {
	case CatalogPostgres:
		pc, err := pgx.ParseConfig(cfg.DSN)
		if err != nil {
			return nil, destinations.Permanent(errors.New("iceberg: dsn: does not parse: want postgres://user:password@host:5432/db"))
		}
		d.db = stdlib.OpenDB(*pc)
	case CatalogSQLite:
		db, err := openSQLite(cfg.SQLitePath)
		if err != nil {
			return nil, destinations.Permanent(fmt.Errorf("iceberg: sqlite_path: %w", err))
		}
		d.db = db
	}
	return d, nil
}

// openSQLite opens the SQLite catalog file, creating its folder. One
// connection: SQLite takes one writer at a time, and commits wait for
// another process's (busy_timeout) rather than fail.
func openSQLite(path string) (*sql.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// New opens the destination and starts it: the catalog must be reachable.
func New(ctx context.Context, cfg Config) (*Destination, error) {
	d, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	if err := d.Start(ctx); err != nil {
		d.Close(ctx)
		return nil, err
	}
	return d, nil
}

// Start reaches the catalog, creates its tables when absent, creates the
// namespace and table when Config.CreateTable, and checks that the table's
// columns are the configured ones. Once it has succeeded it returns nil at
// once. A connection error is retryable; a missing or mismatched table is
// destinations.Permanent.
func (d *Destination) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return nil
	}
	if d.cat == nil {
		cat, err := d.connect(ctx)
		if err != nil {
			return err
		}
		d.cat = cat
	}
	tbl, err := d.cat.LoadTable(ctx, d.ident)
	if errors.Is(err, catalog.ErrNoSuchTable) && d.cfg.CreateTable {
		tbl, err = d.create(ctx)
	}
	if err == nil && d.cfg.SchemaEvolution == SchemaEvolutionAddColumns {
		tbl, err = d.addColumns(ctx, tbl)
	}
	if errors.Is(err, catalog.ErrNoSuchTable) {
		return destinations.Permanent(fmt.Errorf("iceberg: table %s does not exist: create it or set create_table: true", d.name()))
	}
	if err != nil {
		return fmt.Errorf("iceberg: table %s: %w", d.name(), err)
	}
	if err := d.bind(tbl); err != nil {
		return destinations.Permanent(fmt.Errorf("iceberg: table %s: %w", d.name(), err))
	}
	d.started = true
	return nil
}

// connect reaches the catalog. Every error is retryable: a database or
// server that is down now may be up on the next try.
func (d *Destination) connect(ctx context.Context) (catalog.Catalog, error) {
	if d.cfg.Catalog == CatalogREST {
		r := d.cfg.REST
		opts := []rest.Option{rest.WithAdditionalProps(d.props)}
		if r.Credential != "" {
			opts = append(opts, rest.WithCredential(r.Credential))
		}
		if r.Token != "" {
			opts = append(opts, rest.WithOAuthToken(r.Token))
		}
		if r.Scope != "" {
			opts = append(opts, rest.WithScope(r.Scope))
		}
		if r.Warehouse != "" {
			opts = append(opts, rest.WithWarehouseLocation(r.Warehouse))
		}
		if r.AuthURI != "" {
			u, err := url.Parse(r.AuthURI)
			if err != nil {
				return nil, destinations.Permanent(fmt.Errorf("iceberg: rest.auth_uri: %w", err))
			}
			opts = append(opts, rest.WithAuthURI(u))
		}
		cat, err := rest.NewCatalog(ctx, d.cfg.CatalogName, r.URI, opts...)
		if err != nil {
			return nil, fmt.Errorf("iceberg: REST catalog %s: %w", r.URI, err)
		}
		return cat, nil
	}
	if err := d.db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("iceberg: catalog database: %w", err)
	}
	dialect := sqlcat.Postgres
	if d.cfg.Catalog == CatalogSQLite {
		dialect = sqlcat.SQLite
	}
	cat, err := sqlcat.NewCatalog(d.cfg.CatalogName, d.db, dialect, d.props)
	if err != nil {
		return nil, fmt.Errorf("iceberg: catalog: %w", err)
	}
	return cat, nil
}

// addColumns adds the configured columns tbl lacks, as optional columns
// (rows already in the table have no value for them).
func (d *Destination) addColumns(ctx context.Context, tbl *table.Table) (*table.Table, error) {
	sc := tbl.Schema()
	var missing []Column
	for _, c := range d.cfg.Columns {
		if _, ok := sc.FindFieldByName(c.Name); !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return tbl, nil
	}
	tx := tbl.NewTransaction()
	us := tx.UpdateSchema(true, false)
	for _, c := range missing {
		us.AddColumn([]string{c.Name}, icebergType(c.Type), "", false, nil)
	}
	if err := us.Commit(); err != nil {
		return nil, fmt.Errorf("adding columns: %w", err)
	}
	return tx.Commit(ctx)
}

func (d *Destination) name() string { return d.cfg.Namespace + "." + d.cfg.Table }

// create creates the namespace when absent and the table from the columns
// and partition fields.
func (d *Destination) create(ctx context.Context) (*table.Table, error) {
	err := d.cat.CreateNamespace(ctx, table.Identifier{d.cfg.Namespace}, nil)
	if err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		return nil, err
	}
	fields := make([]iceberg.NestedField, len(d.cfg.Columns))
	ids := map[string]int{}
	for i, c := range d.cfg.Columns {
		fields[i] = iceberg.NestedField{ID: i + 1, Name: c.Name, Type: icebergType(c.Type), Required: c.Required}
		ids[c.Name] = i + 1
	}
	pf := make([]iceberg.PartitionField, len(d.cfg.PartitionBy))
	for i, p := range d.cfg.PartitionBy {
		var tr iceberg.Transform = iceberg.IdentityTransform{}
		switch p.Transform {
		case TransformDay:
			tr = iceberg.DayTransform{}
		case TransformHour:
			tr = iceberg.HourTransform{}
		}
		name := p.Column
		if p.Transform != TransformIdentity {
			name += "_" + p.Transform
		}
		pf[i] = iceberg.PartitionField{SourceIDs: []int{ids[p.Column]}, FieldID: 1000 + i, Name: name, Transform: tr}
	}
	spec := iceberg.NewPartitionSpec(pf...)
	opts := []catalog.CreateTableOpt{catalog.WithPartitionSpec(&spec)}
	if d.cfg.Warehouse != "" { // else a REST catalog's server places the table
		opts = append(opts, catalog.WithLocation(strings.TrimSuffix(d.cfg.Warehouse, "/")+"/"+d.cfg.Namespace+"/"+d.cfg.Table))
	}
	tbl, err := d.cat.CreateTable(ctx, d.ident, iceberg.NewSchema(0, fields...), opts...)
	if errors.Is(err, catalog.ErrTableAlreadyExists) { // another node created it first
		return d.cat.LoadTable(ctx, d.ident)
	}
	return tbl, err
}

func icebergType(t string) iceberg.Type {
	switch t {
	case TypeLong:
		return iceberg.PrimitiveTypes.Int64
	case TypeInt:
		return iceberg.PrimitiveTypes.Int32
	case TypeDouble:
		return iceberg.PrimitiveTypes.Float64
	case TypeBoolean:
		return iceberg.PrimitiveTypes.Bool
	case TypeTimestamptz:
		return iceberg.PrimitiveTypes.TimestampTz
	case TypeDate:
		return iceberg.PrimitiveTypes.Date
	}
	return iceberg.PrimitiveTypes.String
}

// bind checks that the table has exactly the configured columns, of their
// types, and orders the mappings as the table's columns.
func (d *Destination) bind(tbl *table.Table) error {
	sc := tbl.Schema()
	byName := map[string]Column{}
	for _, c := range d.cfg.Columns {
		byName[c.Name] = c
	}
	var cols []Column
	for _, f := range sc.Fields() {
		c, ok := byName[f.Name]
		if !ok {
			return fmt.Errorf("column %s is not configured: list every column of the table", f.Name)
		}
		if want := icebergType(c.Type); !f.Type.Equals(want) {
			return fmt.Errorf("column %s is %s, configured as %s", f.Name, f.Type, want)
		}
		cols = append(cols, c)
		delete(byName, f.Name)
	}
	for name := range byName {
		return fmt.Errorf("configured column %s is not in the table", name)
	}
	as, err := table.SchemaToArrowSchema(sc, nil, true, false)
	if err != nil {
		return err
	}
	d.schema, d.maps = as, newMappings(cols)
	return nil
}

// Deliver appends the batch's records that convert, those above the
// delivery and shard's high-water mark, in one commit. Records that do not
// convert are returned as RecordErrors of ErrorType.
func (d *Destination) Deliver(ctx context.Context, b *buffer.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	rows := make([][]any, 0, len(b.Records))
	failed := map[int]error{}
	for i, r := range b.Records {
		row, err := convert(r.Data, d.maps)
		if err != nil {
			failed[i] = err
			continue
		}
		rows = append(rows, row)
	}
	if err := d.appendRows(ctx, b, rows, failed); err != nil {
		return err
	}
	if len(failed) > 0 {
		return &destinations.RecordErrors{Type: ErrorType, Code: CodeConversionFailed, Failed: failed}
	}
	return nil
}

// appendRows loads the table, reads its high-water mark for the batch's
// delivery and shard, and commits the rows of records above it. rows are
// the converted records in batch order, those in failed left out.
func (d *Destination) appendRows(ctx context.Context, b *buffer.Batch, rows [][]any, failed map[int]error) error {
	d.commit.Lock()
	defer d.commit.Unlock()
	tbl, err := d.cat.LoadTable(ctx, d.ident)
	if err != nil {
		return classify(fmt.Errorf("iceberg: load table %s: %w", d.name(), err))
	}
	shard := ledgerShard(b)
	mark, seen, err := highWaterMark(tbl, b.Delivery, shard)
	if err != nil {
		return destinations.Permanent(fmt.Errorf("iceberg: table %s: %w", d.name(), err))
	}
	keep := rows[:0:0]
	first, k := -1, 0
	for i, r := range b.Records {
		if _, bad := failed[i]; bad {
			continue
		}
		if !seen || r.Sequence > mark {
			keep = append(keep, rows[k])
			if first < 0 {
				first = i
			}
		}
		k++
	}
	if len(keep) == 0 {
		return nil // all of it is in the table, or none of it converted
	}
	rec, err := build(d.schema, keep)
	if err != nil {
		return destinations.Permanent(fmt.Errorf("iceberg: %w", err))
	}
	defer rec.Release()
	rdr, err := array.NewRecordReader(d.schema, []arrow.RecordBatch{rec})
	if err != nil {
		return destinations.Permanent(fmt.Errorf("iceberg: %w", err))
	}
	defer rdr.Release()
	props := iceberg.Properties{
		SummaryDelivery:      b.Delivery,
		SummaryShard:         shard,
		SummaryFirstSequence: strconv.FormatUint(b.Records[first].Sequence, 10),
		SummaryLastSequence:  strconv.FormatUint(b.LastSequence(), 10),
	}
	if _, err := tbl.Append(ctx, rdr, props); err != nil {
		return classify(fmt.Errorf("iceberg: append to %s: %w", d.name(), err))
	}
	return nil
}

// highWaterMark is the last sequence any snapshot of tbl committed for
// delivery and shard; seen is false when none did.
func highWaterMark(tbl *table.Table, delivery, shard string) (mark uint64, seen bool, err error) {
	for _, s := range tbl.Metadata().Snapshots() {
		if s.Summary == nil {
			continue
		}
		p := s.Summary.Properties
		if p[SummaryDelivery] != delivery || p[SummaryShard] != shard {
			continue
		}
		last, err := strconv.ParseUint(p[SummaryLastSequence], 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("snapshot %d: %s %q: %w", s.SnapshotID, SummaryLastSequence, p[SummaryLastSequence], err)
		}
		if !seen || last > mark {
			mark, seen = last, true
		}
	}
	return mark, seen, nil
}

// ledgerShard names the batch's shard in snapshot summaries: the shard ID,
// and with dynamic partitioning its partition keys too, as the Postgres
// destination's ledger does. A partitioned delivery keeps a buffer per
// partition, flushed in any order, so each needs a mark of its own.
func ledgerShard(b *buffer.Batch) string {
	if len(b.PartitionKeys) == 0 {
		return b.ShardID
	}
	var s strings.Builder
	s.WriteString(b.ShardID)
	for _, k := range slices.Sorted(maps.Keys(b.PartitionKeys)) {
		s.WriteString("/" + url.PathEscape(k) + "=" + url.PathEscape(b.PartitionKeys[k]))
	}
	return s.String()
}

// classify marks errors no retry mends as Permanent; the rest (the
// catalog or S3 unreachable, a commit that lost to another writer's) stay
// retryable.
func classify(err error) error {
	switch {
	case errors.Is(err, catalog.ErrNoSuchTable), errors.Is(err, catalog.ErrNoSuchNamespace):
		return destinations.Permanent(err)
	}
	return err
}

// Close closes the catalog's database; it is idempotent.
func (d *Destination) Close(ctx context.Context) error {
	var err error
	d.close.Do(func() {
		if d.db != nil {
			err = d.db.Close()
		}
	})
	return err
}
