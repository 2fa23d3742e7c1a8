package pipeline_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/pipeline"
)

// Past the process's buffer memory, buffers flush early (reason memory)
// instead of waiting for their size or interval.
func TestBufferMemoryFlushesEarly(t *testing.T) {
	e := newEnv(t, 2)
	mem := buffer.NewMemory(4 << 10)
	cfg := func(name string) pipeline.Config {
		return pipeline.Config{Name: name, Buffer: buffer.Config{Size: 64 << 20, Interval: time.Hour},
			Destination: fileObjects(t, filepath.Join(e.out, name)), Errors: fileObjects(t, filepath.Join(e.out, name))}
	}
	// Two deliveries share the bound.
	startWith(t, e, cfg("a"), pipeline.Settings{Memory: mem})
	startWith(t, e, cfg("b"), pipeline.Settings{Memory: mem})
	var body strings.Builder
	for i := range 200 {
		fmt.Fprintf(&body, "{\"user\":\"u%d\",\"pad\":\"%s\"}\n", i, strings.Repeat("p", 100))
	}
	e.put(t, body.String())
	for _, name := range []string{"a", "b"} {
		await.Cond(t, 10*time.Second, name+" flushed for memory before its size or interval", func() bool {
			return destinationtest.CountLines(lines(t, filepath.Join(e.out, name), "data")) > 0
		})
	}
	if used := mem.Used(); used > 4<<10+200 {
		t.Errorf("buffers hold %d bytes; the bound is 4 KiB (plus one record)", used)
	}
}
