package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/hydrant-dev/hydrant/destinations"
)

// Config says where objects go.
type Config struct {
	Endpoint        string // URL: http://host:port or https://host
	Region          string
	Bucket          string
	AccessKeyID     string
	SecretAccessKey string
	// PartSize is the multipart threshold and part size (default 16 MiB).
	PartSize uint64
	// Transport is optional (tests, custom TLS).
	Transport http.RoundTripper
	// SSE is server-side encryption: "" (the bucket's default), "s3"
	// (SSE-S3) or "kms" (SSE-KMS with SSEKMSKeyID, or the default key).
	SSE         string
	SSEKMSKeyID string
	// SSECKey, 32 bytes, encrypts with a customer-provided key (SSE-C).
	SSECKey []byte
}

// DefaultPartSize is the size above which objects are uploaded in parts.
const DefaultPartSize = 16 << 20

// Store writes objects to one bucket.
type Store struct {
	client   *minio.Client
	bucket   string
	partSize uint64
	sse      encrypt.ServerSide // nil: none asked for
}

// New returns a store for cfg. It does not contact the server.
func New(cfg Config) (*Store, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("s3 endpoint %q: want http://host[:port] or https://host[:port]", cfg.Endpoint)
	}
	var creds *credentials.Credentials
	if cfg.AccessKeyID != "" {
		creds = credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, "")
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{&credentials.EnvAWS{}, &credentials.EnvMinio{}})
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:     creds,
		Secure:    u.Scheme == "https",
		Region:    cfg.Region,
		Transport: cfg.Transport,
		// Hydrant retries with its own backoff, bounded by the delivery's
		// retry duration; minio-go's own retries would multiply it.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	partSize := cfg.PartSize
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	sse, err := serverSide(cfg)
	if err != nil {
		return nil, err
	}
	return &Store{client: client, bucket: cfg.Bucket, partSize: partSize, sse: sse}, nil
}

// serverSide builds the server-side encryption cfg asks for.
func serverSide(cfg Config) (encrypt.ServerSide, error) {
	switch {
	case len(cfg.SSECKey) > 0:
		if cfg.SSE != "" {
			return nil, fmt.Errorf("s3: sse and an SSE-C key cannot be combined")
		}
		sse, err := encrypt.NewSSEC(cfg.SSECKey)
		if err != nil {
			return nil, fmt.Errorf("s3: SSE-C key: %w", err)
		}
		return sse, nil
	case cfg.SSE == "s3":
		return encrypt.NewSSE(), nil
	case cfg.SSE == "kms":
		sse, err := encrypt.NewSSEKMS(cfg.SSEKMSKeyID, nil)
		if err != nil {
			return nil, fmt.Errorf("s3: SSE-KMS: %w", err)
		}
		return sse, nil
	case cfg.SSE == "":
		return nil, nil
	}
	return nil, fmt.Errorf("s3: sse %q: must be s3 or kms", cfg.SSE)
}

// Client returns the underlying minio client.
func (s *Store) Client() *minio.Client { return s.client }

// CheckBucket reports whether the bucket exists and is reachable.
func (s *Store) CheckBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("s3 bucket %s: %w", s.bucket, err)
	}
	if !ok {
		return fmt.Errorf("s3 bucket %s does not exist", s.bucket)
	}
	return nil
}

// Put uploads body to key, in parts when it is larger than the part size.
func (s *Store) Put(ctx context.Context, key string, body []byte, meta destinations.ObjectMeta) error {
	if err := s3utils.CheckValidObjectName(key); err != nil {
		// The client refuses the key (over 1024 bytes, not UTF-8) before
		// sending it: no retry can change that.
		return destinations.Permanent(fmt.Errorf("s3 put %s/%s: %w", s.bucket, key, err))
	}
	_, err := s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{
		ContentType:          meta.ContentType,
		ContentEncoding:      meta.ContentEncoding,
		PartSize:             s.partSize,
		ServerSideEncryption: s.sse,
	})
	return classify(s.bucket, key, err)
}

// PutIfAbsent uploads body to key unless an object is there already
// (If-None-Match: *): then created is false. Of two writers of one key at
// once, one creates it. body is sent in one request.
func (s *Store) PutIfAbsent(ctx context.Context, key string, body []byte, meta destinations.ObjectMeta) (created bool, err error) {
	if err := s3utils.CheckValidObjectName(key); err != nil {
		return false, destinations.Permanent(fmt.Errorf("s3 put %s/%s: %w", s.bucket, key, err))
	}
	opts := minio.PutObjectOptions{ContentType: meta.ContentType, ContentEncoding: meta.ContentEncoding,
		ServerSideEncryption: s.sse, DisableMultipart: true}
	opts.SetMatchETagExcept("*")
	_, err = s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(body), int64(len(body)), opts)
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && (resp.StatusCode == http.StatusPreconditionFailed || resp.Code == "PreconditionFailed" ||
		resp.StatusCode == http.StatusConflict && resp.Code == "ConditionalRequestConflict") {
		return false, nil // there, or being written by another: either way not ours
	}
	return err == nil, classify(s.bucket, key, err)
}

// classify maps S3 errors to the destination error model; it is the one
// place that does. Missing buckets and denied access are retried: the batch
// is not at fault, and an operator can fix the bucket while data waits.
func classify(bucket, key string, err error) error {
	if err == nil {
		return nil
	}
	wrapped := fmt.Errorf("s3 put %s/%s: %w", bucket, key, err)
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return wrapped
	}
	switch {
	case resp.Code == "SlowDown" || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		return destinations.Throttled(wrapped, time.Second)
	case resp.Code == "EntityTooLarge" || resp.Code == "InvalidArgument" || resp.Code == "KeyTooLongError" ||
		strings.HasPrefix(resp.Code, "InvalidObjectName") ||
		resp.Code == "XMinioInvalidObjectName" || resp.Code == "XMinioInvalidResourceName":
		// The key or body can never be stored (MinIO's codes: a NUL, a
		// segment over 255 bytes, a "." or ".." segment): retrying would
		// only hold the shard for retry.duration.
		return destinations.Permanent(wrapped)
	}
	return wrapped
}

// Close releases nothing: the client holds only idle connections.
func (s *Store) Close(context.Context) error { return nil }
