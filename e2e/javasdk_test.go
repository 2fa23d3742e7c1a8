package e2e

import (
	"archive/zip"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/hydrant-dev/hydrant/internal/await"
)

// The README's Java SDK v2 snippet (section "### SDKs"; e2e/kcl's
// SdkSnippet, built by `make kcl` with the SDK version e2e/kcl/pom.xml pins)
// against the real binary with SigV4 on, through a reverse proxy that notes
// each request's Content-Type and X-Amz-Target: the sync KinesisClient built
// as the README builds it puts {"event":"click"} to clicks and reads it back
// with GetShardIterator and GetRecords, and a FirehoseClient with the same
// settings puts {"event":"view"} to the events delivery, which lands in its
// files. The Kinesis calls are CBOR by default and JSON with
// -Daws.cborEnabled=false or CBOR_ENABLED=false; the Firehose ones are JSON
// always. Without endpointOverride the SDK takes the endpoint from
// AWS_ENDPOINT_URL_KINESIS and AWS_ENDPOINT_URL_FIREHOSE (over
// AWS_ENDPOINT_URL, here an address nothing answers on), or from
// AWS_ENDPOINT_URL alone. A wrong secret is InvalidSignatureException.
func TestJavaSDKSnippet(t *testing.T) {
	java, lib := javaSDKBuild(t)
	const (
		cbor = "application/x-amz-cbor-1.1"
		json = "application/x-amz-json-1.1"
	)
	for _, tc := range []struct {
		name      string
		jvm       []string // JVM options
		env       []string // environment, {{URL}} the proxy's
		override  bool     // --endpoint, so endpointOverride
		kinesisCT string   // the Content-Type of the Kinesis calls
	}{
		{name: "cbor by default", override: true, kinesisCT: cbor},
		{name: "json with -Daws.cborEnabled=false", jvm: []string{"-Daws.cborEnabled=false"}, override: true, kinesisCT: json},
		{name: "json with CBOR_ENABLED=false", env: []string{"CBOR_ENABLED=false"}, override: true, kinesisCT: json},
		{name: "endpoint from AWS_ENDPOINT_URL_KINESIS", kinesisCT: cbor, env: []string{
			"AWS_ENDPOINT_URL_KINESIS={{URL}}", "AWS_ENDPOINT_URL_FIREHOSE={{URL}}", "AWS_ENDPOINT_URL=http://127.0.0.1:9"}},
		{name: "endpoint from AWS_ENDPOINT_URL", kinesisCT: cbor, env: []string{"AWS_ENDPOINT_URL={{URL}}"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			listen := freeAddr(t)
			h := startHydrant(t, dir, listen, awsCLIHydrantConfig("hydrant", "java-secret"))
			proxy := startRecordingProxy(t, h.url)
			env := slices.Clone(tc.env)
			for i := range env {
				env[i] = strings.ReplaceAll(env[i], "{{URL}}", proxy.url)
			}
			args := []string{"--secret-key", "java-secret"}
			if tc.override {
				args = append(args, "--endpoint", proxy.url)
			}

			began := time.Now()
			out, stderr, err := runSdkSnippet(t, java, lib, dir, tc.jvm, env, args...)
			took := time.Since(began)
			if err != nil {
				t.Fatalf("SdkSnippet: %v\nstdout:\n%s\nstderr:\n%s\nrequests: %v", err, out, stderr, proxy.seen())
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			var put, got, fh []string
			for _, l := range lines {
				f := strings.SplitN(l, " ", 5)
				switch f[0] {
				case "put":
					put = f
				case "get":
					got = append(got, strings.Join(f[1:], " "))
				case "firehose":
					fh = f
				}
			}
			if len(put) != 3 || len(fh) != 3 {
				t.Fatalf("SdkSnippet printed\n%s\nwant put, get and firehose lines", out)
			}
			shard, seq := put[1], put[2]
			if want := []string{shard + " " + seq + ` user-42 {"event":"click"}`}; !slices.Equal(got, want) {
				t.Errorf("GetRecords through the snippet read %q, want %q", got, want)
			}
			if fh[1] != "0" || fh[2] == "" {
				t.Errorf("PutRecordBatch: FailedPutCount %s, RecordId %q; want 0 and an id", fh[1], fh[2])
			}

			// Every call went through the proxy, in the protocol expected.
			calls := proxy.seen()
			want := map[string]string{
				"Kinesis_20131202.PutRecord":        tc.kinesisCT,
				"Kinesis_20131202.GetShardIterator": tc.kinesisCT,
				"Kinesis_20131202.GetRecords":       tc.kinesisCT,
				"Firehose_20150804.PutRecordBatch":  json,
			}
			for _, c := range calls {
				ct, ok := want[c.target]
				if !ok {
					t.Errorf("unexpected call %+v", c)
					continue
				}
				if c.contentType != ct || c.status != http.StatusOK {
					t.Errorf("%s: Content-Type %q, answered %d; want %q and 200", c.target, c.contentType, c.status, ct)
				}
			}
			for target := range want {
				if !slices.ContainsFunc(calls, func(c sdkCall) bool { return c.target == target }) {
					t.Errorf("no %s call reached the proxy; it saw %v", target, calls)
				}
			}

			// Hydrant stored the record: read from the Go side, straight
			// from the server.
			kin := kinesis.New(kinesis.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1",
				Credentials: credentials.NewStaticCredentialsProvider("hydrant", "java-secret", "")})
			var stored []string
			for _, id := range []string{"shardId-000000000000", "shardId-000000000001"} {
				for _, r := range readShard(t, kin, id) {
					stored = append(stored, id+" "+aws.ToString(r.SequenceNumber)+" "+aws.ToString(r.PartitionKey)+" "+string(r.Data))
				}
			}
			if want := []string{shard + " " + seq + ` user-42 {"event":"click"}`}; !slices.Equal(stored, want) {
				t.Errorf("the stream holds %q, want %q", stored, want)
			}
			await.Cond(t, 30*time.Second, "the Firehose record in the events delivery's files", func() bool {
				return len(deliveredRecords(t, filepath.Join(dir, "out"))) > 0
			})
			if got := deliveredRecords(t, filepath.Join(dir, "out")); !slices.Equal(got, []string{`{"event":"view"}`}) {
				t.Errorf("events delivered %q, want the one record put", got)
			}
			t.Logf("%d calls in %.1fs (JVM start included), Kinesis %s, Firehose %s; User-Agent %q",
				len(calls), took.Seconds(), tc.kinesisCT, json, calls[0].userAgent)
		})
	}

	t.Run("a wrong secret", func(t *testing.T) {
		dir := t.TempDir()
		listen := freeAddr(t)
		h := startHydrant(t, dir, listen, awsCLIHydrantConfig("hydrant", "java-secret"))
		proxy := startRecordingProxy(t, h.url)
		out, stderr, err := runSdkSnippet(t, java, lib, dir, nil, nil, "--secret-key", "not-the-secret", "--endpoint", proxy.url)
		if err == nil || strings.TrimSpace(out) != "error InvalidSignatureException 400" {
			t.Fatalf("SdkSnippet with a wrong secret: %v, printed %q; want the SDK's error code InvalidSignatureException, 400\nstderr:\n%s",
				err, out, stderr)
		}
		calls := proxy.seen()
		if len(calls) == 0 || slices.ContainsFunc(calls, func(c sdkCall) bool {
			return c.target != "Kinesis_20131202.PutRecord" || c.status != http.StatusBadRequest
		}) {
			t.Errorf("requests %v, want only PutRecord answered 400", calls)
		}
	})
}

// readShard reads a shard from TRIM_HORIZON to its tip.
func readShard(t *testing.T, kin *kinesis.Client, shard string) []types.Record {
	t.Helper()
	ctx := context.Background()
	it, err := kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("clicks"),
		ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	var recs []types.Record
	for iter := it.ShardIterator; iter != nil; {
		out, err := kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, out.Records...)
		if aws.ToInt64(out.MillisBehindLatest) == 0 && len(out.Records) == 0 {
			break
		}
		iter = out.NextShardIterator
	}
	return recs
}

// sdkCall is one request the recording proxy passed on.
type sdkCall struct {
	target, contentType, userAgent string
	status                         int
}

func (c sdkCall) String() string { return fmt.Sprintf("%s %s %d", c.target, c.contentType, c.status) }

type recordingProxy struct {
	url   string
	mu    sync.Mutex
	calls []sdkCall
}

// startRecordingProxy runs a reverse proxy to target until the test ends,
// noting each request's X-Amz-Target, Content-Type and User-Agent and the
// status answered. It passes Host on as the client sent it, which the
// client signed.
func startRecordingProxy(t *testing.T, target string) *recordingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		rp.ServeHTTP(sw, r)
		p.mu.Lock()
		p.calls = append(p.calls, sdkCall{target: r.Header.Get("X-Amz-Target"), contentType: r.Header.Get("Content-Type"),
			userAgent: r.Header.Get("User-Agent"), status: sw.status})
		p.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

func (p *recordingProxy) seen() []sdkCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// runSdkSnippet runs e2e/kcl's SdkSnippet with the JVM options jvm and args
// under env (the test process's AWS_* and CBOR_ENABLED variables dropped, no
// shared config or credentials files) and returns what it printed.
func runSdkSnippet(t *testing.T, java, lib, dir string, jvm, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, java, slices.Concat(kclJVMOptions, jvm,
		[]string{"-cp", filepath.Join(lib, "*"), "dev.hydrant.kcl.SdkSnippet"}, args)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "CBOR_ENABLED=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+filepath.Join(dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "no-aws-credentials"))
	cmd.Env = append(cmd.Env, env...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// javaSDKBuild returns java and the folder of the jars `make kcl` built
// (kclWorkerBuild), checking that the build has SdkSnippet and the Firehose
// client. Missing, they fail the test; it is skipped only in -short mode
// outside CI.
func javaSDKBuild(t *testing.T) (java, lib string) {
	t.Helper()
	java, lib = kclWorkerBuild(t)
	problem := ""
	if fh, _ := filepath.Glob(filepath.Join(lib, "firehose-*.jar")); len(fh) == 0 {
		problem = fmt.Sprintf("%s has no Firehose client: run `make kcl` (make test does)", lib)
	} else if zr, err := zip.OpenReader(filepath.Join(lib, "kclworker.jar")); err != nil {
		t.Fatal(err)
	} else {
		if !slices.ContainsFunc(zr.File, func(f *zip.File) bool { return f.Name == "dev/hydrant/kcl/SdkSnippet.class" }) {
			problem = fmt.Sprintf("%s has no SdkSnippet: run `make kcl` (make test does)", filepath.Join(lib, "kclworker.jar"))
		}
		zr.Close()
	}
	if problem != "" {
		if testing.Short() && os.Getenv("CI") == "" {
			t.Skip(problem)
		}
		t.Fatal(problem)
	}
	return java, lib
}
