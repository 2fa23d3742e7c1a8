package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
)

// limitsPeakRSS is what the real binary may reach under each attack below
// with the default limits (server.max_in_flight_bytes 256MiB): on the old
// main each of them took it past a gigabyte.
const limitsPeakRSS = 400 << 20

const limitsConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: clicks
    shard_limits: {bytes_per_second: 256MiB, records_per_second: 100000}
`

// Many connections each sending a 16 MiB Kinesis body and holding its last
// byte: the server holds what server.max_in_flight_bytes allows, refuses
// the rest unread with 503 and Retry-After, and still answers others. (On
// the old main 48 of them made the process hold 1.4 GB.)
func TestLimitsSlowBodies(t *testing.T) {
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, limitsConfig)
	const conns, size = 48, 16 << 20
	header := "POST / HTTP/1.1\r\nHost: " + listen + "\r\nContent-Type: application/x-amz-json-1.1\r\n" +
		"X-Amz-Target: Kinesis_20131202.PutRecords\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n"
	body := append([]byte(`{"StreamName":"clicks","Records":[{"PartitionKey":"k","Data":"`), bytes.Repeat([]byte("A"), size)...)[:size-1]
	held := holdConns(t, listen, conns, func(i int, c net.Conn) {
		c.Write([]byte(header))
		c.Write(body) // fails once the server refuses it, closing the connection
	})
	held.wait()
	awaitDrained(t, listen)
	if refused := held.refused(t); refused == 0 {
		t.Errorf("no slow body was refused")
	}
	limitsStillServes(t, h)
	held.close()
	checkPeakRSS(t, h, "48 slow 16 MiB bodies")
}

// Gzip bodies that decompress to just under max_request_size each, their
// end held back: what they decompress to counts against
// max_in_flight_bytes as it grows. (On the old main 1.1 MiB of such
// bodies made 1.2 GB.)
func TestLimitsGzipBombs(t *testing.T) {
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, limitsConfig)
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	line := []byte(`{"a":1}` + "\n")
	for range (16<<20 - 64<<10) / len(line) {
		zw.Write(line)
	}
	zw.Flush() // all of it, but not the trailer: the body is never done
	bomb := zbuf.Bytes()
	const conns = 64
	t.Logf("%d bombs of %d bytes, each 16 MiB decompressed", conns, len(bomb))
	header := "POST /v1/streams/clicks/records HTTP/1.1\r\nHost: " + listen + "\r\nContent-Type: application/x-ndjson\r\n" +
		"Content-Encoding: gzip\r\nContent-Length: " + strconv.Itoa(len(bomb)+100) + "\r\n\r\n"
	held := holdConns(t, listen, conns, func(i int, c net.Conn) {
		c.Write(append([]byte(header), bomb...))
	})
	held.wait()
	awaitDrained(t, listen)
	held.refused(t)
	limitsStillServes(t, h)
	held.close()
	checkPeakRSS(t, h, "64 gzip bombs")
}

// Callers of GetRecords that never read the answer: each answer the server
// holds counts against max_in_flight_bytes. (On the old main 32 of them
// made 1.3 GB.)
func TestLimitsUnreadGetRecords(t *testing.T) {
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, limitsConfig)
	// 11 MiB of records in the one shard: every answer is a full 10 MiB.
	var body bytes.Buffer
	for range 12 {
		body.Write(bytes.Repeat([]byte("x"), 950<<10))
		body.WriteByte('\n')
	}
	resp, err := http.Post(h.url+"/v1/streams/clicks/records", "text/plain", &body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("put: %v %v", err, resp)
	}
	resp.Body.Close()
	var it struct{ ShardIterator string }
	if status := kinesisCall(t, h.url, "GetShardIterator",
		`{"StreamName":"clicks","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}`, &it); status != http.StatusOK {
		t.Fatalf("GetShardIterator: %d", status)
	}
	req := `{"ShardIterator":"` + it.ShardIterator + `"}`
	header := "POST / HTTP/1.1\r\nHost: " + listen + "\r\nContent-Type: application/x-amz-json-1.1\r\n" +
		"X-Amz-Target: Kinesis_20131202.GetRecords\r\nContent-Length: " + strconv.Itoa(len(req)) + "\r\n\r\n"
	const conns = 32
	var statuses sync.Map
	held := holdConns(t, listen, conns, func(i int, c net.Conn) {
		if _, err := c.Write([]byte(header + req)); err != nil {
			t.Errorf("conn %d: %v", i, err)
			return
		}
		line, err := bufio.NewReaderSize(c, 16).ReadString('\n') // the status line, and not the answer
		if err != nil {
			t.Errorf("conn %d: %v", i, err)
		}
		statuses.Store(i, line)
	})
	held.wait()
	ok, busy := 0, 0
	statuses.Range(func(k, v any) bool {
		switch {
		case strings.Contains(v.(string), " 200 "):
			ok++
		case strings.Contains(v.(string), " 503 "):
			busy++
		default:
			t.Errorf("conn %d: %q, want 200 or 503", k, v)
		}
		return true
	})
	t.Logf("%d unread answers held, %d callers refused", ok, busy)
	if busy == 0 {
		t.Errorf("every unread GetRecords answer was held")
	}
	limitsStillServes(t, h)
	held.close()
	checkPeakRSS(t, h, "32 unread GetRecords answers")
}

// heldConns are attackers' connections, kept open until close.
type heldConns struct {
	conns []net.Conn
	wg    sync.WaitGroup
}

// holdConns dials n connections with small socket buffers and runs attack
// on each in its own goroutine.
func holdConns(t *testing.T, addr string, n int, attack func(i int, c net.Conn)) *heldConns {
	t.Helper()
	h := &heldConns{}
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	for i := range n {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		h.conns = append(h.conns, c)
		h.wg.Go(func() { attack(i, c) })
	}
	t.Cleanup(h.close)
	return h
}

func (h *heldConns) wait() { h.wg.Wait() }

// refused returns how many connections were answered, which must be 503
// (or a reset, once the server closed a connection with unread bytes).
// Those it let through have no answer: their bodies have not ended.
func (h *heldConns) refused(t *testing.T) int {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	n := 0
	for i, c := range h.conns {
		wg.Go(func() {
			c.SetReadDeadline(time.Now().Add(time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return // held
			}
			if line != "" && !strings.Contains(line, " 503 ") {
				t.Errorf("conn %d: %q, want 503", i, line)
			}
			mu.Lock()
			n++
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("%d of %d connections refused", n, len(h.conns))
	return n
}

func (h *heldConns) close() {
	for _, c := range h.conns {
		c.Close()
	}
	h.wg.Wait()
}

// awaitDrained waits until the attackers are done writing and the server
// has read everything they sent: no connection to addr has bytes waiting
// in its receive queue.
func awaitDrained(t *testing.T, addr string) {
	t.Helper()
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	local := fmt.Sprintf(":%04X", port)
	await.Cond(t, 60*time.Second, "the server to read what the attackers sent", func() bool {
		raw, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(raw)) {
			f := strings.Fields(line)
			if len(f) < 5 || !strings.HasSuffix(f[1], local) || f[3] != "01" { // 01: established
				continue
			}
			if _, rx, _ := strings.Cut(f[4], ":"); strings.Trim(rx, "0") != "" {
				return false
			}
		}
		return true
	})
}

// limitsStillServes checks that a small put and a status request are
// answered while the attack holds.
func limitsStillServes(t *testing.T, h *hydrant) {
	t.Helper()
	status, res, err := h.put("clicks", []byte(`{"ok":1}`+"\n"))
	if err != nil || status != http.StatusOK || res.FailedRecordCount != 0 {
		t.Errorf("a small put during the attack: %d %+v %v", status, res, err)
	}
	var out struct{ StreamDescriptionSummary struct{ StreamName string } }
	if code := kinesisCall(t, h.url, "DescribeStreamSummary", `{"StreamName":"clicks"}`, &out); code != http.StatusOK {
		t.Errorf("DescribeStreamSummary during the attack: %d", code)
	}
}

// kinesisCall sends one Kinesis API request and decodes its answer.
func kinesisCall(t *testing.T, url, op, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "Kinesis_20131202."+op)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: %s: %v", op, raw, err)
		}
	} else if resp.StatusCode != http.StatusOK {
		t.Logf("%s: %d %s", op, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

func checkPeakRSS(t *testing.T, h *hydrant, what string) {
	t.Helper()
	if peak := peakRSS(t, h); peak > limitsPeakRSS {
		t.Errorf("peak RSS %d MiB under %s; want at most %d MiB", peak>>20, what, limitsPeakRSS>>20)
	} else {
		t.Logf("peak RSS %d MiB under %s (bound %d MiB)", peak>>20, what, limitsPeakRSS>>20)
	}
}
