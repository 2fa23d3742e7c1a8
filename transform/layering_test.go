package transform_test

import (
	"os/exec"
	"strings"
	"testing"
)

// Transforms never depend on destinations: what both need about retrying
// and about partition key values is in small packages of their own
// (internal/retry, internal/partitionkey).
func TestTransformsDoNotImportDestinations(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "github.com/hydrant-dev/hydrant/transform").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/hydrant-dev/hydrant/destinations" || strings.HasPrefix(pkg, "github.com/hydrant-dev/hydrant/destinations/") {
			t.Errorf("transform depends on %s", pkg)
		}
	}
}
