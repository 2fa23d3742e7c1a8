package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes Parse panic or return both a Config
// and an error, and that every error it returns has a line.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join("testdata", "errors", "*.yaml"))
	for _, path := range append(seeds, more...) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseWithEnv("fuzz.yaml", data, goldenEnv)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("cfg = %v, err = %v: want exactly one", cfg, err)
		}
		if err == nil {
			return
		}
		for _, fe := range err.(*Error).Errors {
			if fe.File != "fuzz.yaml" {
				t.Fatalf("error without file: %+v", fe)
			}
		}
	})
}
