package console

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/hydrant-dev/hydrant/console/history"
)

//go:embed assets
var assets embed.FS

// securityHeaders are set on every console response: scripts, styles and
// data only from this origin (no inline script), never framed, no sniffing.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options": "nosniff",
	"X-Frame-Options":        "DENY",
	"Referrer-Policy":        "no-referrer",
	"Cache-Control":          "no-cache",
}

// Handler serves the console's page shell and assets under /console/.
func Handler() http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	files := http.StripPrefix("/console/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range securityHeaders {
			w.Header().Set(k, v)
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// HistoryHandler serves the sampler's history as JSON (see
// history.Sampler.WriteJSON); ?stream= and ?delivery= narrow it to one.
func HistoryHandler(s *history.Sampler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		q := r.URL.Query()
		s.WriteJSON(w, history.Filter{Stream: q.Get("stream"), Delivery: q.Get("delivery")})
	})
}
