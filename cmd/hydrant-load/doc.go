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
// Run it from the module root after building the server:
//
//	make bench
//	go build -o bin/hydrant ./cmd/hydrant && go run ./cmd/hydrant-load -duration 30s
//	go run ./cmd/hydrant-load -url http://127.0.0.1:4545 -stream events -json
//
// The result goes to stdout, as an aligned table or, with -json, as one JSON
// object; progress goes to stderr. It exits 1 when hydrant fails to start
// (after printing the tail of its log) or when more than 1% of the requests
// in the window failed, and 2 on bad flags.
package main
