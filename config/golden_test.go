package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/errors/*.golden from the current output")

// goldenEnv is the environment the golden inputs are interpolated with.
func goldenEnv(name string) (string, bool) {
	v, ok := map[string]string{
		"HYDRANT_BUCKET": "events",
		"HYDRANT_EMPTY":  "",
	}[name]
	return v, ok
}

// TestErrorsGolden parses every testdata/errors/*.yaml, each of which has
// mistakes, and compares the error text with the .golden file beside it.
// Run with -update to rewrite the golden files.
func TestErrorsGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "errors", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no inputs in testdata/errors")
	}
	for _, input := range inputs {
		name := strings.TrimSuffix(filepath.Base(input), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(input)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := ParseWithEnv(filepath.Base(input), data, goldenEnv)
			if err == nil {
				t.Fatalf("parsed without error: %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("returned a Config together with the error")
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(input, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./config -run TestErrorsGolden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("error text differs from %s\n--- got ---\n%s--- want ---\n%s", golden, got, want)
			}
		})
	}
}
