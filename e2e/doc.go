// Package e2e holds Hydrant's end-to-end tests: they build the real hydrant
// binary, run it as a separate process on random loopback ports, put records
// over HTTP, and check what lands in real destinations (local files, a real
// MinIO) — including after the process is killed with SIGKILL. Real clients
// drive it too: the AWS SDK for Go, the AWS CLI, and the AWS SDK for
// JavaScript v3 through the Node script in jssdk/ (`make jssdk` installs the
// pinned SDK into .cache/jssdk).
package e2e
