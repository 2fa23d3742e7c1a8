// Package s3 is the S3-compatible object store (MinIO, AWS S3, …) behind the
// s3 destination, using minio-go. Objects over 16 MiB are uploaded in parts.
// A key the store can never take (too long, not UTF-8, a NUL, a "." or ".."
// segment) is a Permanent error.
package s3
