package e2e

import (
	"context"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/hydrant-dev/hydrant/e2e/minio"
	"github.com/hydrant-dev/hydrant/internal/await"
)

const transformConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
deliveries:
  - name: orders
    transforms:
      - {type: jq, query: 'select(.status != "test") | {customer, amount, ts}'}
      - {type: partition, query: '{customer: .customer, year: (.ts | strftime("%Y"))}'}
    buffer: {size: 1MiB, interval: 1s}
    destination:
      s3:
        endpoint: "${S3_ENDPOINT}"
        bucket: lake
        access_key_id: "${S3_KEY}"
        secret_access_key: "${S3_SECRET}"
        prefix: "orders/customer=!{partitionKeyFromQuery:customer}/year=!{partitionKeyFromQuery:year}/"
        error_prefix: "errors/!{firehose:error-output-type}/"
`

// jq reshapes and filters, partition keys the records, and the keys become
// object prefixes; what a transform cannot process lands under
// processing-failed — nothing is lost.
func TestJQAndPartitionToMinIO(t *testing.T) {
	m := minio.Start(t)
	m.CreateBucket(t, "lake")
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, transformConfig, "S3_ENDPOINT="+m.Endpoint, "S3_KEY="+m.AccessKey, "S3_SECRET="+m.SecretKey)
	body := strings.Join([]string{
		`{"customer":"acme","amount":10,"ts":1764000000,"secret":"x"}`,   // 2025
		`{"customer":"globex","amount":20,"ts":1795536000,"secret":"y"}`, // 2026
		`{"customer":"acme","amount":30,"ts":1764000001}`,
		`{"customer":"acme","status":"test","ts":1764000002}`, // dropped by jq
		`this is not JSON`,                   // jq: ProcessingFailed
		`{"customer":"initech","amount":40}`, // partition: no ts, ProcessingFailed
	}, "\n")
	resp, err := http.Post(h.url+"/v1/streams/orders/records", "text/plain", strings.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("put: %v %v", err, resp)
	}
	resp.Body.Close()

	want := map[string]int{
		"orders/customer=acme/year=2025/":   2,
		"orders/customer=globex/year=2026/": 1,
		"errors/processing-failed/":         2,
	}
	got := map[string]int{}
	await.Cond(t, 30*time.Second, "partitioned objects and processing-failed records", func() bool {
		for prefix := range want {
			got[prefix] = countObjectLines(t, m, prefix)
		}
		for prefix, n := range want {
			if got[prefix] != n {
				return false
			}
		}
		return true
	})
	// The jq reshaping dropped the "secret" field.
	var keys []string
	for obj := range m.Client.ListObjects(context.Background(), "lake", miniogo.ListObjectsOptions{Prefix: "orders/", Recursive: true}) {
		keys = append(keys, obj.Key)
		o, err := m.Client.GetObject(context.Background(), "lake", obj.Key, miniogo.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		buf, err := io.ReadAll(o)
		o.Close()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(buf), "secret") {
			t.Fatalf("%s still holds a field the jq query drops: %s", obj.Key, buf)
		}
	}
	sort.Strings(keys)
	t.Logf("objects: %v", keys)
	h.stop()
}
