package redrive_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/hydrant-dev/hydrant/buffer"
	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/destinations/s3"
	miniotest "github.com/hydrant-dev/hydrant/e2e/minio"
	"github.com/hydrant-dev/hydrant/redrive"
	"github.com/hydrant-dev/hydrant/transform"
)

// An S3 destination's error objects are read back from the bucket, redriven
// to it once, and marked there.
func TestRedriveS3(t *testing.T) {
	ctx := context.Background()
	m := miniotest.Start(t)
	m.CreateBucket(t, "out")
	store, err := s3.New(s3.Config{Endpoint: m.Endpoint, Region: "us-east-1", Bucket: "out", AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := destinations.NewObjects(store, destinations.ObjectsConfig{Prefix: "data/", ErrorPrefix: config.DefaultErrorPrefix, Compression: "gzip"})
	if err != nil {
		t.Fatal(err)
	}
	eb := &destinations.ErrorBatch{Delivery: "orders", ShardID: "shardId-000000000000", Type: destinations.ErrorTypeProcessingFailed}
	for i, d := range []string{`{"id":1,"v":"bad"}`, `{"id":2,"v":"bad"}`} {
		eb.Records = append(eb.Records, destinations.ErrorRecord{Record: buffer.Record{Data: []byte(d), Sequence: uint64(7 + i), Arrival: arrival},
			ErrorCode: "Transform.JQError", ErrorMessage: "bad", AttemptsMade: 1, AttemptEnding: arrival})
	}
	if err := objs.WriteErrors(ctx, eb); err != nil {
		t.Fatal(err)
	}
	place := redrive.NewBucket(store.Client(), "out", store, minio.GetObjectOptions{})
	if _, err := place.Get(ctx, "errors/none", 1<<20); !errors.Is(err, redrive.ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	d := redrive.Delivery{Name: "orders", Transform: transform.Func(fixing), Destination: objs, Errors: objs,
		Place: place, Prefix: redrive.StaticPrefix(config.DefaultErrorPrefix)}
	now := func() time.Time { return arrival.Add(time.Hour) }
	for i, want := range []redrive.Result{{Objects: 1, Records: 2, Delivered: 2}, {Skipped: 1}} {
		res, err := redrive.Run(ctx, d, redrive.Filter{}, now)
		if err != nil || res != want {
			t.Fatalf("redrive %d: %+v, %v; want %+v", i+1, res, err, want)
		}
	}
	var lines []string
	for o := range m.Client.ListObjects(ctx, "out", minio.ListObjectsOptions{Prefix: "data/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		r, err := m.Client.GetObject(ctx, "out", o.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(o.Key, "orders-redrive-") {
			t.Errorf("data object %s: want a redrive shard's name", o.Key)
		}
		b, err := uncompress("gzip", raw)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.Fields(string(b))...)
	}
	if want := []string{`{"id":1,"v":"good"}`, `{"id":2,"v":"good"}`}; strings.Join(lines, " ") != strings.Join(want, " ") {
		t.Fatalf("delivered %q, want %q", lines, want)
	}
}
