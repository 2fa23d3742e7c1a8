// Package e2e holds Hydrant's end-to-end tests: they build the real hydrant
// binary, run it as a separate process on random loopback ports, put records
// over HTTP, and check what lands in real destinations (local files, a real
// MinIO) — including after the process is killed with SIGKILL.
package e2e
