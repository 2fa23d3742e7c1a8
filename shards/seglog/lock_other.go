//go:build !unix

package seglog

// lockDir does not lock on systems without flock: there, only one Log may
// open a directory at a time, which nothing enforces.
func lockDir(dir string) (unlock func() error, err error) {
	return func() error { return nil }, nil
}
