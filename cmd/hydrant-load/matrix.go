package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// The targets of the matrix's rows.
const (
	targetHTTPFloor = "http floor"
	targetDiskFloor = "disk floor"
	targetNative    = "hydrant native"
	targetFirehose  = "hydrant PutRecordBatch"
	targetKinesis   = "hydrant Kinesis PutRecords"
	// targetNativeHalf is hydrant's native API offered half the best
	// native throughput of the matrix, for the latency target.
	targetNativeHalf = "hydrant native, ½ max rate"
	// targetNativeConsumer is hydrant's native API at full speed, with its
	// file delivery and a GetRecords consumer reading the stream.
	targetNativeConsumer = "hydrant native + GetRecords consumer"
	// pacedPrefix starts the names of the rows of hydrant's native API
	// offered a fixed MiB/s (pacedTarget).
	pacedPrefix = "hydrant native, paced "
)

// pacedTarget is the name of the row offered mib MiB/s.
func pacedTarget(mib float64) string { return fmt.Sprintf("%s%g MiB/s", pacedPrefix, mib) }

// matrixTargets are the rows of the matrix, in order; each is measured at
// every concurrency.
var matrixTargets = []string{targetHTTPFloor, targetDiskFloor, targetNative, targetFirehose, targetKinesis}

// The destinations of the end-to-end runs.
const (
	destFile = "file"
	destS3   = "s3 (MinIO)"
)

// cellSpec is one row of the matrix.
type cellSpec struct {
	target      string
	concurrency int
	rate        float64       // records/s offered; 0: as fast as the target takes them
	duration    time.Duration // the measured window; 0: -duration
}

// e2eSpec is one end-to-end run.
type e2eSpec struct {
	destination string // destFile or destS3
	concurrency int
}

// cellRunner measures what the matrix asks for. Each call starts its
// target afresh and stops it before returning.
type cellRunner interface {
	// cell measures one row: its result and a note for the table.
	cell(ctx context.Context, spec cellSpec) (*Result, string, error)
	// endToEnd measures records/s from put to delivery.
	endToEnd(ctx context.Context, spec e2eSpec) (*EndToEndRow, error)
	// s3Unavailable says why the S3 end-to-end run cannot happen, or "".
	s3Unavailable() string
	// restart fills a node with gib GiB of log, kills it and times its
	// restart.
	restart(ctx context.Context, gib float64) (*RestartResult, error)
}

// Matrix is what -matrix measured. It is what -matrix -json prints.
type Matrix struct {
	Machine  string         `json:"machine"`
	Settings string         `json:"settings"`
	Rows     []MatrixRow    `json:"rows"`
	EndToEnd []EndToEndRow  `json:"end_to_end"`
	Restart  *RestartResult `json:"restart,omitempty"` // not with -restart-gib 0
	Targets  []TargetCheck  `json:"targets"`
}

// MatrixRow is one target at one concurrency.
type MatrixRow struct {
	Target                  string  `json:"target"`
	Concurrency             int     `json:"concurrency"`
	OfferedRecordsPerSecond float64 `json:"offered_records_per_second,omitempty"` // paced rows only
	Result                  *Result `json:"result,omitempty"`
	// DiskFloorRatio is records/s over the disk floor's at the same
	// concurrency (hydrant rows only).
	DiskFloorRatio float64 `json:"disk_floor_ratio,omitempty"`
	Note           string  `json:"note,omitempty"`
	Error          string  `json:"error,omitempty"` // the row could not be measured, or failed its check
}

// EndToEndRow is records put and delivered during one window.
type EndToEndRow struct {
	Destination string  `json:"destination"`
	Concurrency int     `json:"concurrency"`
	Duration    string  `json:"duration"`
	Ingest      *Result `json:"ingest,omitempty"`
	// Delivered*PerSecond count what the delivery wrote during the window
	// (hydrant_delivery_records_total), whenever it was put.
	DeliveredRecordsPerSecond float64 `json:"delivered_records_per_second"`
	DeliveredMiBPerSecond     float64 `json:"delivered_mib_per_second"`
	DeliveredShare            float64 `json:"delivered_share"` // of the records/s ingested in the window
	// BacklogRecords were acknowledged but not yet delivered at the end of
	// the window.
	BacklogRecords int64  `json:"backlog_records"`
	Note           string `json:"note,omitempty"`
	Error          string `json:"error,omitempty"`
}

// TargetCheck is one of the targets against what was measured.
type TargetCheck struct {
	Target string `json:"target"`
	Figure string `json:"figure"`
	Met    bool   `json:"met"`
}

// runMatrix measures every row, then the end-to-end runs, and checks the
// targets. A row that cannot be measured is reported in the table; the run
// goes on.
func runMatrix(ctx context.Context, opts options, r cellRunner, progress io.Writer) *Matrix {
	m := &Matrix{
		Machine: describeMachine(),
		Settings: fmt.Sprintf("record %d B, %d records/request, %s warmup + %s per row (paced rows %v MiB/s: %s), fsync=%s, native stream %d shards (delivery to files: %v; Kinesis PutRecords to it too), PutRecordBatch DirectPut delivery %d shards, restart with %g GiB",
			opts.recordSize, opts.recordsPerRequest, opts.warmup, opts.duration, opts.pacedRates, opts.pacedDuration, opts.fsync, opts.shards, opts.deliver, opts.firehoseShards, opts.restartGiB),
	}
	measure := func(spec cellSpec) {
		if ctx.Err() != nil {
			return
		}
		fmt.Fprintf(progress, "hydrant-load: === %s, %d producers ===\n", spec.target, spec.concurrency)
		row := MatrixRow{Target: spec.target, Concurrency: spec.concurrency, OfferedRecordsPerSecond: spec.rate}
		res, note, err := r.cell(ctx, spec)
		row.Result, row.Note = res, note
		if err == nil {
			err = res.check(maxFailedRequestRatio)
		}
		if err != nil {
			row.Error = firstLine(err.Error())
			fmt.Fprintf(progress, "hydrant-load: %s, %d producers: %v\n", spec.target, spec.concurrency, err)
		}
		if res != nil && res.RecordsFailed > 0 {
			row.Note = joinNotes(row.Note, fmt.Sprintf("%d records failed", res.RecordsFailed))
		}
		m.Rows = append(m.Rows, row)
	}
	for _, target := range matrixTargets {
		for _, c := range opts.concurrencies {
			measure(cellSpec{target: target, concurrency: c})
		}
	}
	largest := slices.Max(opts.concurrencies)
	if best := m.best(targetNative); best > 0 {
		measure(cellSpec{target: targetNativeHalf, concurrency: largest, rate: best / 2})
	}
	measure(cellSpec{target: targetNativeConsumer, concurrency: largest})
	for _, mib := range opts.pacedRates {
		measure(cellSpec{target: pacedTarget(mib), concurrency: largest,
			rate: mib * (1 << 20) / float64(opts.recordSize), duration: opts.pacedDuration})
	}
	m.setDiskFloorRatios()
	dests := []string{destFile, destS3}
	for _, dest := range dests {
		if ctx.Err() != nil {
			break
		}
		spec := e2eSpec{destination: dest, concurrency: opts.e2eConcurrency}
		row := EndToEndRow{Destination: dest, Concurrency: spec.concurrency, Duration: opts.e2eDuration.String()}
		if why := r.s3Unavailable(); dest == destS3 && why != "" {
			row.Note = "skipped: " + why
			m.EndToEnd = append(m.EndToEnd, row)
			continue
		}
		fmt.Fprintf(progress, "hydrant-load: === end to end to %s, %d producers ===\n", dest, spec.concurrency)
		got, err := r.endToEnd(ctx, spec)
		if got != nil {
			row = *got
		}
		if err != nil {
			row.Error = firstLine(err.Error())
			fmt.Fprintf(progress, "hydrant-load: end to end to %s: %v\n", dest, err)
		}
		m.EndToEnd = append(m.EndToEnd, row)
	}
	if opts.restartGiB > 0 && ctx.Err() == nil {
		fmt.Fprintf(progress, "hydrant-load: === restart with %g GiB of log ===\n", opts.restartGiB)
		res, err := r.restart(ctx, opts.restartGiB)
		if res == nil {
			res = &RestartResult{GiB: opts.restartGiB}
		}
		if err != nil {
			res.Error = firstLine(err.Error())
			fmt.Fprintf(progress, "hydrant-load: restart: %v\n", err)
		}
		m.Restart = res
	}
	m.Targets = m.checkTargets(opts)
	return m
}

// best is the highest records/s of target's rows.
func (m *Matrix) best(target string) float64 {
	best := 0.0
	for _, row := range m.Rows {
		if row.Target == target && row.Result != nil && row.Error == "" {
			best = max(best, row.Result.RecordsPerSecond)
		}
	}
	return best
}

// setDiskFloorRatios sets each closed-loop hydrant row's ratio to the disk
// floor at the same concurrency.
func (m *Matrix) setDiskFloorRatios() {
	for i, row := range m.Rows {
		if !closedLoop(row.Target) || row.Result == nil {
			continue
		}
		for _, floor := range m.Rows {
			if floor.Target == targetDiskFloor && floor.Concurrency == row.Concurrency &&
				floor.Result != nil && floor.Result.RecordsPerSecond > 0 {
				m.Rows[i].DiskFloorRatio = row.Result.RecordsPerSecond / floor.Result.RecordsPerSecond
			}
		}
	}
}

// failed reports whether a row or end-to-end run could not be measured or
// failed its check.
func (m *Matrix) failed() bool {
	for _, row := range m.Rows {
		if row.Error != "" {
			return true
		}
	}
	for _, e := range m.EndToEnd {
		if e.Error != "" {
			return true
		}
	}
	return m.Restart != nil && m.Restart.Error != ""
}

// writeMatrix prints m as JSON, Markdown or aligned text.
func writeMatrix(w io.Writer, m *Matrix, asJSON, markdown bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	}
	render := renderText
	if markdown {
		render = renderMarkdown
	}
	var b strings.Builder
	fmt.Fprintf(&b, "machine: %s\nsettings: %s\n\n", m.Machine, m.Settings)
	render(&b, m.rowCells())
	b.WriteString("\n")
	render(&b, m.endToEndCells())
	if m.Restart != nil {
		b.WriteString("\n")
		render(&b, m.Restart.cells())
	}
	b.WriteString("\nTargets (2 cores, 1 KiB records, fsync before ack):\n")
	for _, c := range m.Targets {
		verdict := "MISSED"
		if c.Met {
			verdict = "met"
		}
		if markdown {
			fmt.Fprintf(&b, "- **%s** %s: %s\n", verdict, c.Target, c.Figure)
		} else {
			fmt.Fprintf(&b, "  %-7s %s: %s\n", verdict, c.Target, c.Figure)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// rowCells is the matrix table, header first.
func (m *Matrix) rowCells() [][]string {
	cells := [][]string{{"target", "producers", "records/s", "MiB/s", "p50 ms", "p95 ms", "p99 ms",
		"CPU s", "generator CPU s", "peak RSS MiB", "× disk floor", "note"}}
	for _, row := range m.Rows {
		line := []string{row.Target, fmt.Sprint(row.Concurrency)}
		line = append(line, resultCells(row.Result)...)
		ratio := ""
		if row.DiskFloorRatio > 0 {
			ratio = fmt.Sprintf("%.2f", row.DiskFloorRatio)
		}
		note := row.Note
		if row.OfferedRecordsPerSecond > 0 {
			note = joinNotes(fmt.Sprintf("offered %.0f records/s", row.OfferedRecordsPerSecond), note)
		}
		if row.Error != "" {
			note = joinNotes(note, "error: "+row.Error)
		}
		cells = append(cells, append(line, ratio, note))
	}
	return cells
}

// resultCells are a result's figures in the order of the matrix columns
// from records/s to peak RSS; blanks for a missing result or process.
func resultCells(r *Result) []string {
	if r == nil {
		return []string{"", "", "", "", "", "", "", ""}
	}
	l := r.LatencyMillis
	cpu, rss := "", ""
	if p := r.Process; p != nil {
		cpu, rss = fmt.Sprintf("%.1f", p.CPUSeconds), fmt.Sprintf("%.0f", p.PeakRSSMiB)
	}
	return []string{fmt.Sprintf("%.0f", r.RecordsPerSecond), fmt.Sprintf("%.1f", r.MiBPerSecond),
		fmt.Sprintf("%.1f", l.P50), fmt.Sprintf("%.1f", l.P95), fmt.Sprintf("%.1f", l.P99),
		cpu, fmt.Sprintf("%.1f", r.GeneratorCPU), rss}
}

// endToEndCells is the end-to-end table, header first.
func (m *Matrix) endToEndCells() [][]string {
	cells := [][]string{{"end to end to", "producers", "window", "put records/s", "put MiB/s",
		"delivered records/s", "delivered MiB/s", "delivered/put", "backlog at end (records)", "CPU s", "peak RSS MiB", "note"}}
	for _, e := range m.EndToEnd {
		line := []string{e.Destination, fmt.Sprint(e.Concurrency), e.Duration}
		note := e.Note
		if e.Error != "" {
			note = joinNotes(note, "error: "+e.Error)
		}
		if e.Ingest == nil {
			cells = append(cells, append(line, "", "", "", "", "", "", "", "", note))
			continue
		}
		cpu, rss := "", ""
		if p := e.Ingest.Process; p != nil {
			cpu, rss = fmt.Sprintf("%.1f", p.CPUSeconds), fmt.Sprintf("%.0f", p.PeakRSSMiB)
		}
		cells = append(cells, append(line,
			fmt.Sprintf("%.0f", e.Ingest.RecordsPerSecond), fmt.Sprintf("%.1f", e.Ingest.MiBPerSecond),
			fmt.Sprintf("%.0f", e.DeliveredRecordsPerSecond), fmt.Sprintf("%.1f", e.DeliveredMiBPerSecond),
			fmt.Sprintf("%.0f%%", 100*e.DeliveredShare), fmt.Sprint(e.BacklogRecords), cpu, rss, note))
	}
	return cells
}

// renderText writes cells as columns aligned with spaces.
func renderText(b *strings.Builder, cells [][]string) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, line := range cells {
		fmt.Fprintln(tw, strings.Join(line, "\t"))
	}
	tw.Flush()
}

// renderMarkdown writes cells as a Markdown table, numbers right-aligned.
func renderMarkdown(b *strings.Builder, cells [][]string) {
	for i, line := range cells {
		b.WriteString("| " + strings.Join(line, " | ") + " |\n")
		if i == 0 {
			align := make([]string, len(line))
			for j := range align {
				align[j] = "---:"
			}
			align[0], align[len(align)-1] = "---", "---"
			b.WriteString("|" + strings.Join(align, "|") + "|\n")
		}
	}
}

// joinNotes joins the non-empty notes with "; ".
func joinNotes(notes ...string) string {
	return strings.Join(slices.DeleteFunc(notes, func(s string) bool { return s == "" }), "; ")
}

// firstLine is the first line of s, for a table cell.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// runMatrixCommand is -matrix: 0 when every row was measured and passed
// its check, 1 otherwise, whether or not the targets were met.
func runMatrixCommand(ctx context.Context, opts options, stdout, stderr io.Writer) int {
	r, err := newLiveRunner(opts, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "hydrant-load:", err)
		return 2
	}
	m := runMatrix(ctx, opts, r, stderr)
	if err := writeMatrix(stdout, m, opts.json, opts.markdown); err != nil {
		fmt.Fprintln(stderr, "hydrant-load:", err)
		return 1
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "hydrant-load: interrupted")
		return 1
	}
	if m.failed() {
		return 1
	}
	return 0
}
