// Package testnet gives tests free loopback ports for the servers they
// start (MinIO, Postgres, OpenSearch, NATS, hydrant itself).
package testnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Ports are picked below the kernel's ephemeral range (Linux's
// ip_local_port_range, 32768 by default), where outgoing connections take
// their source ports: a port handed out from that range can be lent to a
// client's connection before the server binds it, and stays taken for as
// long as that connection lives (seen under make test: a NATS test server
// that could not listen for 30 s).
const (
	lowestPort    = 20000
	ephemeralFile = "/proc/sys/net/ipv4/ip_local_port_range"
)

// FreePort returns a loopback TCP port that was free a moment ago, outside
// the ephemeral range when the machine says where that is. Another test
// process could still take it before the caller's server binds it; tests
// accept that small race for servers that cannot be told to pick a port
// themselves.
func FreePort(t testing.TB) int {
	t.Helper()
	if hi := ephemeralStart() - 1; hi-lowestPort >= 1000 {
		for range 100 {
			p := lowestPort + rand.IntN(hi-lowestPort+1)
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				continue
			}
			ln.Close()
			return p
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ephemeralStart returns the first port of the kernel's ephemeral range,
// or 0 when it is not known.
func ephemeralStart() int {
	b, err := os.ReadFile(ephemeralFile)
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\t")
	n, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0
	}
	return n
}
