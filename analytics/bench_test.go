//go:build cgo

package analytics

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/shards"
)

// BenchmarkTumblingGroupBy is the yardstick: a 10 s tumbling
// window GROUP BY ticker over 1 KiB JSON records, read from a 4-shard
// stream, converted, windowed, queried and the results put into the output
// stream. MB/s is the input the application keeps up with (at 50 MiB/s it
// must exceed 52); s/window is how long emitting a window of 50 MiB/s of
// input took at most (results are at most one window late while it stays
// under 10 s); peak-RSS-MiB is the process's high-water mark.
func BenchmarkTumblingGroupBy(b *testing.B) {
	ctx := context.Background()
	const recordsPerWindow = 51_200 * 10 // 50 MiB/s of 1 KiB records for 10 s
	clock := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: b.TempDir(), Now: now})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	limits := shards.Limits{BytesPerSecond: 1 << 40, RecordsPerSecond: 1 << 30}
	src, err := store.CreateStream(ctx, shards.StreamSpec{Name: "trades", Shards: 4, Limits: limits})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := store.CreateStream(ctx, shards.StreamSpec{Name: "stats", Shards: 1, Limits: limits}); err != nil {
		b.Fatal(err)
	}
	tickers := []string{"AMZN", "MSFT", "GOOG", "AAPL", "NVDA", "META", "TSLA", "ORCL"}
	pad := strings.Repeat("x", 1024)
	// The records arrive at 51,200 a second of the fake clock; the clock
	// then moves a window and a second on so the last window closes.
	start := clock
	batch := make([]shards.Record, 0, 500)
	for i := range b.N {
		tk := tickers[i%len(tickers)]
		data := fmt.Appendf(nil, `{"ticker":%q,"price":%d.%02d,"volume":%d,"exchange":"XNAS","side":"buy","note":"`,
			tk, 100+i%97, i%100, i%1000)
		data = append(append(data, pad[:1024-len(data)-2]...), `"}`...) // 1 KiB
		batch = append(batch, shards.Record{PartitionKey: tk + fmt.Sprint(i%64), Data: data})
		if len(batch) == cap(batch) || i == b.N-1 {
			clock = start.Add(time.Duration(i) * 10 * time.Second / recordsPerWindow)
			for _, r := range src.Put(ctx, clock, batch) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
			batch = batch[:0]
		}
	}
	clock = clock.Add(12 * time.Second)
	engine, err := NewEngine(ctx, EngineConfig{MemoryLimit: 256 << 20, TempDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer engine.Close()
	schema, err := NewSchema([]Column{{Name: "ticker", Type: "string"}, {Name: "price", Type: "double"}, {Name: "volume", Type: "int64"}})
	if err != nil {
		b.Fatal(err)
	}
	app, err := NewApp(AppConfig{Name: "bench", Source: "trades", Output: "stats", Schema: schema, Windows: Windows{Size: 10 * time.Second},
		PartitionKey: "ticker",
		SQL: `SELECT ticker, count(*) AS trades, avg(price) AS avg_price, sum(volume) AS volume, window_start
		      FROM source GROUP BY ticker, window_start`}, store, engine, now, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := app.restore(ctx); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	for {
		emitted := app.state.Emitted
		if err := app.Step(ctx); err != nil {
			b.Fatal(err)
		}
		if app.state.Emitted.Equal(emitted) && len(app.windows) == 0 {
			break
		}
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	// How long reading, windowing and querying a window's worth of input
	// at 50 MiB/s takes: under 10 s, results are at most one window late.
	b.ReportMetric(elapsed.Seconds()*recordsPerWindow/float64(b.N), "s/window")
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
	}
}
