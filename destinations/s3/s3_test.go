package s3

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"

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

// Objects are encrypted on the server as configured: SSE-S3 and SSE-KMS
// (MinIO's built-in KMS key), visible in the object's headers.
func TestServerSideEncryption(t *testing.T) {
	m := miniotest.Start(t)
	m.CreateBucket(t, "sealed")
	ctx := context.Background()
	for name, cfg := range map[string]Config{
		"sse-s3":  {SSE: "s3"},
		"sse-kms": {SSE: "kms", SSEKMSKeyID: "hydrant-test-key"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg.Endpoint, cfg.Region, cfg.Bucket, cfg.AccessKeyID, cfg.SecretAccessKey = m.Endpoint, "us-east-1", "sealed", m.AccessKey, m.SecretKey
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Put(ctx, name, []byte("secret\n"), destinations.ObjectMeta{}); err != nil {
				t.Fatal(err)
			}
			info, err := m.Client.StatObject(ctx, "sealed", name, minio.StatObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"sse-s3": "AES256", "sse-kms": "aws:kms"}[name]
			if got := info.Metadata.Get("X-Amz-Server-Side-Encryption"); got != want {
				t.Fatalf("X-Amz-Server-Side-Encryption = %q, want %q", got, want)
			}
		})
	}
	if _, err := New(Config{Endpoint: m.Endpoint, SSE: "s3", SSECKey: make([]byte, 32)}); err == nil {
		t.Fatal("sse with an SSE-C key accepted")
	}
	if _, err := New(Config{Endpoint: m.Endpoint, SSECKey: make([]byte, 31)}); err == nil {
		t.Fatal("a 31-byte SSE-C key accepted")
	}
}

// SSE-C over HTTPS: the object can be read only with the key.
func TestSSEC(t *testing.T) {
	m := miniotest.StartTLS(t)
	m.CreateBucket(t, "sealed")
	key := []byte("0123456789abcdef0123456789abcdef")
	s, err := New(Config{Endpoint: m.Endpoint, Region: "us-east-1", Bucket: "sealed", AccessKeyID: m.AccessKey,
		SecretAccessKey: m.SecretKey, SSECKey: key, Transport: m.Transport})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, "c", []byte("customer key\n"), destinations.ObjectMeta{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Client.StatObject(ctx, "sealed", "c", minio.StatObjectOptions{}); err == nil {
		t.Fatal("an SSE-C object was readable without its key")
	}
	sse, _ := encrypt.NewSSEC(key)
	o, err := m.Client.GetObject(ctx, "sealed", "c", minio.GetObjectOptions{ServerSideEncryption: sse})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	body, err := io.ReadAll(o)
	if err != nil || string(body) != "customer key\n" {
		t.Fatalf("read with the key: %q, %v", body, err)
	}
}

// Keys MinIO or the client can never take are permanent errors, so the
// batch goes to the error output at once instead of holding its shard for
// retry.duration; a well-formed key with unusual characters is stored.
func TestImpossibleKeysArePermanent(t *testing.T) {
	m := miniotest.Start(t)
	m.CreateBucket(t, "keys")
	s, err := New(Config{Endpoint: m.Endpoint, Region: "us-east-1", Bucket: "keys", AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	const name = "/d-shardId-000000000000-00000000000000000001.jsonl"
	tests := map[string]struct {
		key       string
		permanent bool // false: stored
	}{
		"dot dot segment":        {key: "c=a/../c=b" + name, permanent: true},
		"dot segment":            {key: "c=a/./x" + name, permanent: true},
		"leading dot dot":        {key: ".." + name, permanent: true},
		"NUL":                    {key: "c=a\x00b" + name, permanent: true},
		"segment over 255 bytes": {key: "c=" + strings.Repeat("v", 300) + name, permanent: true},
		"key over 1024 bytes":    {key: strings.Repeat("c=v/", 300) + name, permanent: true},
		"empty segment":          {key: "c=a//x" + name, permanent: true},
		"not UTF-8":              {key: "c=\xff" + name, permanent: true},
		"unicode and spaces":     {key: "c=café 東京 v1..2" + name},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := s.Put(context.Background(), tt.key, []byte("x\n"), destinations.ObjectMeta{})
			if tt.permanent {
				if err == nil || !destinations.IsPermanent(err) {
					t.Fatalf("err = %v, want a permanent error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
