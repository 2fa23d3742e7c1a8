// Package redrive reads a delivery's error output back and sends its failed
// records through the delivery's current transforms and destination again,
// each exactly once however often a redrive runs or crashes.
//
// An error object (a file or S3 object of Firehose error documents, one JSON
// line per failed record) is redriven as its own source shard,
// "redrive-<16 hex digits of the SHA-256 of its key>", whose sequence
// numbers are the object's line numbers, 1 and up. Every destination names
// what it writes by delivery, shard and sequence (object keys, the Postgres
// ledger, Iceberg snapshot marks, Elasticsearch document ids, HTTP request
// ledgers), so a redrive run again writes the same names, and a destination
// that keeps a ledger skips what it already holds.
//
// Before an object's records are sent, a marker is written beside it,
// "<key>.redrive.json", with state "planned" and the plan: the batches the
// transform made and the records it failed. A redrive cut short replays
// that plan rather than the transform (which may have changed since), so
// the same batches go out under the same names. Once every record landed or
// was written to the error output again (a new error object under the
// redrive shard's name, which a later redrive takes), the marker says
// "done" with the counts. Error objects are never deleted; a done object is
// skipped by later redrives.
//
// The planned marker is created only where none is (Place.Create), so of
// redrives on several nodes sharing an error output one plans each object;
// the marker names its node, and another node leaves a plan younger than
// the lease to it and replays an older one. Objects are read one at a time,
// each bounded in size; keys and the yyyy/MM/dd/HH of their paths select
// them before they are read.
package redrive
