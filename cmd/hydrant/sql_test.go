//go:build cgo

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/internal/testnet"
)

func TestSQLHandler(t *testing.T) {
	url := sqlServer(t, config.AuthConfig{})
	tests := map[string]struct {
		contentType, query, body string
		status                   int
		want                     string // the whole answer, or with code: a part of the error's message
		code                     string
	}{
		"a GROUP BY, JSON": {contentType: "application/json", body: `{"sql": "` + clicksQuery + `"}`,
			status: 200, want: clicksAnswer},
		"the SQL as text":          {contentType: "text/plain", body: clicksQuery, status: 200, want: clicksAnswer},
		"no content type, sniffed": {body: clicksQuery, status: 200, want: clicksAnswer},
		"inferred columns and the record's own": {contentType: "application/json",
			body:   `{"sql": "SELECT ms, data, partition_key FROM stream('clicks') WHERE ms = 40"}`,
			status: 200, want: `{"columns":["ms","data","partition_key"],"rows":[{"ms":40,"data":"{\"page\":\"/c\",\"ms\":40}","partition_key":"3"}],"truncated":false}` + "\n"},
		"past 10,000 rows, truncated": {contentType: "text/plain", body: `SELECT count(*) OVER () AS n FROM range(10001)`,
			status: 200, want: `"truncated":true`},
		"max_records in the body": {contentType: "application/json", body: `{"sql": "SELECT * FROM stream('clicks')", "max_records": 5}`,
			status: 400, code: "TooManyRecords", want: "more than 5 records"},
		"max_records in the URL": {contentType: "text/plain", query: "?max_records=5", body: `SELECT * FROM stream('clicks')`,
			status: 400, code: "TooManyRecords", want: "narrow from/to"},
		"max_records past the cap": {contentType: "application/json", body: `{"sql": "SELECT 1", "max_records": 100000000}`,
			status: 400, code: "InvalidQuery", want: "max_records 100000000: must be 1..10000000"},
		"an unknown stream":       {body: `SELECT * FROM stream('nope')`, status: 404, code: "ResourceNotFoundException", want: `"nope"`},
		"SQL that does not parse": {body: `SELECT FROM WHERE`, status: 400, code: "InvalidQuery", want: "syntax error"},
		"no SQL":                  {contentType: "application/json", body: `{"sql": ""}`, status: 400, code: "InvalidQuery", want: "no SQL"},
		"bad JSON": {contentType: "application/json", body: `{"sql": `, status: 400, code: "InvalidArgumentException",
			want: "not a JSON object"},
		"an unknown field": {contentType: "application/json", body: `{"query": "SELECT 1"}`, status: 400,
			code: "InvalidArgumentException", want: `unknown field "query"`},
		"no files": {body: `SELECT * FROM read_csv('/etc/passwd')`, status: 400, code: "InvalidQuery",
			want: "file system operations are disabled"},
		"too big": {body: strings.Repeat(" ", maxSQLBody+1), status: 413, code: "RequestEntityTooLarge"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, url+"/v1/sql"+tt.query, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.code == "" {
				if strings.HasPrefix(tt.want, "{") && string(body) != tt.want || !strings.Contains(string(body), tt.want) {
					t.Errorf("answer\n%s want\n%s", body, tt.want)
				}
				return
			}
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tt.code || !strings.Contains(e.Error.Message, tt.want) {
				t.Errorf("answer %s, want code %s saying %q", body, tt.code, tt.want)
			}
		})
	}
	resp, err := http.Get(url + "/v1/sql")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("GET /v1/sql answered")
	}
}

// POST /v1/sql needs hydrant:Query: a key that reads every stream, or an
// AWS key of the data plane, whose signature covers the body.
func TestSQLHandlerAuth(t *testing.T) {
	const reader, putter, keyID, secret = "reader-key-0123456789", "putter-key-0123456789", "AKIDSQLTEST", "sql-test-secret"
	url := sqlServer(t, config.AuthConfig{
		APIKeys: []config.APIKeyConfig{{Key: reader, Streams: []string{"*"}, Actions: []string{"read"}},
			{Key: putter, Streams: []string{"clicks"}, Actions: []string{"put", "read"}}},
		AWS: []config.AWSCredentialConfig{{AccessKeyID: keyID, SecretAccessKey: secret}},
	})
	tests := map[string]struct {
		apiKey, sigV4 string // sigV4: the secret signing; "" none
		tamper        bool   // the body changes after signing
		status        int
	}{
		"no credential":                        {status: 401},
		"a key that may not read every stream": {apiKey: putter, status: 403},
		"a key that reads every stream":        {apiKey: reader, status: 200},
		"SigV4 over the body":                  {sigV4: secret, status: 200},
		"SigV4 over another body":              {sigV4: secret, tamper: true, status: 401},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			body := []byte(`{"sql": "SELECT count(*) AS n FROM stream('clicks')"}`)
			req, _ := http.NewRequest(http.MethodPost, url+"/v1/sql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if tt.sigV4 != "" {
				t.Setenv("AWS_ACCESS_KEY_ID", keyID)
				t.Setenv("AWS_SECRET_ACCESS_KEY", tt.sigV4)
			}
			if err := authenticate(req, tt.apiKey, body); err != nil {
				t.Fatal(err)
			}
			if tt.tamper {
				req.Body = io.NopCloser(strings.NewReader(`{"sql": "SELECT 2 AS n"}`))
				req.ContentLength = int64(len(`{"sql": "SELECT 2 AS n"}`))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, got)
			}
			if tt.status == 200 && !strings.Contains(string(got), `"rows":[{"n":6}]`) {
				t.Errorf("answer %s", got)
			}
		})
	}
}

// hydrant sql against a running Hydrant: a table, JSON, JSON lines, the
// SQL on stdin; the server's refusals and no server exit 1, usage 2.
func TestSQLCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	addr, _ := startServe(t, hydrantBinary(t), putConfig)
	resp, err := http.Post("http://"+addr+"/v1/streams/clicks/records", "application/x-ndjson", strings.NewReader(strings.Join(clickRecords, "\n")+"\n"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("put: %v %v", resp, err)
	}
	resp.Body.Close()
	endpoint := "http://" + addr
	tests := map[string]struct {
		args       []string
		stdin      string
		code       int
		out, error string // out: the whole output; error: a part of stderr
	}{
		"a table": {args: []string{"-endpoint", endpoint, clicksQuery}, out: "page  views\n/a    3\n/b    2\n/c    1\n(3 rows)\n"},
		"JSON": {args: []string{"-endpoint", endpoint, "-output", "json", clicksQuery},
			out: "{\n  \"columns\": [\n    \"page\",\n    \"views\"\n  ],\n  \"rows\": [\n    {\n      \"page\": \"/a\",\n      \"views\": 3\n    },\n" +
				"    {\n      \"page\": \"/b\",\n      \"views\": 2\n    },\n    {\n      \"page\": \"/c\",\n      \"views\": 1\n    }\n  ],\n  \"truncated\": false\n}\n"},
		"JSON lines": {args: []string{"-endpoint", endpoint, "-output", "jsonl", clicksQuery},
			out: `{"page":"/a","views":3}` + "\n" + `{"page":"/b","views":2}` + "\n" + `{"page":"/c","views":1}` + "\n"},
		"the SQL on stdin":      {args: []string{"-endpoint", endpoint, "-"}, stdin: "SELECT sum(ms) AS total\nFROM stream('clicks')\n", out: "total\n210\n(1 row)\n"},
		"unquoted words joined": {args: []string{"-endpoint", endpoint, "SELECT", "count(*)", "AS", "n", "FROM", "stream('clicks')"}, out: "n\n6\n(1 row)\n"},
		"too many records": {args: []string{"-endpoint", endpoint, "-max-records", "5", "SELECT count(*) FROM stream('clicks')"}, code: 1,
			error: "HTTP 400: TooManyRecords: the query reads more records than it may: its stream() calls hold more than 5 records"},
		"an unknown stream": {args: []string{"-endpoint", endpoint, "SELECT * FROM stream('nope')"}, code: 1,
			error: `HTTP 404: ResourceNotFoundException: stream not found: "nope"`},
		"nothing there":   {args: []string{"-endpoint", fmt.Sprintf("http://127.0.0.1:%d", testnet.FreePort(t)), "SELECT 1"}, code: 1, error: "connection refused"},
		"no SQL":          {args: []string{"-endpoint", endpoint}, code: 2, error: "Usage: hydrant sql"},
		"empty SQL":       {args: []string{"-endpoint", endpoint, "-"}, stdin: " \n", code: 2, error: "no SQL"},
		"a wrong -output": {args: []string{"-endpoint", endpoint, "-output", "xml", "SELECT 1"}, code: 2, error: "Usage: hydrant sql"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := sqlCmd(tt.args, strings.NewReader(tt.stdin), &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.code, stderr.String())
			}
			if tt.code == 0 && stdout.String() != tt.out {
				t.Errorf("stdout\n%s want\n%s", stdout.String(), tt.out)
			}
			if !strings.Contains(stderr.String(), tt.error) {
				t.Errorf("stderr %q does not say %q", stderr.String(), tt.error)
			}
		})
	}
}
