// Package file is the local-directory object store: the same key layout as
// S3, written atomically (temporary file, fsync, rename), so a re-delivered
// batch replaces its file and a crash never leaves half a file behind. A key
// whose cleaned path leaves the directory, or that the file system can never
// take (too long, an invalid name, a file where a directory is needed), is a
// Permanent error.
package file
