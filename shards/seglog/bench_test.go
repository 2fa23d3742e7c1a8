package seglog

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkAppend appends 512 KiB entries (500 records of 1 KiB) from
// one goroutine per key, with and without an fsync per write: MB/s is the
// throughput group commit gets.
func BenchmarkAppend(b *testing.B) {
	const size, records = 512 << 10, 500
	for _, syncAlways := range []bool{true, false} {
		for _, keys := range []int{8, 64} {
			b.Run(fmt.Sprintf("sync=%v/keys=%d", syncAlways, keys), func(b *testing.B) {
				l := mustOpen(b, Options{Dir: b.TempDir(), SyncAlways: syncAlways})
				defer mustClose(b, l)
				p := make([]byte, size)
				for i := range p {
					p[i] = byte(i)
				}
				var next atomic.Int64
				b.SetParallelism(max(keys/2, 1)) // GOMAXPROCS (2 here) goroutines each
				b.SetBytes(size)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					key := fmt.Sprint("stream/", next.Add(1)%int64(keys))
					for pb.Next() {
						if _, err := l.Append(context.Background(), key, Entry{Records: records, Payload: p}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

// BenchmarkRead reads a 64 MiB key 4 MiB at a time, from its start on
// and again.
func BenchmarkRead(b *testing.B) {
	const entry, n, chunk = 64 << 10, 1024, 4 << 20
	l := mustOpen(b, Options{Dir: b.TempDir()})
	defer mustClose(b, l)
	p := make([]byte, entry)
	for range n {
		mustAppend(b, l, "k", Entry{Records: 64, Payload: p})
	}
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	from := uint64(1)
	for b.Loop() {
		got, err := l.Read("k", from, chunk)
		if err != nil || len(got) == 0 {
			b.Fatalf("Read(%d): %d entries, %v", from, len(got), err)
		}
		if from = got[len(got)-1].Seq + 1; from > n {
			from = 1
		}
	}
}

// BenchmarkOpen opens (and closes) a log of 64 sealed segments of 1 MiB,
// 4 KiB entries of 16 keys, read through their indexes.
func BenchmarkOpen(b *testing.B) {
	const entry, total = 4 << 10, 64 << 20
	o := Options{Dir: b.TempDir(), SegmentBytes: 1 << 20}
	l := mustOpen(b, o)
	p := make([]byte, entry)
	for i := range total / entry {
		mustAppend(b, l, fmt.Sprint("k", i%16), Entry{Records: 4, Payload: p})
	}
	size := l.Size()
	mustClose(b, l)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l, err := Open(o)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(float64(size)/(1<<30)), "ns/GiB")
}
