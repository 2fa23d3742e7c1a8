//go:build !race

package ingest

// allocFactor scales allocation bounds; see race_test.go.
const allocFactor = 1
