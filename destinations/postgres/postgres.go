package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrorType is the error output type of records Postgres did not load.
const ErrorType = "postgres-failed"

// Error codes of the RecordErrors Deliver returns.
const (
	CodeConversionFailed = "Postgres.ConversionFailed" // only values that did not convert
	CodeRowRejected      = "Postgres.RowRejected"      // Postgres rejected some rows (SQLSTATE 22/23)
)

const ledgerDDL = `CREATE TABLE IF NOT EXISTS hydrant_load_ledger (
	delivery text NOT NULL,
	shard text NOT NULL,
	first_sequence numeric NOT NULL,
	last_sequence numeric NOT NULL,
	loaded_at timestamptz NOT NULL DEFAULT now(),
	rejected jsonb,
	PRIMARY KEY (delivery, shard, first_sequence))`

// Destination loads batches into a Postgres table with COPY, each batch
// exactly once: the rows and a ledger row naming the batch commit together.
type Destination struct {
	pool  *pgxpool.Pool
	table pgx.Identifier
	name  string // table as configured, for messages
	cfg   Config
	// started is set once Start has succeeded; columns and maps are
	// written before it and only read after.
	started atomic.Bool
	startMu sync.Mutex
	columns []string // COPY column list
	maps    []mapping
	close   sync.Once
}

// New opens the destination and starts it: the server must be reachable.
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

// Open checks cfg and parses the DSN without connecting: its errors are
// configuration errors, destinations.Permanent, that no retry mends. The
// server is first reached by Start (or the first Deliver).
func Open(cfg Config) (*Destination, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, destinations.Permanent(fmt.Errorf("postgres: %w", err))
	}
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, destinations.Permanent(fmt.Errorf("postgres: dsn: %w", err))
	}
	pc.MaxConns = cfg.MaxConns
	pc.ConnConfig.RuntimeParams["statement_timeout"] = fmt.Sprint(cfg.StatementTimeout.Milliseconds())
	pool, err := pgxpool.NewWithConfig(context.Background(), pc) // connects lazily (MinConns is 0)
	if err != nil {
		return nil, destinations.Permanent(fmt.Errorf("postgres: %w", err))
	}
	return &Destination{pool: pool, table: pgx.Identifier(strings.Split(cfg.Table, ".")), name: cfg.Table, cfg: cfg}, nil
}

// CheckDSN reports whether dsn parses, for config validation. Its error
// never holds the DSN, which holds the password.
func CheckDSN(dsn string) error {
	if _, err := pgxpool.ParseConfig(dsn); err != nil {
		return errors.New("does not parse: want postgres://user:password@host:5432/db?sslmode=require or key=value pairs (host=... dbname=...)")
	}
	return nil
}

// Start reaches the server and readies the table: it creates the ledger
// table when absent, creates the table when Config.CreateTable, checks
// that it exists otherwise, and with Config.Auto reads its column types
// from the catalog. Once it has succeeded it returns nil at once. A
// connection error is retryable; a missing table, column or privilege is
// destinations.Permanent, though a caller waiting for an operator to mend
// it may call Start again.
func (d *Destination) Start(ctx context.Context) error {
	if d.started.Load() {
		return nil
	}
	d.startMu.Lock()
	defer d.startMu.Unlock()
	if d.started.Load() {
		return nil
	}
	d.columns, d.maps = nil, nil
	if err := d.setup(ctx, d.cfg); err != nil {
		return err
	}
	d.started.Store(true)
	return nil
}

func (d *Destination) setup(ctx context.Context, cfg Config) error {
	// Create the ledger only when absent, so a user without CREATE on the
	// schema can run against a ledger made by an administrator.
	var exists bool
	if err := d.pool.QueryRow(ctx, "SELECT to_regclass('hydrant_load_ledger') IS NOT NULL").Scan(&exists); err != nil {
		_, err = classify(err, "hydrant_load_ledger")
		return err
	}
	if !exists {
		if _, err := d.pool.Exec(ctx, ledgerDDL); err != nil {
			_, err = classify(err, "hydrant_load_ledger")
			return err
		}
	}
	if !cfg.CreateTable {
		// Without this, a missing table would fail every batch, and send it
		// to the error output, instead of failing the start.
		var found bool
		if err := d.pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", d.table.Sanitize()).Scan(&found); err != nil {
			_, err = classify(err, d.name)
			return err
		}
		if !found {
			return destinations.Permanent(fmt.Errorf("postgres: table %s does not exist: create it or set create_table: true", d.name))
		}
	}
	if cfg.CreateTable {
		defs := make([]string, len(cfg.Columns))
		for i, c := range cfg.Columns {
			defs[i] = pgx.Identifier{c.Name}.Sanitize() + " " + sqlTypes[c.Type]
		}
		ddl := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s)", d.table.Sanitize(), strings.Join(defs, ", "))
		if _, err := d.pool.Exec(ctx, ddl); err != nil {
			_, err = classify(err, d.name)
			return err
		}
	}
	cols := cfg.Columns
	if cfg.Auto {
		var err error
		if cols, err = d.catalogColumns(ctx); err != nil {
			return err
		}
	}
	for _, c := range cols {
		d.columns = append(d.columns, c.Name)
		d.maps = append(d.maps, mapping{Column: c, tokens: splitPointer(c.Path)})
	}
	return nil
}

// catalogTypes maps catalog type names to column types, for auto.
var catalogTypes = map[string]string{
	"text": TypeText, "character varying": TypeText, "character": TypeText, "name": TypeText, "citext": TypeText,
	"bigint": TypeBigint, "integer": TypeInteger, "smallint": TypeInteger,
	"double precision": TypeDouble, "real": TypeDouble, "boolean": TypeBoolean, "numeric": TypeNumeric,
	"timestamp with time zone": TypeTimestamptz, "timestamp without time zone": TypeTimestamptz,
	"date": TypeDate, "jsonb": TypeJSONB, "json": TypeJSONB, "uuid": TypeUUID,
}

// catalogColumns lists the table's columns that auto maps: those without a
// default, identity or generation expression, of a supported type.
func (d *Destination) catalogColumns(ctx context.Context) ([]Column, error) {
	rows, err := d.pool.Query(ctx, `SELECT a.attname, format_type(a.atttypid, NULL)
		FROM pg_attribute a
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
		  AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = ''
		ORDER BY a.attnum`, d.table.Sanitize())
	if err != nil {
		_, err = classify(err, d.name)
		return nil, err
	}
	var cols []Column
	var unsupported []string
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, err
		}
		t, ok := catalogTypes[typ]
		if !ok {
			unsupported = append(unsupported, fmt.Sprintf("%s (%s)", name, typ))
			continue
		}
		cols = append(cols, Column{Name: name, Path: "/" + escapePointer(name), Type: t})
	}
	if err := rows.Err(); err != nil {
		_, err = classify(err, d.name)
		return nil, err
	}
	if len(unsupported) > 0 {
		return nil, destinations.Permanent(fmt.Errorf("postgres: table %s: columns: auto cannot load columns %s; give them a default or list the columns",
			d.name, strings.Join(unsupported, ", ")))
	}
	if len(cols) == 0 {
		return nil, destinations.Permanent(fmt.Errorf("postgres: table %s: columns: auto found no loadable columns", d.name))
	}
	return cols, nil
}

// Deliver loads the batch. Records whose values do not convert, and rows
// Postgres rejects as data errors, are left out and returned as
// *destinations.RecordErrors; the rest of the batch commits together with
// its ledger row. A batch already in the ledger is not loaded again.
func (d *Destination) Deliver(ctx context.Context, b *buffer.Batch) error {
	if len(b.Records) == 0 {
		return nil
	}
	if err := d.Start(ctx); err != nil {
		return err
	}
	converted, errs := d.convertAll(b.Records)
	rows := make([][]any, 0, len(b.Records))
	index := make([]int, 0, len(b.Records)) // batch index of each row
	failed := map[int]error{}
	for i, row := range converted {
		if errs[i] != nil {
			failed[i] = errs[i]
			continue
		}
		rows = append(rows, row)
		index = append(index, i)
	}
	convFailed := len(failed)

	// When the ledger already holds the batch, failed keeps what conversion
	// found, which is what the first delivery reported for those records.
	if _, err := d.load(ctx, b, rows, index, failed); err != nil {
		return err
	}
	if len(failed) == 0 {
		return nil
	}
	code := CodeConversionFailed
	if len(failed) > convFailed {
		code = CodeRowRejected
	}
	return &destinations.RecordErrors{Type: ErrorType, Code: code, Failed: failed}
}

// convertAll converts the records on up to GOMAXPROCS goroutines: JSON
// decoding is most of a delivery's CPU time.
func (d *Destination) convertAll(records []buffer.Record) ([][]any, []error) {
	rows := make([][]any, len(records))
	errs := make([]error, len(records))
	const chunk = 512
	workers := min(runtime.GOMAXPROCS(0), (len(records)+chunk-1)/chunk)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				start := int(next.Add(chunk)) - chunk
				if start >= len(records) {
					return
				}
				for i := start; i < min(start+chunk, len(records)); i++ {
					if row, err := convert(records[i].Data, d.maps); err != nil {
						errs[i] = err
					} else {
						rows[i] = row
					}
				}
			}
		})
	}
	wg.Wait()
	return rows, errs
}

// load runs the batch's transaction. The ledger's high-water mark for the
// delivery and shard — the last sequence any committed batch loaded — says
// what is loaded already: a batch re-read after a crash may be cut
// differently (more or fewer records than the committed one), so records at
// or below the mark are left out and only the rest load, with a ledger row
// of their own. Conversion failures are reported again either way: they
// reach the error output even when a crash came between commit and report.
// The mark counts whole source records: a delivery adds what it reads to
// its buffer before it flushes, so the records one source record yields (a
// KPL aggregate's sub-records) are all in one batch.
// Deliveries of one shard are serialized by an advisory lock. It reports
// false when nothing was left to load.
func (d *Destination) load(ctx context.Context, b *buffer.Batch, rows [][]any, index []int, failed map[int]error) (bool, error) {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		_, err = classify(err, d.name)
		return false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // no-op after Commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", b.Delivery+"/"+b.ShardID); err != nil {
		_, err = classify(err, "hydrant_load_ledger")
		return false, err
	}
	var mark string
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(last_sequence), -1)::text FROM hydrant_load_ledger WHERE delivery = $1 AND shard = $2`,
		b.Delivery, ledgerShard(b)).Scan(&mark); err != nil {
		_, err = classify(err, "hydrant_load_ledger")
		return false, err
	}
	loaded := func(seq uint64) bool { return false }
	if mark != "-1" {
		hwm, err := strconv.ParseUint(mark, 10, 64)
		if err != nil {
			return false, destinations.Permanent(fmt.Errorf("hydrant_load_ledger: last_sequence %q: %w", mark, err))
		}
		loaded = func(seq uint64) bool { return seq <= hwm }
	}
	if err := d.reportRejected(ctx, tx, b, loaded, failed); err != nil {
		return false, err
	}
	first := -1 // batch index of the first record not loaded yet
	for i, r := range b.Records {
		if !loaded(r.Sequence) {
			first = i
			break
		}
	}
	if first < 0 {
		return false, nil // all of it is in the table
	}
	keepRows, keepIndex := rows[:0:0], index[:0:0]
	for k, i := range index {
		if !loaded(b.Records[i].Sequence) {
			keepRows, keepIndex = append(keepRows, rows[k]), append(keepIndex, i)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO hydrant_load_ledger (delivery, shard, first_sequence, last_sequence)
		VALUES ($1, $2, $3, $4)`,
		b.Delivery, ledgerShard(b), fmt.Sprint(b.Records[first].Sequence), fmt.Sprint(b.LastSequence())); err != nil {
		_, err = classify(err, "hydrant_load_ledger")
		return false, err
	}
	before := maps.Clone(failed)
	if err := d.copyRows(ctx, tx, keepRows, keepIndex, failed); err != nil {
		return false, err
	}
	if err := d.recordRejected(ctx, tx, b, b.Records[first].Sequence, before, failed); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		_, err = classify(err, d.name)
		return false, err
	}
	return true, nil
}

// recordRejected keeps, in the batch's ledger row, the rows Postgres
// rejected (by sequence, with why), so that a re-delivery after a crash
// between commit and error report reports them again.
func (d *Destination) recordRejected(ctx context.Context, tx pgx.Tx, b *buffer.Batch, first uint64, before, failed map[int]error) error {
	rejected := map[string]string{}
	for i, err := range failed {
		if _, ok := before[i]; !ok {
			rejected[ledgerKey(b.Records[i])] = err.Error()
		}
	}
	if len(rejected) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE hydrant_load_ledger SET rejected = $4 WHERE delivery = $1 AND shard = $2 AND first_sequence = $3`,
		b.Delivery, ledgerShard(b), strconv.FormatUint(first, 10), rejected); err != nil {
		_, err = classify(err, "hydrant_load_ledger")
		return err
	}
	return nil
}

// ledgerShard is the ledger's shard column for b: the shard ID, and with
// dynamic partitioning its partition keys too. A partitioned delivery keeps
// a buffer per partition, and they flush in any order: one high-water mark
// per shard would take a later-flushed partition's earlier sequences for
// loaded and leave them out. Within one partition, batches are in shard
// order, and a re-read puts each record in the same partition again.
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

// ledgerKey names a record in a ledger row's rejected rows: its sequence,
// and "-<sub-sequence>" after it for a record its source record yielded
// after its first (a KPL sub-record), so sub-records never share a key.
func ledgerKey(r buffer.Record) string {
	k := strconv.FormatUint(r.Sequence, 10)
	if r.SubSequence > 0 {
		k += "-" + strconv.FormatUint(uint64(r.SubSequence), 10)
	}
	return k
}

// reportRejected adds to failed the already-loaded records of b that
// Postgres rejected when their batch committed.
func (d *Destination) reportRejected(ctx context.Context, tx pgx.Tx, b *buffer.Batch, loaded func(uint64) bool, failed map[int]error) error {
	if !loaded(b.FirstSequence()) {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT rejected FROM hydrant_load_ledger
		WHERE delivery = $1 AND shard = $2 AND rejected IS NOT NULL AND last_sequence >= $3 AND first_sequence <= $4`,
		b.Delivery, ledgerShard(b), strconv.FormatUint(b.FirstSequence(), 10), strconv.FormatUint(b.LastSequence(), 10))
	if err != nil {
		_, err = classify(err, "hydrant_load_ledger")
		return err
	}
	bySeq := map[string]string{}
	for rows.Next() {
		var m map[string]string
		if err := rows.Scan(&m); err != nil {
			rows.Close()
			return err
		}
		maps.Copy(bySeq, m)
	}
	if err := rows.Err(); err != nil {
		_, err = classify(err, "hydrant_load_ledger")
		return err
	}
	for i, r := range b.Records {
		if msg, ok := bySeq[ledgerKey(r)]; ok && loaded(r.Sequence) {
			failed[i] = &RowError{Reason: msg + " (reported again after a re-delivery)"}
		}
	}
	return nil
}

// copyRows COPYs rows inside a savepoint. When Postgres rejects the data
// (SQLSTATE class 22 or 23) it rolls the savepoint back and bisects, until
// each bad row is isolated and recorded in failed; the good rows load.
func (d *Destination) copyRows(ctx context.Context, tx pgx.Tx, rows [][]any, index []int, failed map[int]error) error {
	if len(rows) == 0 {
		return nil
	}
	sp, err := tx.Begin(ctx) // SAVEPOINT
	if err != nil {
		_, err = classify(err, d.name)
		return err
	}
	_, err = sp.CopyFrom(ctx, d.table, d.columns, pgx.CopyFromRows(rows))
	if err == nil {
		if err = sp.Commit(ctx); err == nil { // RELEASE SAVEPOINT
			return nil
		}
	}
	kind, cerr := classify(err, d.name)
	if kind != kindData {
		return cerr
	}
	if rerr := sp.Rollback(ctx); rerr != nil { // ROLLBACK TO SAVEPOINT
		_, rerr = classify(rerr, d.name)
		return errors.Join(rerr, err)
	}
	if len(rows) == 1 {
		failed[index[0]] = rowError(err)
		return nil
	}
	mid := len(rows) / 2
	if err := d.copyRows(ctx, tx, rows[:mid], index[:mid], failed); err != nil {
		return err
	}
	return d.copyRows(ctx, tx, rows[mid:], index[mid:], failed)
}

// Close closes the pool; it is idempotent.
func (d *Destination) Close(ctx context.Context) error {
	d.close.Do(d.pool.Close)
	return nil
}
