package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/hydrant-dev/hydrant/e2e/minio"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/internal/testnats"
)

// catalogClusterConfig is one node's config: a declared stream of 4 shards
// delivered to files, and the Firehose API on MinIO.
func catalogClusterConfig(natsURL, node string) string {
	return fmt.Sprintf(`server: {listen: "{{LISTEN}}"}
storage:
  data_dir: "{{DIR}}/data"
  nats: {url: %q, replicas: 1, node_name: %s, lease_ttl: %s}
streams:
  - name: events
    shards: 4
deliveries:
  - name: archive
    source: events
    buffer: {size: 1MiB, interval: 1s}
    destination: {file: {dir: "{{DIR}}/out"}}
firehose_api:
  s3: {endpoint: "${S3_ENDPOINT}", access_key_id: "${S3_KEY}", secret_access_key: "${S3_SECRET}"}
  shards: 2
`, natsURL, node, clusterLeaseTTL)
}

// deliveryCounts is the part of GET /v1/status this test reads.
type deliveryCounts struct {
	Deliveries []deliveryCount `json:"deliveries"`
}

type deliveryCount struct {
	Name      string `json:"name"`
	Delivered int64  `json:"delivered_records"`
	Nodes     []struct {
		Node      string `json:"node"`
		Delivered int64  `json:"delivered_records"`
		Stale     bool   `json:"stale"`
	} `json:"nodes"`
}

// On two nodes sharing a NATS server: a Kinesis stream and a Firehose
// delivery stream created on n1 take puts on n2 within seconds, without a
// restart, and what is put on n2 is delivered; a delivery stream deleted on
// n1 refuses puts on n2. Either node's status shows a delivery's counts
// summed over both nodes, which each deliver some of its shards.
func TestClusterCatalogAndStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts NATS, MinIO and two hydrant processes")
	}
	m := minio.Start(t)
	m.CreateBucket(t, "lake")
	env := []string{"S3_ENDPOINT=" + m.Endpoint, "S3_KEY=" + m.AccessKey, "S3_SECRET=" + m.SecretKey}
	nats := testnats.StartOne(t)
	n1 := startHydrant(t, t.TempDir(), freeAddr(t), catalogClusterConfig(nats.URL(), "n1"), env...)
	n2 := startHydrant(t, t.TempDir(), freeAddr(t), catalogClusterConfig(nats.URL(), "n2"), env...)
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider("any", "any", "")
	kin := func(h *hydrant) *kinesis.Client {
		return kinesis.New(kinesis.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1", Credentials: creds})
	}
	fh := func(h *hydrant) *firehose.Client {
		return firehose.New(firehose.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1", Credentials: creds})
	}

	// A Kinesis stream created on n1 takes puts on n2.
	if _, err := kin(n1).CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("orders"), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	await.Cond(t, 5*time.Second, "a put to orders on n2", func() bool {
		_, err := kin(n2).PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("orders"), Data: []byte("o"), PartitionKey: aws.String("k")})
		return err == nil
	})
	t.Logf("a stream created on n1 took puts on n2 %v later", time.Since(t0).Round(time.Millisecond))

	// A delivery stream created on n1 delivers what is put on n2.
	if _, err := fh(n1).CreateDeliveryStream(ctx, &firehose.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("clicks"),
		ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::lake"), RoleARN: aws.String("arn:aws:iam::000000000000:role/any"),
			Prefix:            aws.String("clicks/"),
			BufferingHints:    &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(1)},
			CompressionFormat: fhtypes.CompressionFormatUncompressed,
		},
	}); err != nil {
		t.Fatal(err)
	}
	put := func(h *hydrant, data string) error {
		_, err := fh(h).PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("clicks"), Record: &fhtypes.Record{Data: []byte(data)}})
		return err
	}
	await.Cond(t, 5*time.Second, "a put to clicks on n2", func() bool { return put(n2, "{\"c\":1}\n") == nil })
	for i := 2; i <= 20; i++ {
		if err := put(n2, fmt.Sprintf("{\"c\":%d}\n", i)); err != nil {
			t.Fatal(err)
		}
	}
	await.Cond(t, 30*time.Second, "20 records put on n2 in MinIO", func() bool { return countObjectLines(t, m, "clicks/") == 20 })

	// Deleted on n1: n2 refuses puts.
	if _, err := fh(n1).DeleteDeliveryStream(ctx, &firehose.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String("clicks")}); err != nil {
		t.Fatal(err)
	}
	await.Cond(t, 5*time.Second, "n2 to refuse puts to the deleted clicks", func() bool {
		var notFound *fhtypes.ResourceNotFoundException
		return errors.As(put(n2, "{}\n"), &notFound)
	})

	// The declared delivery's counts, summed over the two nodes.
	var body strings.Builder
	for i := range 400 {
		fmt.Fprintf(&body, "{\"n\":%d}\n", i)
	}
	for _, h := range []*hydrant{n1, n2} {
		resp, err := http.Post(h.url+"/v1/streams/events/records", "application/x-ndjson", strings.NewReader(body.String()))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("put to events: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	for _, h := range []*hydrant{n1, n2} {
		await.Cond(t, 30*time.Second, h.url+"'s status to count 800 delivered on n1 and n2", func() bool {
			d, ok := archiveCounts(h.url)
			return ok && d.Delivered == 800
		})
	}
	d, _ := archiveCounts(n2.url)
	parts := map[string]int64{}
	for _, n := range d.Nodes {
		parts[n.Node] = n.Delivered
	}
	if len(parts) != 2 || parts["n1"] == 0 || parts["n2"] == 0 || parts["n1"]+parts["n2"] != 800 {
		t.Errorf("archive's parts by node %v, want n1's and n2's, summing to 800", parts)
	}
	t.Logf("archive delivered 800: %v", parts)
	out, err := exec.Command(hydrantBinary(t), "status", "-endpoint", n1.url).Output()
	if err != nil || !regexp.MustCompile(`(?m)^archive +n1 +[1-9]`).Match(out) || !regexp.MustCompile(`(?m)^archive +n2 +[1-9]`).Match(out) {
		t.Errorf("hydrant status on n1 does not list archive on each node: %v\n%s", err, out)
	}
}

// archiveCounts reads the archive delivery's counts from url's status.
func archiveCounts(url string) (deliveryCount, bool) {
	resp, err := http.Get(url + "/v1/status")
	if err != nil {
		return deliveryCount{}, false
	}
	defer resp.Body.Close()
	var st deliveryCounts
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return deliveryCount{}, false
	}
	for _, d := range st.Deliveries {
		if d.Name == "archive" {
			return d, true
		}
	}
	return deliveryCount{}, false
}
