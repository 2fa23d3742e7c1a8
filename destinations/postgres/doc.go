// Package postgres is Hydrant's Postgres destination. It loads each batch
// with the COPY protocol (pgx CopyFrom) and lands it exactly once: the rows
// and a row in the ledger table hydrant_load_ledger, keyed by (delivery,
// shard, first_sequence) — shard with the batch's partition keys when the
// delivery partitions — commit in one transaction, and a batch the ledger
// already holds is skipped, so a retry or a replay after a crash between
// commit and checkpoint adds nothing.
//
// Records map to columns by JSON pointer (Config.Columns) or, with
// Config.Auto, top-level keys to the same-named columns with the types read
// from the catalog (Redshift's json 'auto'). Values that do not convert to
// their column type are found before COPY; rows that Postgres still rejects
// (SQLSTATE class 22 or 23) are isolated by bisecting the COPY under
// savepoints. Both come back as *destinations.RecordErrors of type
// "postgres-failed" while the rest of the batch loads. Connection errors,
// serialization failures, deadlocks, too_many_connections and shutdowns are
// retryable; missing tables or columns and missing privileges are
// destinations.Permanent.
//
// Open only checks the configuration and parses the DSN; Start reaches the
// server (ledger, table, catalog) and may be called again until it
// succeeds, so a delivery can wait for a database that is down, or a table
// not yet created, when Hydrant starts. Deliver starts the destination
// first when nobody has.
package postgres
