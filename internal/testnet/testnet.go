// Package testnet gives tests free loopback ports for the servers they
// start (MinIO, Postgres, OpenSearch, hydrant itself).
package testnet

import (
	"net"
	"testing"
)

// FreePort returns a loopback TCP port that was free a moment ago. Another
// process could take it before the caller's server binds it; tests accept
// that small race for servers that cannot be told to pick a port
// themselves.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
