//go:build cgo

package analytics

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7"

	miniotest "github.com/hydrant-dev/hydrant/e2e/minio"
)

// A reference table in S3 (a real MinIO): loaded at start, loaded again
// when the object changes, kept as it was while the service is down.
func TestEngineReferenceFromS3(t *testing.T) {
	m := miniotest.Start(t)
	m.CreateBucket(t, "refdata")
	ctx := context.Background()
	putObject := func(body string) {
		t.Helper()
		if _, err := m.Client.PutObject(ctx, "refdata", "companies.csv", bytes.NewReader([]byte(body)), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	putObject("ticker,name\nAMZN,Amazon\nMSFT,Microsoft\n")
	local := filepath.Join(t.TempDir(), "reference", "companies.csv")
	fetch := &S3Fetcher{Client: m.Client, Bucket: "refdata", Key: "companies.csv"}
	e, err := NewEngine(ctx, EngineConfig{References: []Reference{{Name: "companies", Path: local, Fetch: fetch}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s := mustSchema(t, Column{Name: "ticker", Type: "string"})
	in := rows(t, s, at("2026-12-05T12:00:00Z"), `{"ticker":"AMZN"}`, `{"ticker":"MSFT"}`)
	q := `SELECT string_agg(c.name, ',' ORDER BY c.name) AS names FROM source JOIN companies c USING (ticker)`
	check := func(want string) {
		t.Helper()
		got, err := e.Run(ctx, s, Window{}, in, q)
		if err != nil || len(got) != 1 || string(got[0]) != want {
			t.Fatalf("join: %s, %v; want %s", got, err, want)
		}
	}
	check(`{"names":"Amazon,Microsoft"}`)
	putObject("ticker,name\nAMZN,Amazon.com\nMSFT,Microsoft\n")
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	check(`{"names":"Amazon.com,Microsoft"}`)
	m.Stop(t)
	if err := e.Reload(ctx); err == nil {
		t.Fatal("a reload with S3 down: no error")
	}
	check(`{"names":"Amazon.com,Microsoft"}`)
}
