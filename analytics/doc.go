// Package analytics is the SQL side of Hydrant (Kinesis Data Analytics for
// SQL, rebuilt on DuckDB): applications that run a query over a stream's
// records window by window and put its result rows into another stream.
//
// This package holds the parts that know no streams yet:
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
package analytics
