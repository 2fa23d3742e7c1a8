//go:build race

package ingest

// allocFactor scales allocation bounds: the race detector's instrumentation
// turns some single allocations (bytes.Buffer's growth) into two.
const allocFactor = 2
