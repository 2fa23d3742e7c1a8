package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/testcert"
)

const jssdkConfig = `
server:
  listen: "{{LISTEN}}"
  {{TLS}}
  auth:
    aws: [{access_key_id: producer, secret_access_key: "producer-secret"}]
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: clicks
    shards: 2
deliveries:
  - name: events
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/out", prefix: "events/"}
`

// jssdkResult is what e2e/jssdk/clients.cjs prints.
type jssdkResult struct {
	Protocol      string   `json:"protocol"`
	SignedHeaders []string `json:"signedHeaders"`
	Shards        int      `json:"shards"`
	Failed        int      `json:"failed"` // FailedPutCount of a PutRecordBatch
	Records       []struct {
		Shard        string `json:"shard"`
		PartitionKey string `json:"partitionKey"`
		Data         string `json:"data"`
	} `json:"records"`
	Error *struct {
		Name    string `json:"name"`
		Status  int    `json:"status"`
		Message string `json:"message"`
	} `json:"error"`
}

// The AWS SDK for JavaScript v3 Kinesis client with its default settings
// talks HTTP/2 (NodeHttp2Handler) — h2c to an http:// endpoint, h2 over TLS
// to an https:// one — and signs the ':authority' pseudo-header instead of
// Host. With SigV4 on, every call of a produce-and-read round trip works, a
// wrong secret is InvalidSignatureException, and the Firehose client (HTTP/1.1,
// signs Host) keeps working. Hydrant refused every signed HTTP/2 call of the
// JS client before it accepted ':authority'.
func TestJSSDKDefaultClientsWithSigV4(t *testing.T) {
	sdk := jssdkDir(t)
	for _, tc := range []struct {
		name string
		tls  bool
	}{
		{name: "h2c to an http endpoint"},
		{name: "h2 over TLS to an https endpoint", tls: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			listen := freeAddr(t)
			scheme, env := "http", []string(nil)
			if tc.tls {
				// The client stays default: Node trusts the test CA
				// through NODE_EXTRA_CA_CERTS.
				pool := testcert.Write(t, dir, "tls.crt", "tls.key")
				startHydrantTLS(t, dir, listen, strings.Replace(jssdkConfig, "{{TLS}}",
					`tls: {cert_file: "{{DIR}}/tls.crt", key_file: "{{DIR}}/tls.key"}`, 1), pool)
				scheme, env = "https", []string{"NODE_EXTRA_CA_CERTS=" + filepath.Join(dir, "tls.crt")}
			} else {
				startHydrant(t, dir, listen, strings.Replace(jssdkConfig, "{{TLS}}", "", 1))
			}
			endpoint := scheme + "://" + listen
			good := append([]string{"AWS_ACCESS_KEY_ID=producer", "AWS_SECRET_ACCESS_KEY=producer-secret"}, env...)

			const n = 10
			res := runJSSDK(t, sdk, good, "kinesis-roundtrip", endpoint, "clicks", fmt.Sprint(n))
			if res.Error != nil {
				t.Fatalf("Kinesis round trip: %s (HTTP %d): %s; signed %v", res.Error.Name, res.Error.Status, res.Error.Message, res.SignedHeaders)
			}
			wantHTTP2Signing(t, res)
			t.Logf("Kinesis client: handler %s, SignedHeaders %v", res.Protocol, res.SignedHeaders)
			if res.Shards != 2 {
				t.Errorf("ListShards: %d shards, want 2", res.Shards)
			}
			var got []string
			for _, r := range res.Records {
				got = append(got, r.PartitionKey+" "+r.Data)
			}
			slices.Sort(got)
			var want []string
			for i := range n {
				want = append(want, fmt.Sprintf(`p%d {"via":"jssdk","n":%d}`, i, i))
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("GetRecords read back\n%v\nwant\n%v", got, want)
			}

			bad := append([]string{"AWS_ACCESS_KEY_ID=producer", "AWS_SECRET_ACCESS_KEY=not-the-secret"}, env...)
			res = runJSSDK(t, sdk, bad, "kinesis-put", endpoint, "clicks")
			if res.Error == nil || res.Error.Name != "InvalidSignatureException" || res.Error.Status != 400 {
				t.Errorf("PutRecord signed with a wrong secret: %+v, want InvalidSignatureException (400)", res.Error)
			}
			wantHTTP2Signing(t, res)

			res = runJSSDK(t, sdk, good, "firehose-put", endpoint, "events")
			if res.Error != nil || res.Failed != 0 {
				t.Fatalf("Firehose PutRecordBatch: %d failed, %+v", res.Failed, res.Error)
			}
			if res.Protocol != "http/1.1" || len(res.SignedHeaders) == 0 ||
				!slices.Contains(strings.Split(res.SignedHeaders[0], ";"), "host") {
				t.Errorf("Firehose client: protocol %q, SignedHeaders %v; want http/1.1 signing host", res.Protocol, res.SignedHeaders)
			}
		})
	}
}

// The README's JavaScript SDK v3 snippet (section "### SDKs"), run as it
// stands with the real SDK against the real binary with SigV4 on, only the
// endpoint's address changed: it must print what its last comment shows.
func TestRecipeJavaScriptSDK(t *testing.T) {
	sdk := jssdkDir(t)
	section := recipeSection(t, "### SDKs")
	var snippet string
	for _, part := range strings.Split(section, "```js\n")[1:] {
		if block, _, ok := strings.Cut(part, "```"); ok && strings.Contains(block, "@aws-sdk/client-kinesis") {
			snippet = block
		}
	}
	if snippet == "" || !strings.Contains(snippet, recipeEndpoint) {
		t.Fatalf("README's SDKs section has no ```js block for @aws-sdk/client-kinesis with the endpoint %s", recipeEndpoint)
	}
	_, want, ok := strings.Cut(snippet[strings.Index(snippet, "console.log("):], "// ")
	if !ok {
		t.Fatal("README's JavaScript snippet no longer shows what its console.log prints in a // comment")
	}
	want, _, _ = strings.Cut(want, "\n")

	dir := t.TempDir()
	listen := freeAddr(t)
	startHydrant(t, dir, listen, awsCLIHydrantConfig("hydrant", "js-secret"))
	// An ES module resolves packages from node_modules beside it.
	if err := os.Symlink(filepath.Join(sdk, "node_modules"), filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "snippet.mjs")
	if err := os.WriteFile(script, []byte(strings.ReplaceAll(snippet, recipeEndpoint, "http://"+listen)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runNode(t, []string{"AWS_ACCESS_KEY_ID=hydrant", "AWS_SECRET_ACCESS_KEY=js-secret"}, script)
	if got := strings.TrimSpace(string(out)); got != strings.TrimSpace(want) {
		t.Fatalf("README's JavaScript snippet printed\n%s\nthe README shows\n%s", got, want)
	}
}

// wantHTTP2Signing checks that the client used its HTTP/2 handler and
// signed ':authority', not Host, on every request.
func wantHTTP2Signing(t *testing.T, res jssdkResult) {
	t.Helper()
	if res.Protocol != "h2" {
		t.Errorf("the default Kinesis client's request handler speaks %q, want h2", res.Protocol)
	}
	if len(res.SignedHeaders) == 0 {
		t.Errorf("no signed request observed")
	}
	for _, sh := range res.SignedHeaders {
		names := strings.Split(sh, ";")
		if !slices.Contains(names, ":authority") || slices.Contains(names, "host") {
			t.Errorf("SignedHeaders=%s; want ':authority' and no host", sh)
		}
	}
}

// runJSSDK runs e2e/jssdk/clients.cjs with args under env and decodes what
// it prints.
func runJSSDK(t *testing.T, sdk string, env []string, args ...string) jssdkResult {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(here), "jssdk", "clients.cjs")
	env = append([]string{"AWS_REGION=us-east-1", "NODE_PATH=" + filepath.Join(sdk, "node_modules")}, env...)
	out := runNode(t, env, append([]string{script}, args...)...)
	var res jssdkResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node %s printed %q: %v", strings.Join(args, " "), out, err)
	}
	return res
}

// runNode runs node with args under env (the test process's AWS_* and
// NODE_* variables are dropped) and returns its standard output.
func runNode(t *testing.T, env []string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "NODE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "AWS_EC2_METADATA_DISABLED=true")
	cmd.Env = append(cmd.Env, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// jssdkDir returns the folder `make jssdk` installed the pinned JS SDK
// clients into (HYDRANT_JSSDK, else .cache/jssdk). A missing SDK, or one
// other than the pinned version, fails the test; it is skipped only in
// -short mode outside CI.
func jssdkDir(t *testing.T) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	dir := os.Getenv("HYDRANT_JSSDK")
	if dir == "" {
		dir = filepath.Join(filepath.Dir(here), "..", ".cache", "jssdk")
	}
	var pinned, installed struct {
		Version      string            `json:"version"`
		Dependencies map[string]string `json:"dependencies"`
	}
	problem := ""
	if _, err := exec.LookPath("node"); err != nil {
		problem = "no node on PATH: install Node.js 20 or later"
	} else if err := readJSON(filepath.Join(filepath.Dir(here), "jssdk", "package.json"), &pinned); err != nil {
		t.Fatal(err)
	} else if err := readJSON(filepath.Join(dir, "node_modules", "@aws-sdk", "client-kinesis", "package.json"), &installed); err != nil {
		problem = fmt.Sprintf("the AWS SDK for JavaScript is not installed in %s (%v): run `make jssdk` (make test does), or set HYDRANT_JSSDK", dir, err)
	} else if want := pinned.Dependencies["@aws-sdk/client-kinesis"]; installed.Version != want {
		problem = fmt.Sprintf("%s has @aws-sdk/client-kinesis %s, e2e/jssdk pins %s: run `make jssdk`", dir, installed.Version, want)
	}
	if problem != "" {
		if testing.Short() && os.Getenv("CI") == "" {
			t.Skip(problem)
		}
		t.Fatal(problem)
	}
	return dir
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
