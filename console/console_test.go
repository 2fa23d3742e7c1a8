package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(http.StripPrefix("", Handler()))
	defer srv.Close()
	tests := map[string]struct {
		method, path string
		status       int
		ctype, body  string
	}{
		"the page shell":          {"GET", "/console/", 200, "text/html", `<script type="module" src="app.js">`},
		"a script":                {"GET", "/console/app.js", 200, "javascript", "X-Api-Key"},
		"the stylesheet":          {"GET", "/console/console.css", 200, "text/css", "prefers-color-scheme: dark"},
		"no such asset":           {"GET", "/console/nope.js", 404, "", ""},
		"only GET":                {"POST", "/console/", 405, "", ""},
		"index.html is the shell": {"GET", "/console/index.html", 301, "", ""}, // redirected to the canonical "/"
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			for k, v := range securityHeaders {
				if k == "Cache-Control" && resp.StatusCode != 200 {
					continue // the file server drops it from errors
				}
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if !strings.Contains(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(string(body), tc.body) {
				t.Errorf("Content-Type %q, body %.200q; want %q containing %q", resp.Header.Get("Content-Type"), body, tc.ctype, tc.body)
			}
		})
	}
}

// TestNoInlineScript keeps the shell within its own Content-Security-Policy:
// scripts come from files, no inline handlers or styles.
func TestNoInlineScript(t *testing.T) {
	shell, err := assets.ReadFile("assets/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", " onclick=", " onload=", " style=", "http://", "https://"} {
		if strings.Contains(string(shell), bad) {
			t.Errorf("index.html contains %q", bad)
		}
	}
}
