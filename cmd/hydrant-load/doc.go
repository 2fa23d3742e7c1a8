// Command hydrant-load measures how fast Hydrant's native ingest API stores
// records.
//
// By default it starts its own hydrant process (the binary named by
// -hydrant) on a free loopback port with a throwaway data directory, one
// stream of -shards shards whose quotas are raised out of the way, and the
// chosen -fsync mode. It then runs -concurrency workers, each POSTing
// pre-built NDJSON bodies of -records-per-request records of exactly
// -record-size bytes to /v1/streams/{stream}/records in a loop. After a
// -warmup that is not counted, it measures for -duration and reports:
//
//   - records/s and MiB/s of record data acknowledged as stored (Hydrant
//     acknowledges a record only once it is in the shard log, fsynced when
//     fsync=always);
//   - requests/s and the request latency p50/p95/p99/max over every request
//     that completed in the measured window;
//   - failed records (from failed_record_count) and failed requests
//     (transport errors and any status other than 200 or 207);
//   - for the process it started, the CPU seconds it used during the window
//     (utime+stime from /proc/PID/stat) and its peak RSS (VmHWM).
//
// At the end it stops hydrant with SIGTERM (SIGKILL after 30s) and removes
// the temporary directory. With -url it drives an already-running server
// instead, writing to the stream named by -stream, and reports no CPU or
// RSS.
//
// With -matrix (what `make bench` runs) it measures, with the same
// generator and settings, one row per target and each of -concurrencies
// (4 and 16 producers by default), every row on a freshly started process:
//
//   - the HTTP floor: this binary run as `hydrant-load -floor http`, which
//     reads each request body, counts its lines and answers 200 with a
//     response shaped like Hydrant's success response (so the generator
//     parses as much), storing nothing: the cost of HTTP alone;
//   - the disk floor (`-floor disk`): the same, but each body is first
//     appended to one file and the answer waits for an fsync that began
//     after the append, concurrent requests sharing one fsync (group
//     commit): the cost of durability on this disk;
//   - hydrant's native API, with its file delivery unless -deliver=false;
//   - hydrant's Firehose PutRecordBatch (AWS JSON 1.1, records base64 in
//     Data) to a DirectPut delivery to files of -firehose-shards shards
//     (each shard takes Firehose's 5 MiB/s direct-put quota);
//   - hydrant's Kinesis PutRecords (AWS JSON 1.1, X-Amz-Target
//     Kinesis_20131202.PutRecords, unsigned: the started server has no
//     server.auth, which leaves the API open on loopback) to the native
//     stream, with its file delivery, each record base64 in Data with a
//     partition key of its own; failed records are counted from
//     FailedRecordCount;
//   - hydrant's native API again at the largest concurrency, offered half
//     the best native records/s at an even pace, latency counted from each
//     request's scheduled time;
//   - "hydrant native + GetRecords consumer": the native API at full speed
//     at the largest concurrency, with its file delivery, while a consumer
//     in the generator reads every shard through the Kinesis API as a KCL
//     worker does: ListShards, GetShardIterator TRIM_HORIZON (as soon as
//     the server answers, so it starts with the stream), then per shard a
//     GetRecords loop with Limit 10000 following NextShardIterator, pausing
//     200ms only when a call returned no records and MillisBehindLatest
//     was 0 (and after a call refused as busy). It counts the records and
//     skips their data. The note gives the records/s it read in the window
//     and its lag at the end: records put (hydrant's
//     hydrant_ingest_incoming_records_total, scraped just after the
//     consumer's count, so at most this far behind) not yet read, and the
//     largest MillisBehindLatest of the shards' last answers; it kept up
//     when that backlog is under one second of puts;
//   - "hydrant native, paced N MiB/s", one row for each of -paced-rates
//     (10 and 40 by default): the native API at the largest concurrency,
//     with its file delivery, offered N MiB/s of records at an even pace
//     (the ½ max rate row's pacing) for -paced-duration (45s by default),
//     for the memory a modest steady load needs.
//
// The floors run as child processes so that their CPU time and peak RSS
// are read from /proc exactly as hydrant's are; the generator's own CPU
// time is reported beside them (on a small machine it competes for the
// same cores). Hydrant rows show their records/s as a multiple of the disk
// floor's at the same concurrency. Then it measures end to end for
// -e2e-duration: records/s put to a stream, and records/s its delivery
// wrote during the same window (hydrant_delivery_records_total), to files
// and, when a MinIO binary exists (-minio, default $HYDRANT_MINIO_BIN or
// .cache/bin/minio), to a bucket of a MinIO it starts. Then, unless
// -restart-gib is 0, it times a restart: hydrant with fsync: interval and
// the stream (retention 168h, no delivery, so nothing is trimmed) is
// filled with -restart-gib GiB of records (1 by default) by the largest
// of -concurrencies producers, killed with SIGKILL, and started again on
// the same data directory; it reports the fill's time, what the data
// directory takes on disk (as du counts it), and the time from exec until
// GET /readyz answers 200 and until a put of one record is acknowledged,
// both polled every 10ms; then it reads every shard back from
// TRIM_HORIZON through GetRecords to its end and says whether every
// record acknowledged (before the kill and the one after) was served. It
// is skipped, with a note, when the temporary
// directory's filesystem has less than 1.5 × that free. Last it prints each
// of issue 17's targets as met or MISSED with the figure: ≥ 100 MiB/s
// and ≥ 0.5× the disk floor (native; 0.4× for PutRecordBatch and
// PutRecords) at each concurrency, p99 ≤ 50 ms at half the max rate,
// delivered ≥ 90% of ingest over a 60s window, peak RSS ≤ 300 MiB (the
// largest of the hydrant runs, and the consumer row's), ≤ 150 MiB at a
// paced 10 MiB/s and ≤ 250 MiB at 40 MiB/s, and a restart ready ≤ 5 s
// (the figure is for 10 GiB of log; the line says what size was
// measured). -markdown
// prints the tables as Markdown, -json everything as one object.
//
// Run it from the module root after building the server:
//
//	make bench
//	go build -o bin/hydrant ./cmd/hydrant && go run ./cmd/hydrant-load -duration 30s
//	go run ./cmd/hydrant-load -matrix -duration 10s -e2e-duration 60s -markdown
//	go run ./cmd/hydrant-load -url http://127.0.0.1:4545 -stream events -json
//
// The result goes to stdout, as an aligned table or, with -json, as one JSON
// object; progress goes to stderr. It exits 1 when hydrant fails to start
// (after printing the tail of its log) or when more than 1% of the requests
// in the window failed (with -matrix: in any row), and 2 on bad flags.
// Missed targets do not change the exit status.
package main
