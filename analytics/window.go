package analytics

import (
	"fmt"
	"time"
)

// Windows says how an application groups records in time: tumbling
// windows of Size (Every 0 or Size), sliding windows of Size every Every,
// or, with Size 0, none: a continuous query run over micro-batches of at
// most MicroBatch. Windows are aligned on the Unix epoch, as Kinesis Data
// Analytics' STEP(… BY INTERVAL …) and Flink's windows are: a 60 s
// tumbling window starts on the minute.
type Windows struct {
	Size, Every time.Duration
}

// MicroBatch is the longest a continuous query waits to run on what it has
// read.
const MicroBatch = time.Second

// Window is one window: records whose time t satisfies Start ≤ t < End.
type Window struct{ Start, End time.Time }

func (w Window) String() string {
	return w.Start.UTC().Format(time.RFC3339Nano) + "/" + w.End.UTC().Format(time.RFC3339Nano)
}

// Validate checks the windows: a size, and for sliding windows a step that
// divides it, so that every record is in Size/Every windows exactly.
func (w Windows) Validate() error {
	switch {
	case w.Size < 0 || w.Every < 0:
		return fmt.Errorf("window: size and every must not be negative")
	case w.Size == 0 && w.Every != 0:
		return fmt.Errorf("window: every needs a size")
	case w.Size != 0 && w.Size < time.Millisecond:
		return fmt.Errorf("window: size %v is below a millisecond", w.Size)
	case w.Every != 0 && (w.Every > w.Size || w.Size%w.Every != 0):
		return fmt.Errorf("window: every (%v) must divide size (%v)", w.Every, w.Size)
	case w.Every != 0 && w.Size/w.Every > 1000:
		return fmt.Errorf("window: size/every is %d; a record would be in that many windows (at most 1000)", w.Size/w.Every)
	}
	return nil
}

// step is how far apart windows start.
func (w Windows) step() time.Duration {
	switch {
	case w.Size == 0:
		return MicroBatch
	case w.Every == 0:
		return w.Size
	}
	return w.Every
}

// size is how long a window lasts.
func (w Windows) size() time.Duration {
	if w.Size == 0 {
		return MicroBatch
	}
	return w.Size
}

// Of returns the windows that hold a record of time t, oldest first: one
// for tumbling windows and continuous queries, Size/Every for sliding ones.
func (w Windows) Of(t time.Time) []Window {
	step, size := w.step(), w.size()
	last := floor(t, step) // the newest window holding t starts here
	n := int(size / step)
	out := make([]Window, 0, n)
	for i := n - 1; i >= 0; i-- {
		start := last.Add(-time.Duration(i) * step)
		out = append(out, Window{Start: start, End: start.Add(size)})
	}
	return out
}

// Closed returns the windows that end at or before watermark and after
// after, oldest first: those whose results are due once every record up
// to watermark is read, and that were not emitted yet.
func (w Windows) Closed(after, watermark time.Time) []Window {
	step, size := w.step(), w.size()
	var out []Window
	// The first window ending after after: ends are starts + size, and
	// starts are multiples of step.
	end := floor(after, step)
	for !end.After(after) {
		end = end.Add(step)
	}
	for ; !end.After(watermark); end = end.Add(step) {
		out = append(out, Window{Start: end.Add(-size), End: end})
	}
	return out
}

// floor returns the latest multiple of step since the Unix epoch at or
// before t (time.Truncate counts from year 1, which a step like 7 s does
// not share with the epoch).
func floor(t time.Time, step time.Duration) time.Time {
	ns := t.UnixNano()
	r := ns % int64(step)
	if r < 0 {
		r += int64(step)
	}
	return time.Unix(0, ns-r).UTC()
}
