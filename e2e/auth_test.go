package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
)

const authStreams = `
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: clicks
  - name: secrets
deliveries:
  - name: events
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/out", prefix: "events/"}
`

// get answers a GET with optional headers: status and body.
func authGet(t *testing.T, url string, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func apiErrorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// With only API keys configured, the AWS APIs on the same port are closed
// to unsigned and anonymous callers (PutRecord, GetRecords of any stream,
// CreateStream, DeleteStream were all open on the old main), and status and
// metrics need a key.
func TestAuthAPIKeysOnlyClosesEveryAPI(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t)
	h := startHydrant(t, dir, listen, `
server:
  listen: "{{LISTEN}}"
  auth:
    api_keys:
      - {key: "shipper-key-0123456789", streams: ["clicks"], actions: [put]}
      - {key: "monitor-key-0123456789", streams: ["*"], actions: [read]}
`+authStreams)
	ctx := context.Background()
	anon := kinesis.New(kinesis.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1", RetryMaxAttempts: 1,
		Credentials: aws.AnonymousCredentials{}})
	signed := kinesis.New(kinesis.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1", RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("anything", "anything", "")})
	for name, client := range map[string]*kinesis.Client{"unsigned": anon, "signed by an unknown key": signed} {
		t.Run(name, func(t *testing.T) {
			_, err := client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("clicks"), Data: []byte("x"), PartitionKey: aws.String("k")})
			if code := apiErrorCode(err); code != "MissingAuthenticationTokenException" {
				t.Errorf("PutRecord: %v", err)
			}
			_, err = client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("secrets"),
				ShardId: aws.String("shardId-000000000000"), ShardIteratorType: "TRIM_HORIZON"})
			if code := apiErrorCode(err); code != "MissingAuthenticationTokenException" {
				t.Errorf("GetShardIterator: %v", err)
			}
			_, err = client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("new"), ShardCount: aws.Int32(1)})
			if code := apiErrorCode(err); code != "MissingAuthenticationTokenException" {
				t.Errorf("CreateStream: %v", err)
			}
			_, err = client.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("secrets")})
			if code := apiErrorCode(err); code != "MissingAuthenticationTokenException" {
				t.Errorf("DeleteStream: %v", err)
			}
		})
	}
	for _, path := range []string{"/v1/status", "/metrics"} {
		if status, body := authGet(t, h.url+path, nil); status != http.StatusUnauthorized {
			t.Errorf("GET %s without a key: %d %s", path, status, body)
		}
		if status, body := authGet(t, h.url+path, http.Header{"Authorization": {"Bearer shipper-key-0123456789"}}); status != http.StatusForbidden {
			t.Errorf("GET %s with a put-only key: %d %.200s", path, status, body)
		}
		if status, body := authGet(t, h.url+path, http.Header{"Authorization": {"Bearer monitor-key-0123456789"}}); status != http.StatusOK {
			t.Errorf("GET %s with a read key: %d %.200s", path, status, body)
		}
	}
	// Probes stay open: a supervisor checks them without credentials.
	if status, _ := authGet(t, h.url+"/readyz", nil); status != http.StatusOK {
		t.Errorf("/readyz: %d", status)
	}
	// A key works on the AWS API too, within its scope.
	req, _ := http.NewRequest(http.MethodPost, h.url+"/", strings.NewReader(`{"StreamName":"secrets","ShardId":"shardId-000000000000","ShardIteratorType":"TRIM_HORIZON"}`))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.GetShardIterator")
	req.Header.Set("Authorization", "Bearer shipper-key-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "AccessDeniedException") {
		t.Errorf("a put key reading secrets over the AWS API: %d %s", resp.StatusCode, body)
	}
	// The CLI reads through the Kinesis API with a key as well.
	put, _ := http.NewRequest(http.MethodPost, h.url+"/v1/streams/clicks/records", strings.NewReader("{\"n\":1}\n"))
	put.Header.Set("X-Api-Key", "shipper-key-0123456789")
	if resp, err := http.DefaultClient.Do(put); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("put with a key: %v %v", err, resp)
	}
	cmd := exec.Command(hydrantBinary(t), "replay", "-endpoint", h.url, "-api-key", "monitor-key-0123456789", "-limit", "1", "clicks")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=")
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != `{"n":1}` {
		t.Errorf("hydrant replay with a read key: %v\n%s", err, out)
	}
}

// With only SigV4 keys configured, the native API and status are closed
// to callers without a signature; a key without a policy may put and read
// but not create or delete; a captured signed request cannot be replayed as
// another operation; metrics.public opens /metrics alone.
func TestAuthSigV4OnlyClosesEveryAPI(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t)
	h := startHydrant(t, dir, listen, `
server:
  listen: "{{LISTEN}}"
  auth:
    aws:
      - {access_key_id: producer, secret_access_key: producer-secret}
      - {access_key_id: operator, secret_access_key: operator-secret, policies: [operator]}
    policies:
      operator:
        - {effect: allow, actions: ["*"], resources: ["*"]}
        - {effect: deny, actions: ["kinesis:DeleteStream"], resources: ["arn:aws:kinesis:*:*:stream/secrets"]}
metrics: {public: true}
`+authStreams)
	ctx := context.Background()
	if status, body := authGet(t, h.url+"/v1/status", nil); status != http.StatusUnauthorized {
		t.Errorf("GET /v1/status unsigned: %d %s", status, body)
	}
	if status, _ := authGet(t, h.url+"/metrics", nil); status != http.StatusOK {
		t.Errorf("GET /metrics with metrics.public: %d", status)
	}
	status, _, err := h.put("clicks", []byte("{\"n\":1}\n"))
	if err != nil || status != http.StatusUnauthorized {
		t.Errorf("native put without a credential: %d %v", status, err)
	}

	client := func(id, secret string) (*kinesis.Client, *firehose.Client) {
		creds := credentials.NewStaticCredentialsProvider(id, secret, "")
		return kinesis.New(kinesis.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1", RetryMaxAttempts: 1, Credentials: creds}),
			firehose.New(firehose.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1", RetryMaxAttempts: 1, Credentials: creds})
	}
	prodKin, prodFh := client("producer", "producer-secret")
	if _, err := prodKin.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("clicks"), Data: []byte("x"), PartitionKey: aws.String("k")}); err != nil {
		t.Fatalf("producer PutRecord: %v", err)
	}
	if _, err := prodKin.ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil {
		t.Fatalf("producer ListStreams: %v", err)
	}
	_, err = prodKin.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("clicks")})
	if code := apiErrorCode(err); code != "AccessDeniedException" {
		t.Errorf("producer DeleteStream: %v", err)
	}
	_, err = prodFh.CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("sneaky")})
	if code := apiErrorCode(err); code != "AccessDeniedException" {
		t.Errorf("producer CreateDeliveryStream: %v", err)
	}
	opKin, _ := client("operator", "operator-secret")
	if _, err := opKin.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("scratch"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatalf("operator CreateStream: %v", err)
	}
	_, err = opKin.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("secrets")})
	if code := apiErrorCode(err); code != "AccessDeniedException" {
		t.Errorf("operator DeleteStream of secrets (denied explicitly): %v", err)
	}

	// Replays: a PutRecord signed without X-Amz-Target, or with the body
	// unsigned, then sent as DeleteStream, is refused; nothing is deleted.
	body := []byte(`{"StreamName":"scratch"}`)
	for name, unsignedPayload := range map[string]bool{"X-Amz-Target unsigned": false, "UNSIGNED-PAYLOAD": true} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, h.url+"/", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			hash := "UNSIGNED-PAYLOAD"
			if unsignedPayload {
				req.Header.Set("X-Amz-Content-Sha256", hash)
				req.Header.Set("X-Amz-Target", "Kinesis_20131202.DeleteStream")
			} else {
				sum := sha256.Sum256(body)
				hash = hex.EncodeToString(sum[:])
			}
			if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: "operator", SecretAccessKey: "operator-secret"},
				req, hash, "kinesis", "us-east-1", time.Now()); err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Amz-Target", "Kinesis_20131202.DeleteStream")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || !strings.Contains(string(out), "InvalidSignatureException") {
				t.Fatalf("replayed: %d %s", resp.StatusCode, out)
			}
		})
	}
	if _, err := opKin.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("scratch")}); err != nil {
		t.Fatalf("scratch is gone: %v", err)
	}
	// Status over SigV4: the same credential works on every endpoint.
	req, _ := http.NewRequest(http.MethodGet, h.url+"/v1/status", nil)
	empty := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: "producer", SecretAccessKey: "producer-secret"},
		req, hex.EncodeToString(empty[:]), "kinesis", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("signed GET /v1/status: %d", resp.StatusCode)
	}
	// The CLI signs with the access key of the environment.
	for _, tc := range []struct {
		secret string
		ok     bool
	}{{"producer-secret", true}, {"wrong", false}} {
		cmd := exec.Command(hydrantBinary(t), "status", "-endpoint", h.url, "-output", "json")
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=producer", "AWS_SECRET_ACCESS_KEY="+tc.secret, "HYDRANT_API_KEY=")
		out, err := cmd.CombinedOutput()
		if (err == nil) != tc.ok {
			t.Errorf("hydrant status with secret %q: %v\n%s", tc.secret, err, out)
		}
	}
}
