package analytics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/minio/minio-go/v7"
)

// Fetcher brings a reference table's file up to date at a local path
// before each load. Fetch leaves the file whole: the old one or the new
// one, never part of either. An error is retryable (the source may be
// back at the next reload); the file it leaves is the old one.
type Fetcher interface {
	Fetch(ctx context.Context, path string) error
}

// S3Fetcher copies an object of an S3-compatible service, downloading it
// only when its ETag changed since the last copy.
type S3Fetcher struct {
	Client      *minio.Client
	Bucket, Key string

	mu   sync.Mutex
	etag string // of the copy at the path last fetched
}

// Fetch implements Fetcher.
func (f *S3Fetcher) Fetch(ctx context.Context, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	info, err := f.Client.StatObject(ctx, f.Bucket, f.Key, minio.StatObjectOptions{})
	if err != nil {
		return fmt.Errorf("s3://%s/%s: %w", f.Bucket, f.Key, err)
	}
	if info.ETag != "" && info.ETag == f.etag {
		if _, err := os.Stat(path); err == nil {
			return nil // unchanged
		}
	}
	opts := minio.GetObjectOptions{}
	if info.ETag != "" {
		opts.SetMatchETag(info.ETag) // the version stat saw, or an error
	}
	obj, err := f.Client.GetObject(ctx, f.Bucket, f.Key, opts)
	if err != nil {
		return fmt.Errorf("s3://%s/%s: %w", f.Bucket, f.Key, err)
	}
	defer obj.Close()
	if err := writeAtomically(path, obj); err != nil {
		return fmt.Errorf("s3://%s/%s: %w", f.Bucket, f.Key, err)
	}
	f.etag = info.ETag
	return nil
}

// writeAtomically writes r to path through a temporary file in the same
// directory, renamed over it once complete.
func writeAtomically(path string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".fetch-*")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, r)
	err = errors.Join(err, tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
