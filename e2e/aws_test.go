package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/internal/testcert"
)

const awsConfig = `
server:
  listen: "{{LISTEN}}"
  tls: {cert_file: "{{DIR}}/tls.crt", key_file: "{{DIR}}/tls.key"}
  auth:
    aws: [{access_key_id: producer, secret_access_key: "producer-secret"}]
    api_keys: [{key: "shipper-key-0123456789", streams: ["*"], actions: [put]}]
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: clicks
    shards: 2
    shard_limits: {bytes_per_second: 64MiB, records_per_second: 100000}
deliveries:
  - name: clicks-archive
    source: clicks
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/out", prefix: "clicks/"}
  - name: events
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/out", prefix: "events/"}
`

// Producers of all three kinds — the Kinesis SDK, the Firehose SDK and a
// log shipper on the native API — over HTTPS with their credentials: every
// record reaches the deliveries' files.
func TestAWSClientsOverTLSReachDeliveries(t *testing.T) {
	dir := t.TempDir()
	pool := testcert.Write(t, dir, "tls.crt", "tls.key")
	listen := freeAddr(t)
	h := startHydrantTLS(t, dir, listen, awsConfig, pool)
	// HTTP/2 over TLS, as the AWS Java SDK's async client and the KCL use it.
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	endpoint := "https://" + listen
	creds := credentials.NewStaticCredentialsProvider("producer", "producer-secret", "")
	kin := kinesis.New(kinesis.Options{BaseEndpoint: aws.String(endpoint), Region: "us-east-1", Credentials: creds, HTTPClient: httpClient})
	fh := firehose.New(firehose.Options{BaseEndpoint: aws.String(endpoint), Region: "us-east-1", Credentials: creds, HTTPClient: httpClient})
	ctx := context.Background()

	var kinRecs []types.PutRecordsRequestEntry
	for i := range 100 {
		kinRecs = append(kinRecs, types.PutRecordsRequestEntry{Data: fmt.Appendf(nil, `{"via":"kinesis","n":%d}`, i), PartitionKey: aws.String(fmt.Sprint(i))})
	}
	if out, err := kin.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("clicks"), Records: kinRecs}); err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("Kinesis PutRecords: %v", err)
	}
	var fhRecs []fhtypes.Record
	for i := range 100 {
		fhRecs = append(fhRecs, fhtypes.Record{Data: fmt.Appendf(nil, "{\"via\":\"firehose\",\"n\":%d}\n", i)})
	}
	if out, err := fh.PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("events"), Records: fhRecs}); err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
		t.Fatalf("Firehose PutRecordBatch: %v", err)
	}
	req, _ := http.NewRequest(http.MethodPost, endpoint+"/v1/streams/clicks/records", strings.NewReader("{\"via\":\"native\",\"n\":0}\n"))
	req.Header.Set("Authorization", "Bearer shipper-key-0123456789")
	resp, err := httpClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("native put with an API key: %v %v", err, resp)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("served %s over TLS, want HTTP/2", resp.Proto)
	}
	// Unsigned AWS requests and keyless native ones are refused.
	resp, err = httpClient.Post(endpoint+"/v1/streams/clicks/records", "application/x-ndjson", strings.NewReader("{}"))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("native put without a key: %v %v", err, resp)
	}
	resp.Body.Close()

	out := filepath.Join(dir, "out")
	await.Cond(t, 30*time.Second, "201 records in the deliveries' files", func() bool {
		return destinationtest.CountLines(destinationtest.DeliveredLines(t, out)) == 201
	})
	var kinds []string
	for path, lines := range destinationtest.DeliveredLines(t, out) {
		kinds = append(kinds, fmt.Sprintf("%s:%d", strings.Split(strings.TrimPrefix(path, out+"/"), "/")[0], len(lines)))
	}
	sort.Strings(kinds)
	t.Logf("delivered: %v", kinds)
	h.stop()
}

// startHydrantTLS starts hydrant and waits for readiness over HTTPS.
func startHydrantTLS(t *testing.T, dir, listen, cfg string, pool *x509.CertPool) *hydrant {
	t.Helper()
	cfgPath := filepath.Join(dir, "hydrant.yaml")
	cfg = strings.NewReplacer("{{LISTEN}}", listen, "{{DIR}}", dir).Replace(cfg)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	h := launchHydrant(t, dir, cfgPath)
	h.url = "https://" + listen
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	h.waitReady(client)
	return h
}
