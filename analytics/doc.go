// Package analytics is the SQL side of Hydrant (Kinesis Data Analytics for
// SQL, rebuilt on DuckDB): applications that run a query over a stream's
// records window by window and put its result rows into another stream.
//
// An App reads every shard of its source stream (closed ones of its
// lineage too) by position, puts each record that fits its Schema into the
// windows of its arrival time (Kinesis' ROWTIME), and emits a window once
// every shard has been read past its end — or, at its tip, for a grace
// period after it (the log stamps a record when it takes it). Emission is
// exactly once across restarts: the window is first recorded as pending
// with the output shards' last messages, its results are put through the
// output stream's quotas, then it is recorded as emitted with, per source
// shard, where to read again (the oldest record of a window still open).
// A restart that finds a window pending computes it again from the same
// rows in the same order and puts only the results not found after those
// last messages (an identical record counts once). The state is one value
// in the store's catalog bucket, analytics/<name>, written with a
// compare-and-set so that a runner that lost its cluster lease cannot
// overwrite its successor's. Rows the query fails on go to the error
// output (found by halving the window); an app without a declared schema
// infers one from its source's first records and keeps it in its state.
//
// The parts:
//
//   - Windows: tumbling, sliding (size and step, the step dividing the
//     size) or none (a continuous query over micro-batches of at most a
//     second), aligned on the Unix epoch; which windows hold a record, and
//     which are closed once a watermark has passed them, each exactly once.
//   - Schema: an application's input columns, declared as a Parquet schema
//     declares them (name, type, JSON pointer), and the conversion of a
//     JSON record to their values; a record that does not fit is a
//     ConversionError naming the column.
//   - Discover: a schema inferred from sample records (Kinesis'
//     DiscoverInputSchema): a column per top-level key, typed by the
//     narrowest type every sample fits.
//   - Engine: an embedded DuckDB (github.com/duckdb/duckdb-go/v2, its
//     bundled static library, so cgo) that loads one window's rows as
//     table source — the declared columns plus approximate_arrival_time,
//     partition_key, sequence_number, shard_id, window_start and
//     window_end — runs the application's query over it, and returns each
//     result row as a JSON object. Memory is bounded (spilling to a
//     directory), and a query can read no file, reach no network, install
//     no extension and change no setting: it sees only what Hydrant loads.
//     A build without cgo has no engine: NewEngine returns ErrNoEngine.
//     Reference tables are files, or S3 objects a Fetcher copies first.
//   - Querier: ad-hoc SQL (hydrant sql, POST /v1/sql) over a stream's
//     retained records through the table function stream('name', from =>
//     '1h', to => …), each query on a sandboxed engine of its own.
package analytics
