package main

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/destinations"
)

// The data dir's error output (Postgres, Iceberg, and destinations without
// a backup) is errors/<delivery>/<type>/yyyy/MM/dd/HH/, with errors/ once.
func TestDataDirErrorsLayout(t *testing.T) {
	dir := t.TempDir()
	out, err := dataDirErrors(dir, "orders-db")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 10, 30, 0, 0, time.UTC) // the prefix takes the oldest record's arrival
	err = out.WriteErrors(t.Context(), &destinations.ErrorBatch{Delivery: "orders-db", ShardID: "shardId-000000000000", Type: "postgres-failed",
		Records: []destinations.ErrorRecord{{Record: buffer.Record{Data: []byte(`{"id":1}`), Sequence: 7, Arrival: at}, ErrorCode: "Postgres.BadRow"}}})
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	filepath.WalkDir(filepath.Join(dir, "errors"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if len(files) != 1 {
		t.Fatalf("files %v, want one error object", files)
	}
	want := "errors/orders-db/postgres-failed/" + at.Format("2006/01/02/15") + "/"
	if !strings.HasPrefix(files[0], want) {
		t.Fatalf("error object at %s, want it under %s", files[0], want)
	}
}
