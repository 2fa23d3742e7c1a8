//go:build !cgo

package analytics

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/hydrant-dev/hydrant/shards"
)

// A build without cgo runs no ad-hoc query, and says why.
func TestQueryWithoutCGO(t *testing.T) {
	dir := t.TempDir()
	s, err := shards.Open(context.Background(), shards.StoreConfig{DataDir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, err := NewQuerier(QueryConfig{Store: s, TempDir: filepath.Join(dir, "sql")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Query(context.Background(), Query{SQL: "SELECT 1"}); !errors.Is(err, ErrNoEngine) {
		t.Fatalf("Query: %v, want ErrNoEngine", err)
	}
}
