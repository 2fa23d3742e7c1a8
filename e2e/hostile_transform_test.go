package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/klauspost/compress/zstd"

	"github.com/hydrant-dev/hydrant/internal/await"
)

// The decompress delivery runs with its defaults (max_size 10MiB,
// max_batch_size 32MiB): the bound below is what those defaults promise.
const hostileDecompressConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
deliveries:
  - name: logs
    shard_limits: {bytes_per_second: 64MiB, records_per_second: 100000}
    transforms:
      - {type: decompress, format: zstd}
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/out", prefix: "logs/", error_prefix: "errors/!{firehose:error-output-type}/"}
`

// hostileBatchBudget is decompress's default max_batch_size.
const hostileBatchBudget = 32 << 20

// hostilePeakRSS bounds the serving process's peak resident set while it
// decompresses a batch of zstd bombs: the batch's budget and a record's
// (42MiB), as buffered records and as the file written, with the garbage
// the collector lets grow, the runtime and the embedded NATS server.
// (Measured: 130-150MiB; 1.8GB and then out of memory before the budget.)
const hostilePeakRSS = 300 << 20

// A PutRecordBatch of zstd bombs, each record a few hundred bytes that
// decompresses to 10MiB (or declares a 512MiB window, or streams 100MiB),
// is decompressed within max_batch_size: the process stays under
// hostilePeakRSS, the bombs that do not fit go to the error output as
// processing-failed (Transform.DecompressError), and the good records of
// the same batch, before and after the bombs, are delivered. A process
// killed with such a batch still in its shard log reads it again after the
// restart and handles it the same way. (Before max_batch_size, 500 such
// records made 5GB: the process died, and again on every restart.)
func TestHostileDecompressBombs(t *testing.T) {
	dir, listen := t.TempDir(), freeAddr(t)
	fh := firehose.New(firehose.Options{BaseEndpoint: aws.String("http://" + listen), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("any", "any", "")})
	fitting, window, long := zstdBombs(t)
	t.Logf("bombs: %d bytes → 10MiB-1KiB, %d bytes declaring a 512MiB window, %d bytes → 100MiB", len(fitting), len(window), len(long))

	// The first batch: 497 bombs that each fit max_size, between good
	// records. The first three fit the batch's budget and are delivered as
	// they are; 494 fail; the good records after them still fit what is
	// left.
	first := []fhtypes.Record{{Data: zstdRecord(t, `{"good":0}`)}}
	for range 497 {
		first = append(first, fhtypes.Record{Data: fitting})
	}
	first = append(first, fhtypes.Record{Data: zstdRecord(t, `{"good":1}`)}, fhtypes.Record{Data: zstdRecord(t, `{"good":2}`)})
	// The second: bombs over max_size, of both kinds, around good records.
	second := []fhtypes.Record{{Data: zstdRecord(t, `{"good":3}`)}}
	for i := range 497 {
		bomb := window
		if i%50 == 0 {
			bomb = long
		}
		second = append(second, fhtypes.Record{Data: bomb})
	}
	second = append(second, fhtypes.Record{Data: zstdRecord(t, `{"good":4}`)})

	fit := hostileBatchBudget / (10<<20 - 1<<10)
	h := startHydrant(t, dir, listen, hostileDecompressConfig)
	putBatch(t, fh, "logs", first)
	out := filepath.Join(dir, "out")
	awaitHostileOutput(t, h, out, []int{0, 1, 2}, fit, 497-fit)
	if peak := peakRSS(t, h); peak > hostilePeakRSS {
		t.Errorf("peak RSS %d MiB decompressing 497 bombs; want at most %d MiB", peak>>20, hostilePeakRSS>>20)
	} else {
		t.Logf("peak RSS %d MiB decompressing 497 bombs (bound %d MiB)", peak>>20, hostilePeakRSS>>20)
	}

	// The second batch is acknowledged, then the process dies before it
	// can have decompressed it: the restarted one reads it from the shard
	// log and must survive it too.
	putBatch(t, fh, "logs", second)
	h.kill()
	h = startHydrant(t, dir, listen, hostileDecompressConfig)
	awaitHostileOutput(t, h, out, []int{0, 1, 2, 3, 4}, fit, 497-fit+497)
	if peak := peakRSS(t, h); peak > hostilePeakRSS {
		t.Errorf("peak RSS %d MiB after the restart; want at most %d MiB", peak>>20, hostilePeakRSS>>20)
	} else {
		t.Logf("peak RSS %d MiB after the restart (bound %d MiB)", peak>>20, hostilePeakRSS>>20)
	}
	h.stop()
}

// zstdBombs returns three kinds of zstd record: one that decompresses to
// just under the default max_size (its frame says so), one whose frame
// declares a 512MiB window, and one streamed without a content size that
// decompresses to 100MiB.
func zstdBombs(t *testing.T) (fitting, window, long []byte) {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	fitting = enc.EncodeAll(make([]byte, 10<<20-1<<10), nil)
	window = zstdStreamed(t, 512<<20, 1<<20)
	long = zstdStreamed(t, 8<<20, 100<<20)
	return fitting, window, long
}

// zstdStreamed compresses n zero bytes as a streaming writer with the
// given window: a frame without a content size.
func zstdStreamed(t *testing.T, window, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, err := zstd.NewWriter(&b, zstd.WithWindowSize(window), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for range n / len(chunk) {
		if _, err := zw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zstdRecord(t *testing.T, s string) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll([]byte(s), nil)
}

// putBatch sends recs with PutRecordBatch; every record must be accepted.
func putBatch(t *testing.T, fh *firehose.Client, delivery string, recs []fhtypes.Record) {
	t.Helper()
	size := 0
	for _, r := range recs {
		size += len(r.Data)
	}
	res, err := fh.PutRecordBatch(context.Background(), &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String(delivery), Records: recs})
	if err != nil || aws.ToInt32(res.FailedPutCount) != 0 {
		t.Fatalf("PutRecordBatch of %d records (%d bytes): %v", len(recs), size, err)
	}
	t.Logf("PutRecordBatch: %d records, %d bytes", len(recs), size)
}

// awaitHostileOutput waits until the delivery has written the good records
// numbered goods, exactly bombs decompressed bombs, and failed records
// (Transform.DecompressError, distinct sequence numbers) to the error
// output; it fails at once if the process exits.
func awaitHostileOutput(t *testing.T, h *hydrant, out string, goods []int, bombs, failed int) {
	t.Helper()
	var got hostileOutput
	deadline := time.Now().Add(60 * time.Second)
	await.Cond(t, 90*time.Second, "good records delivered and bombs failed", func() bool {
		select {
		case <-h.exited:
			t.Fatalf("hydrant exited: %v", h.cmd.ProcessState)
		default:
		}
		got = readHostileOutput(t, out)
		done := len(got.goods) == len(goods) && got.bombs >= bombs && len(got.failed) >= failed
		if !done && time.Now().After(deadline) {
			t.Fatalf("after 60s: good records %v (want %v), %d bombs delivered (want %d), %d failed (want %d); peak RSS %d MiB",
				got.goods, goods, got.bombs, bombs, len(got.failed), failed, peakRSS(t, h)>>20)
		}
		return done
	})
	for _, g := range goods {
		if got.goods[g] != 1 {
			t.Errorf("good record %d delivered %d times", g, got.goods[g])
		}
	}
	if got.bombs != bombs || len(got.failed) != failed {
		t.Errorf("%d bombs delivered and %d failed; want %d and %d", got.bombs, len(got.failed), bombs, failed)
	}
	for seq, msg := range got.failed {
		if !strings.HasPrefix(msg, "Transform.DecompressError: zstd: ") {
			t.Errorf("record %s failed with %q; want Transform.DecompressError", seq, msg)
		}
	}
}

type hostileOutput struct {
	goods  map[int]int       // good record number → times delivered
	bombs  int               // decompressed bombs delivered
	failed map[string]string // sequence number → "code: message"
}

// readHostileOutput reads what the decompress delivery has written under
// out: delivered records under logs/, failed ones under errors/.
func readHostileOutput(t *testing.T, out string) hostileOutput {
	t.Helper()
	got := hostileOutput{goods: map[int]int{}, failed: map[string]string{}}
	eachLine(t, filepath.Join(out, "logs"), func(line []byte) {
		var r struct{ Good *int }
		switch {
		case len(line) == 10<<20-1<<10 && bytes.Count(line, []byte{0}) == len(line):
			got.bombs++
		case json.Unmarshal(line, &r) == nil && r.Good != nil:
			got.goods[*r.Good]++
		default:
			t.Fatalf("delivered a record that was not put: %.100q", line)
		}
	})
	eachLine(t, filepath.Join(out, "errors", "processing-failed"), func(line []byte) {
		var doc struct{ ErrorCode, ErrorMessage, SequenceNumber string }
		if err := json.Unmarshal(line, &doc); err != nil {
			t.Fatalf("error document %q: %v", line, err)
		}
		got.failed[doc.SequenceNumber] = doc.ErrorCode + ": " + doc.ErrorMessage
	})
	return got
}

// eachLine calls f with each line of each complete file under root.
func eachLine(t *testing.T, root string, f func([]byte)) {
	t.Helper()
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".tmp") {
			return nil
		}
		file, err := os.Open(path)
		if err != nil {
			return nil // renamed or replaced while walking
		}
		defer file.Close()
		sc := bufio.NewScanner(file)
		sc.Buffer(nil, 11<<20)
		for sc.Scan() {
			f(sc.Bytes())
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		return nil
	})
}

// peakRSS returns the process's peak resident set size (VmHWM) in bytes.
func peakRSS(t *testing.T, h *hydrant) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

const hostileJQConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
deliveries:
  - name: events
    transforms:
      - {type: jq, query: '{id, items: ([range(.n)] | length)}'}
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/out", prefix: "events/", error_prefix: "errors/!{firehose:error-output-type}/"}
  - name: nested
    transforms:
      - {type: jq, query: '{id, nest: (reduce range(.n) as $i (null; [.]))}', timeout: 20s}
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/nested", prefix: "nested/", error_prefix: "errors/!{firehose:error-output-type}/"}
`

// A jq query whose cost depends on the record ([range(.n)] with n = 10^12)
// is stopped after its timeout (default 1s): that record goes to the error
// output as Transform.JQTimeout and the records around it are delivered.
// One whose output a record makes 3 million levels deep fails
// (Transform.JQOutputTooLarge) instead of overflowing the stack as it is
// encoded, which ended the process, and again after every restart.
func TestHostileJQQueries(t *testing.T) {
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, hostileJQConfig)
	for _, c := range []struct {
		delivery, body, dir string
		want                []string // delivered
		code                string   // of the one failed record
		within              time.Duration
	}{
		{"events", `{"id":"a","n":3}` + "\n" + `{"id":"slow","n":1000000000000}` + "\n" + `{"id":"b","n":5}` + "\n", "out",
			[]string{`{"id":"a","items":3}`, `{"id":"b","items":5}`}, "Transform.JQTimeout", 10 * time.Second},
		{"nested", `{"id":"a","n":2}` + "\n" + `{"id":"deep","n":3000000}` + "\n" + `{"id":"b","n":1}` + "\n", "nested",
			[]string{`{"id":"a","nest":[[null]]}`, `{"id":"b","nest":[null]}`}, "Transform.JQOutputTooLarge", 30 * time.Second},
	} {
		start := time.Now()
		status, res, err := h.put(c.delivery, []byte(c.body))
		if err != nil || status != http.StatusOK || res.FailedRecordCount != 0 {
			t.Fatalf("put to %s: %d %+v %v", c.delivery, status, res, err)
		}
		out := filepath.Join(dir, c.dir)
		var delivered, failed []string
		await.Cond(t, 60*time.Second, c.delivery+": two records delivered and one failed", func() bool {
			select {
			case <-h.exited:
				t.Fatalf("hydrant exited: %v", h.cmd.ProcessState)
			default:
			}
			delivered, failed = nil, nil
			eachLine(t, filepath.Join(out, c.delivery), func(line []byte) { delivered = append(delivered, string(line)) })
			eachLine(t, filepath.Join(out, "errors", "processing-failed"), func(line []byte) {
				var doc struct{ ErrorCode, ErrorMessage string }
				if err := json.Unmarshal(line, &doc); err != nil {
					t.Fatalf("error document %q: %v", line, err)
				}
				failed = append(failed, doc.ErrorCode+": "+doc.ErrorMessage)
			})
			return len(delivered) == 2 && len(failed) == 1
		})
		elapsed := time.Since(start)
		if strings.Join(delivered, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s delivered %q; want %q", c.delivery, delivered, c.want)
		}
		if !strings.HasPrefix(failed[0], c.code+": ") {
			t.Errorf("%s: the hostile record failed with %q; want %s", c.delivery, failed[0], c.code)
		}
		// The budget, a 1s buffer interval and the file writes; the
		// range alone would run for hours.
		if elapsed > c.within {
			t.Errorf("%s: the hostile record took %v to reach the error output", c.delivery, elapsed)
		}
		t.Logf("%s: %q in the error output, the others in their files, %v after the put", c.delivery, failed[0], elapsed.Round(time.Millisecond))
	}
	h.stop()
}
