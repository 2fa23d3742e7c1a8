package config

import (
	"strings"
	"testing"
)

func TestHTTPDestination(t *testing.T) {
	const base = `
storage: {data_dir: /tmp/x}
deliveries:
  - name: web
    destination:
      http:
`
	env := map[string]string{"HTTP_ACCESS_KEY": "s3cr3t"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cases := map[string]struct {
		http, extra string
		wantErr     string // "" for valid
	}{
		"minimal":         {http: `{url: "https://r.example.com/firehose"}`},
		"full":            {http: `{url: "http://127.0.0.1:8080/", name: r, access_key: "${HTTP_ACCESS_KEY}", common_attributes: {env: prod}, content_encoding: gzip, request_timeout: 30s, max_request_size: 4MiB}`},
		"no url":          {http: `{name: r}`, wantErr: "destination.http.url: required"},
		"ftp url":         {http: `{url: "ftp://x/"}`, wantErr: "destination.http.url: must be a URL"},
		"encoding":        {http: `{url: "http://x/", content_encoding: br}`, wantErr: "destination.http.content_encoding: must be one of none, gzip"},
		"timeout":         {http: `{url: "http://x/", request_timeout: 0s}`, wantErr: "destination.http.request_timeout"},
		"request size":    {http: `{url: "http://x/", max_request_size: 10}`, wantErr: "destination.http.max_request_size"},
		"long key":        {http: `{url: "http://x/", access_key: ` + strings.Repeat("k", 4097) + `}`, wantErr: "destination.http.access_key: must be at most 4096 bytes"},
		"all sans backup": {http: `{url: "http://x/", backup_mode: all}`, wantErr: "destination.http.backup_mode: all needs the delivery's backup"},
		"all with backup": {http: `{url: "http://x/", backup_mode: all}`, extra: "    backup: {file: {dir: /tmp/b}}\n"},
		"long attribute":  {http: `{url: "http://x/", common_attributes: {a: ` + strings.Repeat("v", 1025) + `}}`, wantErr: "destination.http.common_attributes.a: must be at most 1024 bytes"},
		"unknown key":     {http: `{url: "http://x/", endpoint: y}`, wantErr: "endpoint"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, err := ParseWithEnv("h.yaml", []byte(strings.Replace(base, "http:\n", "http: "+c.http+"\n", 1)+c.extra), lookup)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatal(err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			case err != nil && strings.Contains(err.Error(), "s3cr3t"):
				t.Fatalf("error shows the access key: %v", err)
			}
			if err == nil && name == "full" {
				h := cfg.Deliveries[0].Destination.HTTP
				if h.AccessKey != "s3cr3t" || h.CommonAttributes["env"] != "prod" || h.MaxRequestSize != 4*MiB {
					t.Fatalf("decoded %+v", *h)
				}
			}
		})
	}
}

func TestHTTPDestinationStringRedacts(t *testing.T) {
	c := NewDefaultHTTPDestinationConfig()
	c.URL, c.AccessKey = "https://user:pw@r.example.com/p?token=t0k", "s3cr3t"
	s := c.String()
	for _, secret := range []string{"s3cr3t", "pw", "t0k"} {
		if strings.Contains(s, secret) {
			t.Errorf("%q shows %q", s, secret)
		}
	}
}
