//go:build !cgo

package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hydrant-dev/hydrant/config"
)

// A build without cgo answers POST /v1/sql with 501 and why.
func TestSQLHandlerWithoutCGO(t *testing.T) {
	url := sqlServer(t, config.AuthConfig{})
	resp, err := http.Post(url+"/v1/sql", "text/plain", strings.NewReader("SELECT 1"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(string(body), `"code":"NotImplemented"`) ||
		!strings.Contains(string(body), "CGO_ENABLED=0") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
}
