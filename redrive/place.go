package redrive

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/hydrant-dev/hydrant/destinations"
)

// ErrNotFound is returned by Place.Get for a key that holds no object.
var ErrNotFound = errors.New("no such object")

// Place is where a delivery's error output lives: a directory or an S3
// bucket. List returns the keys under prefix (every depth), sorted; Get
// returns an object's bytes, ErrNotFound, or ErrObjectTooLarge when it
// holds more than max bytes (reading no more than max+1); Put replaces an
// object whole. Errors other than ErrNotFound and ErrObjectTooLarge may be
// retried. Create writes an object unless one is there (created false):
// of two redrives that create one key at once, on any nodes, one does.
type Place interface {
	List(ctx context.Context, prefix string) ([]string, error)
	Get(ctx context.Context, key string, max int64) ([]byte, error)
	Put(ctx context.Context, key string, body []byte) error
	Create(ctx context.Context, key string, body []byte) (created bool, err error)
}

// Store is what a Place writes through: a destination's object store that
// can also create an object only if it is absent (file.Store: a hard link;
// s3.Store: If-None-Match: *).
type Store interface {
	destinations.ObjectStore
	PutIfAbsent(ctx context.Context, key string, body []byte, meta destinations.ObjectMeta) (created bool, err error)
}

// Dir is a Place over a local directory, as the file destination and the
// data dir's error output write it.
type Dir struct {
	root  string
	store Store // writes atomically and durably
}

// NewDir returns the Place rooted at root; store must write under root
// (file.New(root)).
func NewDir(root string, store Store) *Dir {
	return &Dir{root: root, store: store}
}

// List walks the directory under prefix. A prefix that names no directory
// yet lists nothing.
func (d *Dir) List(ctx context.Context, prefix string) ([]string, error) {
	start := d.root
	if dir, _ := pathDir(prefix); dir != "" {
		start = filepath.Join(d.root, filepath.FromSlash(dir))
	}
	var keys []string
	err := filepath.WalkDir(start, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") { // .tmp files of writes under way
			return nil
		}
		rel, err := filepath.Rel(d.root, path)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", start, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// Get reads one file.
func (d *Dir) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	f, err := os.Open(filepath.Join(d.root, filepath.FromSlash(key)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAtMost(f, max)
}

// Put writes one file through the store.
func (d *Dir) Put(ctx context.Context, key string, body []byte) error {
	return d.store.Put(ctx, key, body, destinations.ObjectMeta{ContentType: "application/json"})
}

// Create writes one file through the store unless it exists.
func (d *Dir) Create(ctx context.Context, key string, body []byte) (bool, error) {
	return d.store.PutIfAbsent(ctx, key, body, destinations.ObjectMeta{ContentType: "application/json"})
}

// pathDir splits a key prefix into its directory part (up to the last
// slash) and the rest.
func pathDir(prefix string) (dir, rest string) {
	i := strings.LastIndexByte(prefix, '/')
	if i < 0 {
		return "", prefix
	}
	return prefix[:i], prefix[i+1:]
}

// Bucket is a Place over an S3 bucket; Put goes through the destination's
// store, so markers get its server-side encryption.
type Bucket struct {
	client *minio.Client
	bucket string
	store  Store
	// getOpts carry an SSE-C key when the objects are encrypted with one.
	getOpts minio.GetObjectOptions
}

// NewBucket returns the Place of bucket; store writes to the same bucket.
func NewBucket(client *minio.Client, bucket string, store Store, get minio.GetObjectOptions) *Bucket {
	return &Bucket{client: client, bucket: bucket, store: store, getOpts: get}
}

// List lists the bucket's keys under prefix.
func (b *Bucket) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for o := range b.client.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", b.bucket, prefix, o.Err)
		}
		keys = append(keys, o.Key)
	}
	slices.Sort(keys)
	return keys, nil
}

// Get reads one object.
func (b *Bucket) Get(ctx context.Context, key string, max int64) ([]byte, error) {
	o, err := b.client.GetObject(ctx, b.bucket, key, b.getOpts)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	body, err := readAtMost(o, max)
	switch {
	case minio.ToErrorResponse(err).Code == "NoSuchKey":
		return nil, ErrNotFound
	case errors.Is(err, ErrObjectTooLarge):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("get s3://%s/%s: %w", b.bucket, key, err)
	}
	return body, nil
}

// Put writes one object through the store.
func (b *Bucket) Put(ctx context.Context, key string, body []byte) error {
	return b.store.Put(ctx, key, body, destinations.ObjectMeta{ContentType: "application/json"})
}

// Create writes one object through the store unless it exists.
func (b *Bucket) Create(ctx context.Context, key string, body []byte) (bool, error) {
	return b.store.PutIfAbsent(ctx, key, body, destinations.ObjectMeta{ContentType: "application/json"})
}
