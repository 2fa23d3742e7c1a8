package testnats

import (
	"fmt"
	"syscall"
	"testing"
)

// nowhere returns a 127.0.0.1 address that refuses every connection: a TCP
// socket bound to a port but not listening, held until the test ends so no
// one else takes the port.
//
// The servers advertise it as their route address. A server tells the
// servers it routes to about the others it knows, and they connect to each
// other's advertised address ("implicit" routes) when that connection comes
// before the configured one through the proxy. A route that bypasses the
// proxies would survive Kill: the "killed" server would shut down gracefully
// over it and hand its leaderships over, which is not a crash. A refused
// dial makes the server drop the implicit route at once (it retries only
// configured routes).
func nowhere(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("testnats: socket: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("testnats: bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("testnats: getsockname: %v", err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}
