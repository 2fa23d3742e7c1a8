package s3

import (
	"context"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/hydrant-dev/hydrant/destinations"
	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	miniotest "github.com/hydrant-dev/hydrant/e2e/minio"
)

func TestConformanceAgainstMinIO(t *testing.T) {
	m := miniotest.Start(t)
	m.CreateBucket(t, "conformance")
	s, err := New(Config{Endpoint: m.Endpoint, Region: "us-east-1", Bucket: "conformance", AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	destinationtest.TestObjectStore(t, s, func(ctx context.Context, key string) ([]byte, destinations.ObjectMeta, error) {
		o, err := m.Client.GetObject(ctx, "conformance", key, minio.GetObjectOptions{})
		if err != nil {
			return nil, destinations.ObjectMeta{}, err
		}
		defer o.Close()
		info, err := o.Stat()
		if err != nil {
			return nil, destinations.ObjectMeta{}, err
		}
		body, err := io.ReadAll(o)
		return body, destinations.ObjectMeta{ContentType: info.ContentType, ContentEncoding: info.Metadata.Get("Content-Encoding")}, err
	}, destinationtest.Options{KeepsMeta: true})

	missing, _ := New(Config{Endpoint: m.Endpoint, Region: "us-east-1", Bucket: "no-such-bucket", AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey})
	if err := missing.CheckBucket(context.Background()); err == nil {
		t.Fatal("CheckBucket found a bucket that does not exist")
	}
	err = missing.Put(context.Background(), "k", []byte("x"), destinations.ObjectMeta{})
	if err == nil || destinations.IsPermanent(err) {
		t.Fatalf("put to a missing bucket: err = %v; want a retryable error (an operator can create the bucket)", err)
	}
}
