package e2e

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// faultRow is one line of the fault-injection summary: how many records a
// scenario had acknowledged, and where they ended up.
type faultRow struct {
	Scenario     string
	Acknowledged int // records a put answered 200 for
	Delivered    int // distinct acknowledged records found at the destination
	Duplicated   int // acknowledged records found more than once where once is promised (or in two objects)
	ErrorOutput  int // acknowledged records in the error output
	Lost         int // acknowledged, and neither delivered nor in the error output: must be 0
	Unacked      int // records whose put was not acknowledged (owed nothing) ...
	UnackedSeen  int // ... of which found at the destination anyway
	Took         time.Duration
}

// faultRows collects the rows of the scenarios that ran; TestMain prints
// them after every test has run.
var faultRows struct {
	sync.Mutex
	rows []faultRow
}

// recordFault adds a scenario's row to the summary.
func recordFault(r faultRow) {
	faultRows.Lock()
	defer faultRows.Unlock()
	faultRows.rows = append(faultRows.rows, r)
}

// faultSummary formats the rows as aligned text columns under a header
// (the scenario left-aligned, numbers right-aligned); "" when no scenario
// recorded one.
func faultSummary() string {
	faultRows.Lock()
	defer faultRows.Unlock()
	if len(faultRows.rows) == 0 {
		return ""
	}
	table := [][]string{{"scenario", "acknowledged", "delivered", "duplicated", "error output", "lost", "unacked", "unacked seen", "took"}}
	for _, r := range faultRows.rows {
		row := []string{r.Scenario}
		for _, n := range []int{r.Acknowledged, r.Delivered, r.Duplicated, r.ErrorOutput, r.Lost, r.Unacked, r.UnackedSeen} {
			row = append(row, fmt.Sprint(n))
		}
		table = append(table, append(row, r.Took.Round(100*time.Millisecond).String()))
	}
	widths := make([]int, len(table[0]))
	for _, row := range table {
		for i, cell := range row {
			widths[i] = max(widths[i], len(cell))
		}
	}
	var b strings.Builder
	for _, row := range table {
		for i, cell := range row {
			if i == 0 {
				fmt.Fprintf(&b, "%-*s", widths[i], cell)
			} else {
				fmt.Fprintf(&b, "  %*s", widths[i], cell)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// printFaultSummary prints the summary to stdout and, when
// HYDRANT_FAULT_SUMMARY names a file, writes it there (`make test` shows
// that file: go test hides a passing package's output).
func printFaultSummary() {
	s := faultSummary()
	if s == "" {
		return
	}
	s = "fault-injection summary (e2e/fault_*_test.go): acknowledged records and where they ended up\n" + s
	fmt.Print("\n" + s)
	if path := os.Getenv("HYDRANT_FAULT_SUMMARY"); path != "" {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "writing the fault summary: %v\n", err)
		}
	}
}
