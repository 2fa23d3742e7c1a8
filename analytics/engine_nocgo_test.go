//go:build !cgo

package analytics

import (
	"context"
	"errors"
	"testing"
)

// A build without cgo has no engine, and says so.
func TestNoEngineWithoutCGO(t *testing.T) {
	if _, err := NewEngine(context.Background(), EngineConfig{}); !errors.Is(err, ErrNoEngine) {
		t.Fatalf("NewEngine: %v, want ErrNoEngine", err)
	}
}
