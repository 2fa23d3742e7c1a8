package transform

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/hydrant-dev/hydrant/buffer"
)

func gzipped(t testing.TB, parts ...string) string {
	t.Helper()
	var b bytes.Buffer
	for _, p := range parts { // each part is one gzip member
		zw := gzip.NewWriter(&b)
		if _, err := zw.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// zstded compresses s as one frame; streamed leaves the content size out
// of the frame header, as a streaming writer does.
func zstded(t testing.TB, s string, streamed bool) string {
	t.Helper()
	if !streamed {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		return string(enc.EncodeAll([]byte(s), nil))
	}
	var b bytes.Buffer
	zw, err := zstd.NewWriter(&b, zstd.WithWindowSize(1<<20), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	for chunk := range stringChunks(s, 64<<10) {
		if _, err := zw.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// zstdFlushed compresses s as a streaming writer that flushes before it
// knows the size: a frame with a 1MiB window and no content size.
func zstdFlushed(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	zw, err := zstd.NewWriter(&b, zstd.WithWindowSize(1<<20), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	half := len(s) / 2
	if _, err := zw.Write([]byte(s[:half])); err != nil {
		t.Fatal(err)
	}
	if err := zw.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write([]byte(s[half:])); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func stringChunks(s string, n int) func(func(string) bool) {
	return func(yield func(string) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

func TestDecompressGzip(t *testing.T) {
	const fail = "Transform.DecompressError"
	cwl := `{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"/app","logStream":"s","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1764000000000,"message":"hello"}]}`
	good := gzipped(t, cwl)
	corrupt := []byte(good)
	corrupt[len(corrupt)-5] ^= 0xff // in the CRC-32
	kib := strings.Repeat("a", 1024)
	tr := mustBuild(t, NewDecompress, map[string]any{"max_size": "1KiB"})
	checkRecords(t, tr, map[string]recordCase{
		"cloudwatch logs payload": {in: good, result: Ok, data: cwl},
		"two members":             {in: gzipped(t, "ab", "cd"), result: Ok, data: "abcd"},
		"empty content":           {in: gzipped(t, ""), result: Ok, data: ""},
		"at the limit":            {in: gzipped(t, kib), result: Ok, data: kib},
		"over the limit":          {in: gzipped(t, kib+"b"), result: ProcessingFailed, code: fail, msg: "gzip: decompressed size exceeds max_size (1024 bytes)"},
		"not gzip":                {in: cwl, result: ProcessingFailed, code: fail, msg: "gzip: invalid header"},
		"empty record":            {in: "", result: ProcessingFailed, code: fail, msg: "gzip: record is empty"},
		"truncated":               {in: good[:len(good)/2], result: ProcessingFailed, code: fail, msg: "unexpected EOF"},
		"bad checksum":            {in: string(corrupt), result: ProcessingFailed, code: fail, msg: "checksum"},
		"trailing garbage":        {in: good + "garbage after the member", result: ProcessingFailed, code: fail, msg: "invalid header"},
	})
}

func TestDecompressZstd(t *testing.T) {
	const fail = "Transform.DecompressError"
	kib := strings.Repeat("z", 1024)
	tr := mustBuild(t, NewDecompress, map[string]any{"format": "zstd", "max_size": 2048})
	big := mustBuild(t, NewDecompress, map[string]any{"format": "zstd"})
	checkRecords(t, tr, map[string]recordCase{
		"round trip":              {in: zstded(t, kib, false), result: Ok, data: kib},
		"window over the limit":   {in: zstdFlushed(t, strings.Repeat("w", 1500)), result: ProcessingFailed, code: fail, msg: "zstd: the frame's window is larger than max_size (2048 bytes)"},
		"two frames":              {in: zstded(t, "ab", false) + zstded(t, "cd", false), result: Ok, data: "abcd"},
		"over the limit, sized":   {in: zstded(t, kib+kib+"!", false), result: ProcessingFailed, code: fail, msg: "zstd: decompressed size exceeds max_size (2048 bytes)"},
		"not zstd":                {in: "plain text", result: ProcessingFailed, code: fail, msg: "zstd: "},
		"empty record":            {in: "", result: ProcessingFailed, code: fail, msg: "zstd: record is empty"},
		"truncated":               {in: zstded(t, kib, false)[:8], result: ProcessingFailed, code: fail, msg: "zstd: "},
		"gzip is not zstd either": {in: gzipped(t, "x"), result: ProcessingFailed, code: fail, msg: "zstd: "},
	})
	// With the default 10MiB limit a streamed frame (1MiB window, no
	// content size in its header) decodes, and one that grows past the
	// limit stops there.
	streamed := strings.Repeat("0123456789abcdef", 1<<16) // 1MiB
	checkRecords(t, big, map[string]recordCase{
		"streamed":           {in: zstded(t, streamed, true), result: Ok, data: streamed},
		"streamed, too long": {in: zstded(t, strings.Repeat(streamed, 11), true), result: ProcessingFailed, code: fail, msg: "exceeds max_size (10485760 bytes)"},
	})
}

// TestDecompressBomb checks that a record decompressing to far more than
// max_size fails having allocated about max_size, not its full size.
func TestDecompressBomb(t *testing.T) {
	const limit = 1 << 20
	zeros := make([]byte, 64<<20)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(zeros)
	zw.Close()
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	zs := enc.EncodeAll(zeros, nil)
	var zsStream bytes.Buffer
	zsw, _ := zstd.NewWriter(&zsStream, zstd.WithWindowSize(512<<10), zstd.WithEncoderConcurrency(1))
	zsw.Write(zeros)
	zsw.Close()
	zeros = nil
	for name, c := range map[string]struct {
		format string
		data   []byte
	}{
		"gzip":          {"gzip", gz.Bytes()},
		"zstd":          {"zstd", zs},
		"zstd streamed": {"zstd", zsStream.Bytes()},
	} {
		t.Run(name, func(t *testing.T) {
			tr := mustBuild(t, NewDecompress, map[string]any{"format": c.format, "max_size": limit})
			recs := []buffer.Record{{Data: c.data}}
			tr.Process(context.Background(), recs) // warm pools
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			out, err := tr.Process(context.Background(), recs)
			runtime.ReadMemStats(&after)
			if err != nil || out[0].Result != ProcessingFailed || !strings.Contains(out[0].ErrorMessage, "exceeds max_size") {
				t.Fatalf("Process = %+v, %v", out, err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*limit {
				t.Errorf("allocated %d bytes for a %d-byte limit (compressed %d bytes, decompressed 64MiB)", alloc, limit, len(c.data))
			}
		})
	}
}

func TestDecompressOptions(t *testing.T) {
	checkBadOptions(t, map[string]optionCase{
		"unknown format": {NewDecompress, map[string]any{"format": "lz4"}, `format: must be gzip or zstd, got "lz4"`},
		"format type":    {NewDecompress, map[string]any{"format": 1}, "format: must be a string"},
		"bad size":       {NewDecompress, map[string]any{"max_size": "lots"}, "max_size: "},
		"zero size":      {NewDecompress, map[string]any{"max_size": 0}, "max_size: must be more than 0"},
		"unknown option": {NewDecompress, map[string]any{"level": 9}, "level: unknown option (valid: format, max_batch_size, max_size)"},
	})
	if _, err := NewDecompress(Env{}, nil); err != nil {
		t.Errorf("defaults refused: %v", err)
	}
}

func TestDecompressContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out, err := mustBuild(t, NewDecompress, nil).Process(ctx, []buffer.Record{{Data: []byte(gzipped(t, "x"))}})
	if !errors.Is(err, context.Canceled) || out != nil {
		t.Errorf("Process = %v, %v; want context.Canceled", out, err)
	}
}

func BenchmarkDecompressGzip(b *testing.B) {
	tr := mustBuild(b, NewDecompress, nil)
	plain, _ := benchRecords(500, 1024)
	recs := make([]buffer.Record, len(plain))
	var total int64
	for i, r := range plain {
		recs[i] = buffer.Record{Data: []byte(gzipped(b, string(r.Data)))}
		total += int64(len(r.Data))
	}
	b.SetBytes(total) // decompressed bytes
	b.ReportAllocs()
	for b.Loop() {
		out, err := tr.Process(context.Background(), recs)
		if err != nil || out[0].Result != Ok {
			b.Fatal(err, out[0])
		}
	}
}

// FuzzDecompress feeds arbitrary bytes to both formats: one output, never
// more than max_size, never a panic.
func FuzzDecompress(f *testing.F) {
	f.Add([]byte(gzipped(f, "hello")))
	f.Add([]byte(gzipped(f, "a", "b")))
	f.Add([]byte(zstded(f, "hello", false)))
	f.Add([]byte(zstded(f, "hello", true)))
	f.Add([]byte("plain"))
	const limit = 64 << 10
	gz := mustBuild(f, NewDecompress, map[string]any{"max_size": limit})
	zs := mustBuild(f, NewDecompress, map[string]any{"format": "zstd", "max_size": limit})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tr := range []Transform{gz, zs} {
			out, err := tr.Process(context.Background(), []buffer.Record{{Data: data}})
			if err != nil || len(out) != 1 {
				t.Fatalf("Process = %d outputs, %v", len(out), err)
			}
			if out[0].Result == Ok && len(out[0].Data) > limit {
				t.Fatalf("%d bytes out, over the %d limit", len(out[0].Data), limit)
			}
		}
	})
}

// A batch of small bombs, each just under max_size decompressed, holds at
// most max_batch_size together: the records past it fail alone, and what
// the batch allocates stays near the budget. (On the old main, 500 such
// zstd records of a few dozen bytes made 5GB and killed the process, again
// on every restart.)
func TestDecompressBatchBudget(t *testing.T) {
	const perRecord, budget = 1 << 20, 8 << 20
	one := make([]byte, perRecord-1)
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	zs := enc.EncodeAll(one, nil)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(one)
	zw.Close()
	for name, c := range map[string]struct {
		format string
		data   []byte
	}{"zstd": {"zstd", zs}, "gzip": {"gzip", gz.Bytes()}} {
		t.Run(name, func(t *testing.T) {
			tr := mustBuild(t, NewDecompress, map[string]any{"format": c.format, "max_size": perRecord, "max_batch_size": budget})
			recs := make([]buffer.Record, 100)
			for i := range recs {
				recs[i] = buffer.Record{Data: c.data}
			}
			tr.Process(context.Background(), recs[:1]) // warm pools
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			out, err := tr.Process(context.Background(), recs)
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			ok := 0
			for i, o := range out {
				switch {
				case o.Result == Ok:
					ok++
				case o.Result != ProcessingFailed || !strings.Contains(o.ErrorMessage, "more than max_batch_size"):
					t.Fatalf("record %d: %+v", i, o)
				}
			}
			if ok != budget/perRecord {
				t.Errorf("%d records decompressed, want the %d that fit in the budget", ok, budget/perRecord)
			}
			// The records that fit allocate about twice their size as their
			// buffers grow; the 92 that do not fit must not be decompressed
			// (they would be 92MiB more).
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 6*budget {
				t.Errorf("allocated %d bytes for a %d-byte batch budget (100 records of %d bytes decompressed)", alloc, budget, perRecord)
			}
		})
	}
}

// Which records of a batch fit its budget: each in turn, as long as what
// the batch has decompressed so far leaves room for it. A record that does
// not fit fails alone; the smaller ones after it still decompress.
func TestDecompressBatchBudgetOrder(t *testing.T) {
	const kib = 1 << 10
	big, small := strings.Repeat("b", 3*kib), strings.Repeat("s", kib/2)
	for _, format := range []string{"gzip", "zstd"} {
		compress := func(s string) []byte { return []byte(zstded(t, s, false)) }
		if format == "gzip" {
			compress = func(s string) []byte { return []byte(gzipped(t, s)) }
		}
		for name, tt := range map[string]struct {
			recs []string
			want []Result
		}{
			"all fit":                  {[]string{big, big, small}, []Result{Ok, Ok, Ok}},
			"the third big one is out": {[]string{big, big, big, small}, []Result{Ok, Ok, ProcessingFailed, Ok}},
			"small ones fill the rest": {[]string{big, big, small, small, small}, []Result{Ok, Ok, Ok, Ok, ProcessingFailed}},
			"over max_size, not batch": {[]string{big + big, small}, []Result{ProcessingFailed, Ok}},
		} {
			t.Run(format+"/"+name, func(t *testing.T) {
				// 7KiB: two big records and two small ones fit, not three.
				tr := mustBuild(t, NewDecompress, map[string]any{"format": format, "max_size": "4KiB", "max_batch_size": "7KiB"})
				recs := make([]buffer.Record, len(tt.recs))
				for i, s := range tt.recs {
					recs[i] = buffer.Record{Data: compress(s)}
				}
				out, err := tr.Process(context.Background(), recs)
				if err != nil {
					t.Fatal(err)
				}
				for i, o := range out {
					if o.Result != tt.want[i] {
						t.Errorf("record %d: %v (%s), want %v", i, o.Result, o.ErrorMessage, tt.want[i])
					}
					if o.Result == Ok && string(o.Data) != tt.recs[i] {
						t.Errorf("record %d: decompressed %d bytes, want %d", i, len(o.Data), len(tt.recs[i]))
					}
				}
			})
		}
	}
}

func TestDecompressDefaultBatchBudget(t *testing.T) {
	// The default takes three records at the default max_size, not four.
	one := make([]byte, defaultMaxDecompressed)
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	zs := enc.EncodeAll(one, nil)
	recs := []buffer.Record{{Data: zs}, {Data: zs}, {Data: zs}, {Data: zs}}
	out, err := mustBuild(t, NewDecompress, map[string]any{"format": "zstd"}).Process(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{Ok, Ok, Ok, ProcessingFailed}
	for i, o := range out {
		if o.Result != want[i] {
			t.Errorf("record %d: %v, want %v", i, o.Result, want[i])
		}
	}
	if msg := out[3].ErrorMessage; !strings.Contains(msg, "more than max_batch_size (33554432 bytes)") {
		t.Errorf("the fourth record failed with %q", msg)
	}
}
