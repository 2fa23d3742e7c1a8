// Package iceberg appends batches to an Apache Iceberg table as Parquet
// data files, through github.com/apache/iceberg-go, with the table's
// metadata in a SQL catalog (Postgres, or SQLite in a file) or a REST
// catalog server, and its files in S3, an S3-compatible store such as
// MinIO, or a local folder.
//
// Each batch is one append commit, whose snapshot summary names the
// delivery, the shard (with its partition keys when the delivery
// partitions) and the range of sequences it holds. Before appending, the
// destination reads the table's snapshots' summaries for the batch's
// delivery and shard and leaves out the records at or below the highest
// sequence already committed: a batch re-delivered after a crash, however
// it is cut, adds each record once. A commit that loses to another
// writer's (an optimistic-concurrency conflict) is retryable.
//
// With SchemaEvolutionAddColumns, Start adds the configured columns the
// table lacks as optional columns before it checks the table's schema.
package iceberg
