package testnet

import (
	"net"
	"strconv"
	"testing"
)

// A port handed out lies below the ephemeral range (when the machine tells
// it) and can be listened on.
func TestFreePortOutsideEphemeralRange(t *testing.T) {
	start := ephemeralStart()
	for range 20 {
		p := FreePort(t)
		if start-1-lowestPort >= 1000 && (p < lowestPort || p >= start) {
			t.Fatalf("port %d is not in [%d, %d)", p, lowestPort, start)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d: %v", p, err)
		}
		ln.Close()
	}
}
