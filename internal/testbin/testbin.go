// Package testbin builds the hydrant binary once per test process, for the
// tests that run it for real (cmd/hydrant, e2e, compose).
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once sync.Once
	path string
	err  error
)

// Hydrant returns the path of a hydrant binary built from this checkout's
// cmd/hydrant, building it on the first call; it fails the test when the
// build does.
func Hydrant(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		dir, derr := os.MkdirTemp("", "hydrant-test-bin-")
		if derr != nil {
			err = derr
			return
		}
		_, here, _, _ := runtime.Caller(0)
		pkg := filepath.Join(filepath.Dir(here), "..", "..", "cmd", "hydrant")
		path = filepath.Join(dir, "hydrant")
		cmd := exec.Command("go", "build", "-o", path, ".")
		cmd.Dir = pkg
		if out, berr := cmd.CombinedOutput(); berr != nil {
			err = fmt.Errorf("go build ./cmd/hydrant: %v\n%s", berr, out)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// Cleanup removes the built binary; call it from TestMain after m.Run.
func Cleanup() {
	if path != "" {
		os.RemoveAll(filepath.Dir(path))
	}
}
