package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/destinations/file"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/pipeline"
	"github.com/hydrant-dev/hydrant/shards"
)

// Interval 0 is Firehose's zero buffering: records are flushed as soon as
// they are read, with no time passing on the delivery's clock (frozen
// here), far below the buffer's size.
func TestZeroBufferingFlushesAsRead(t *testing.T) {
	e := newEnv(t, 2)
	frozen := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	startWith(t, e, pipeline.Config{
		Buffer:      buffer.Config{Size: 5 << 20, Interval: 0},
		Destination: fileObjects(t, e.out),
		Errors:      fileObjects(t, e.out),
		Retry:       destinations.RetryConfig{Duration: time.Second},
	}, pipeline.Settings{Now: func() time.Time { return frozen }})
	for i := range 3 {
		e.put(t, fmt.Sprintf("{\"user\":\"u%d\",\"n\":%d}\n", i, i))
		await.Cond(t, 10*time.Second, fmt.Sprintf("record %d delivered with the clock stopped", i), func() bool {
			return destinationtest.CountLines(destinationtest.DeliveredLines(t, e.out)) == i+1
		})
	}
}

// notify is the file destination, telling done of each batch it wrote.
type notify struct {
	destinations.Destination
	done chan int
}

func (n notify) Deliver(ctx context.Context, b *buffer.Batch) error {
	err := n.Destination.Deliver(ctx, b)
	if err == nil {
		n.done <- len(b.Records)
	}
	return err
}

// BenchmarkZeroBufferingLatency is the time from a put's return to its
// record written to a file by a delivery with interval 0 (one record a
// put, fsync off).
func BenchmarkZeroBufferingLatency(b *testing.B) {
	ctx := context.Background()
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	st, err := store.CreateStream(ctx, shards.StreamSpec{Name: "events", Shards: 1, Limits: generous})
	if err != nil {
		b.Fatal(err)
	}
	fs, err := file.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	objs, err := destinations.NewObjects(fs, destinations.ObjectsConfig{Prefix: "data/"})
	if err != nil {
		b.Fatal(err)
	}
	dest := notify{Destination: objs, done: make(chan int, 1)}
	d := pipeline.New(pipeline.Config{Name: "bench", Stream: "events", Buffer: buffer.Config{Size: 5 << 20},
		Destination: dest, Errors: objs, Retry: destinations.RetryConfig{Duration: time.Second}}, store, pipeline.Settings{})
	runCtx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { d.Run(runCtx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	rec := []shards.Record{{PartitionKey: "k", Data: []byte(`{"n":1}`)}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if res := st.Put(ctx, time.Now(), rec); res[0].Err != nil {
			b.Fatal(res[0].Err)
		}
		for got := 0; got < len(rec); {
			got += <-dest.done
		}
	}
}
