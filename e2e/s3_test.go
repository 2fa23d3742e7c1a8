package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	miniogo "github.com/minio/minio-go/v7"

	"github.com/hydrant-dev/hydrant/e2e/minio"
	"github.com/hydrant-dev/hydrant/internal/await"
)

const s3Config = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: big
    shards: 1
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
deliveries:
  - name: clicks
    shards: 2
    buffer: {size: 1MiB, interval: 1s}
    destination:
      s3:
        endpoint: "${S3_ENDPOINT}"
        bucket: lake
        access_key_id: "${S3_KEY}"
        secret_access_key: "${S3_SECRET}"
        prefix: "clicks/!{timestamp:yyyy/MM/dd}/"
        compression: gzip
  - name: big-archive
    source: big
    buffer: {size: 32MiB, interval: 2s}
    destination:
      s3:
        endpoint: "${S3_ENDPOINT}"
        bucket: lake
        access_key_id: "${S3_KEY}"
        secret_access_key: "${S3_SECRET}"
        prefix: "big/"
`

func TestS3DeliveryToMinIO(t *testing.T) {
	m := minio.Start(t)
	m.CreateBucket(t, "lake")
	dir := t.TempDir()
	listen := freeAddr(t)
	h := startHydrant(t, dir, listen, s3Config, "S3_ENDPOINT="+m.Endpoint, "S3_KEY="+m.AccessKey, "S3_SECRET="+m.SecretKey)
	ctx := context.Background()

	// Small gzip objects under an expression prefix.
	var body strings.Builder
	for i := range 500 {
		fmt.Fprintf(&body, "{\"n\":%d}\n", i)
	}
	if status, res, err := h.put("clicks", []byte(body.String())); err != nil || status != http.StatusOK {
		t.Fatalf("put: %d %v %+v", status, err, res)
	}
	keyPattern := regexp.MustCompile(`^clicks/\d{4}/\d{2}/\d{2}/clicks-shardId-00000000000[01]-\d{20}\.jsonl\.gz$`)
	var lines int
	await.Cond(t, 20*time.Second, "500 records in gzip objects", func() bool {
		lines = 0
		for obj := range m.Client.ListObjects(ctx, "lake", miniogo.ListObjectsOptions{Prefix: "clicks/", Recursive: true}) {
			if obj.Err != nil {
				t.Fatal(obj.Err)
			}
			if !keyPattern.MatchString(obj.Key) {
				t.Fatalf("object key %q does not match %s", obj.Key, keyPattern)
			}
			o, err := m.Client.GetObject(ctx, "lake", obj.Key, miniogo.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			info, err := o.Stat()
			if err != nil {
				t.Fatal(err)
			}
			if enc := info.Metadata.Get("Content-Encoding"); enc != "gzip" {
				t.Fatalf("%s: Content-Encoding %q, want gzip", obj.Key, enc)
			}
			zr, err := gzip.NewReader(o)
			if err != nil {
				t.Fatalf("%s: not gzip: %v", obj.Key, err)
			}
			raw, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			lines += bytes.Count(raw, []byte("\n"))
		}
		return lines == 500
	})

	// A batch over 16 MiB goes up in parts (the ETag of a multipart object ends in -N).
	record := fmt.Sprintf("{\"pad\":%q}\n", strings.Repeat("p", 4000))
	for range 2 {
		big := strings.Repeat(record, 2500) // ≈10 MB
		if status, res, err := h.put("big", []byte(big)); err != nil || status != http.StatusOK {
			t.Fatalf("put big: %d %v failed=%d", status, err, res.FailedRecordCount)
		}
	}
	await.Cond(t, 30*time.Second, "one multipart object", func() bool {
		for obj := range m.Client.ListObjects(ctx, "lake", miniogo.ListObjectsOptions{Prefix: "big/", Recursive: true}) {
			if obj.Err != nil {
				t.Fatal(obj.Err)
			}
			if obj.Size > 16<<20 {
				if !regexp.MustCompile(`-\d+"?$`).MatchString(obj.ETag) {
					t.Fatalf("%s: %d bytes with ETag %s: not a multipart upload", obj.Key, obj.Size, obj.ETag)
				}
				if obj.Size != int64(2*2500*len(record)) {
					t.Fatalf("%s: %d bytes, want %d", obj.Key, obj.Size, 2*2500*len(record))
				}
				return true
			}
		}
		return false
	})
	h.stop()
}
