// Package file is the local-directory object store: the same key layout as
// S3, written atomically (temporary file, fsync, rename), so a re-delivered
// batch replaces its file and a crash never leaves half a file behind.
package file
