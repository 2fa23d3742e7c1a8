package analytics

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/hydrant-dev/hydrant/shards"
)

// EngineConfig bounds an Engine.
type EngineConfig struct {
	// MemoryLimit is the most the engine holds in memory (bytes; 0:
	// DuckDB's default, 80% of the machine); past it, work spills to
	// TempDir.
	MemoryLimit int64
	TempDir     string
	// Threads the engine runs a query on (0: one per core).
	Threads int
	// References are tables the query may join with, loaded from files
	// (CSV, JSON lines or Parquet, by extension) at start and at each
	// Reload: the only files the engine may read.
	References []Reference
}

// Reference is a table loaded from a file.
type Reference struct {
	Name string // an SQL identifier, not source
	Path string // .csv, .json, .jsonl, .ndjson or .parquet
	// Fetch, when set, brings the file at Path up to date before each
	// load (a copy of an object in S3).
	Fetch Fetcher
}

// readFunction returns the DuckDB table function that reads path, by its
// extension.
func (r Reference) readFunction() (string, error) {
	switch ext := strings.ToLower(filepath.Ext(r.Path)); ext {
	case ".csv":
		return "read_csv_auto", nil
	case ".json", ".jsonl", ".ndjson":
		return "read_json_auto", nil
	case ".parquet":
		return "read_parquet", nil
	default:
		return "", fmt.Errorf("reference %s: %s: the file's extension says its format: .csv, .json, .jsonl, .ndjson or .parquet", r.Name, r.Path)
	}
}

// Row is one record of a window, as the query sees it: its declared
// columns' values (Schema.Values) and where it came from.
type Row struct {
	Values       []any
	Arrival      time.Time
	PartitionKey string
	Sequence     string
	ShardID      string

	shard int // where it was read, for the app's checkpoint
	seq   shards.Sequence
}

// ErrNoEngine is the error of NewEngine in a build without the SQL engine
// (CGO_ENABLED=0): an application cannot run there. Not retryable.
var ErrNoEngine = errors.New("this build of hydrant has no SQL engine (it was built with CGO_ENABLED=0): SQL applications need the default build")
