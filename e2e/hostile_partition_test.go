package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/hydrant-dev/hydrant/e2e/minio"
	"github.com/hydrant-dev/hydrant/internal/await"
)

// One shard read by two deliveries, to a directory and to MinIO, each
// partitioned by a value the record controls. retry.duration is 10m: a
// hostile value that were retried as if the store might take it later
// would hold the shard far past the test's deadline.
const hostilePartitionConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - {name: tenants, shards: 1}
deliveries:
  - name: to-file
    source: tenants
    transforms:
      - {type: partition, query: '{c: .c}'}
    buffer: {size: 1MiB, interval: 1s}
    retry: {duration: 10m}
    destination:
      file:
        dir: "{{DIR}}/out"
        prefix: "c=!{partitionKeyFromQuery:c}/"
        error_prefix: "errors/!{firehose:error-output-type}/"
  - name: to-s3
    source: tenants
    transforms:
      - {type: partition, query: '{c: .c}'}
    buffer: {size: 1MiB, interval: 1s}
    retry: {duration: 10m}
    destination:
      s3:
        endpoint: "${S3_ENDPOINT}"
        bucket: lake
        access_key_id: "${S3_KEY}"
        secret_access_key: "${S3_SECRET}"
        prefix: "c=!{partitionKeyFromQuery:c}/"
        error_prefix: "errors/!{firehose:error-output-type}/"
`

// hostilePartitionDeadline is how long the test waits for every record to
// land: well under the deliveries' 10m retry.duration.
const hostilePartitionDeadline = 60 * time.Second

// A partition key value holding "/.." (or climbing out of the directory
// altogether) cannot write into another partition's path or outside the
// destination: it goes to the error output as processing-failed, and the
// records after it on the same shard are delivered. (Before, "x/../c=a"
// wrote into the file destination's c=a partition, and MinIO's refusal of
// the ".." segment was retried for retry.duration while the shard waited.)
func TestHostilePartitionKeysStayInTheirPartition(t *testing.T) {
	testHostilePartitionKeys(t, []string{
		`{"c":"x/../c=a","n":2}`,
		`{"c":"../../../escaped","n":3}`,
	})
}

// Partition key values the file system or MinIO refuse, and which were
// retried as if they might be taken later while the whole shard waited for
// retry.duration (10m here), go to the error output as processing-failed at
// once: ".", "..", NUL and other control characters, '\' and segments
// over 255 bytes. The records after them on the same shard,
// ordinary values with dots, spaces, punctuation and unicode among them, are
// delivered within seconds, to a directory and to MinIO alike.
func TestHostilePartitionKeysDoNotStallTheShard(t *testing.T) {
	testHostilePartitionKeys(t, []string{
		`{"c":"..","n":3}`,
		`{"c":".","n":4}`,
		`{"c":"a\u0000b","n":5}`,
		`{"c":"` + strings.Repeat("v", 300) + `","n":6}`,
		`{"c":"a\nb","n":7}`,
		`{"c":"a\u0085b","n":10}`,
		`{"c":"a\\b","n":11}`,
	})
}

// testHostilePartitionKeys puts a good record, the hostile ones and two more
// good ones on one shard, and checks that both deliveries put every good
// record in its own partition and every hostile one, and nothing else, in
// processing-failed, well before retry.duration.
func testHostilePartitionKeys(t *testing.T, hostile []string) {
	m := minio.Start(t)
	m.CreateBucket(t, "lake")
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, hostilePartitionConfig, "S3_ENDPOINT="+m.Endpoint, "S3_KEY="+m.AccessKey, "S3_SECRET="+m.SecretKey)

	good := map[string]string{ // partition value -> its record
		"a":                `{"c":"a","n":1}`,
		"café 東京 v=1.2..":  `{"c":"café 東京 v=1.2..","n":8}`,
		"z-_.~!'()&$@=;+,": `{"c":"z-_.~!'()&$@=;+,","n":9}`,
	}
	// The good records bracket the hostile ones on the one shard.
	body := slices.Concat([]string{good["a"]}, hostile, []string{good["café 東京 v=1.2.."], good["z-_.~!'()&$@=;+,"]})
	start := time.Now()
	resp, err := http.Post(h.url+"/v1/streams/tenants/records", "application/x-ndjson", strings.NewReader(strings.Join(body, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("put: %s", resp.Status)
	}

	stores := map[string]func() map[string]string{
		"file":  func() map[string]string { return readTree(t, filepath.Join(dir, "out")) },
		"minio": func() map[string]string { return readBucket(t, m, "lake") },
	}
	for name, read := range stores {
		t.Run(name, func(t *testing.T) {
			await.Cond(t, hostilePartitionDeadline-time.Since(start), "good records in their partitions, hostile ones in processing-failed", func() bool {
				objects := read()
				checkPartitionsHoldOnlyTheirOwn(t, objects, good)
				if len(errorRecords(t, objects)) < len(hostile) {
					return false
				}
				for value, rec := range good {
					if !strings.Contains(linesUnder(objects, "c="+value+"/"), rec) {
						return false
					}
				}
				return true
			})
			failed := errorRecords(t, read())
			slices.Sort(failed)
			want := slices.Sorted(slices.Values(hostile))
			if !slices.Equal(failed, want) {
				t.Fatalf("processing-failed holds %q, want %q", failed, want)
			}
			t.Logf("%s: every record landed %v after the put (retry.duration 10m)", name, time.Since(start).Round(time.Millisecond))
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "escaped")); !os.IsNotExist(err) {
		t.Fatal("a partition value wrote outside the destination's directory")
	}
	h.stop()
}

// checkPartitionsHoldOnlyTheirOwn fails the test when an object lies
// outside the good partitions and the error output, or a partition holds a
// record of another value: a hostile value wrote where it must not.
func checkPartitionsHoldOnlyTheirOwn(t *testing.T, objects map[string]string, good map[string]string) {
	t.Helper()
	for key, content := range objects {
		if strings.HasPrefix(key, "errors/processing-failed/") {
			continue
		}
		value, _, ok := strings.Cut(strings.TrimPrefix(key, "c="), "/")
		rec, known := good[value]
		if !strings.HasPrefix(key, "c=") || !ok || !known {
			t.Fatalf("object %q is outside every partition and the error output", key)
		}
		for _, line := range strings.Split(strings.TrimSuffix(content, "\n"), "\n") {
			if line != rec {
				t.Fatalf("partition c=%s holds %q, another value's record", value, line)
			}
		}
	}
}

// linesUnder returns the content of the objects under prefix.
func linesUnder(objects map[string]string, prefix string) string {
	var b strings.Builder
	for key, content := range objects {
		if strings.HasPrefix(key, prefix) {
			b.WriteString(content)
		}
	}
	return b.String()
}

// errorRecords decodes the records of the processing-failed error output,
// checking that each failed as a bad partition key.
func errorRecords(t *testing.T, objects map[string]string) []string {
	t.Helper()
	var recs []string
	for key, content := range objects {
		if !strings.HasPrefix(key, "errors/") {
			continue
		}
		if !strings.HasPrefix(key, "errors/processing-failed/") {
			t.Fatalf("error object %q: want only processing-failed", key)
		}
		dec := json.NewDecoder(strings.NewReader(content))
		for dec.More() {
			var doc struct {
				ErrorCode    string `json:"errorCode"`
				ErrorMessage string `json:"errorMessage"`
				RawData      string `json:"rawData"`
			}
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if doc.ErrorCode != "Transform.PartitionKeyError" || !strings.Contains(doc.ErrorMessage, `partition key "c"`) {
				t.Fatalf("%s: error %s %q, want Transform.PartitionKeyError naming the key", key, doc.ErrorCode, doc.ErrorMessage)
			}
			raw, err := base64.StdEncoding.DecodeString(doc.RawData)
			if err != nil {
				t.Fatalf("%s: rawData: %v", key, err)
			}
			recs = append(recs, string(bytes.TrimSuffix(raw, []byte("\n"))))
		}
	}
	return recs
}

// readTree returns every file under root by its slash-separated path.
func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if os.IsNotExist(err) && path == root {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".tmp-") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// readBucket returns every object in bucket by its key.
func readBucket(t *testing.T, m *minio.Server, bucket string) map[string]string {
	t.Helper()
	ctx := context.Background()
	objects := map[string]string{}
	for obj := range m.Client.ListObjects(ctx, bucket, miniogo.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		o, err := m.Client.GetObject(ctx, bucket, obj.Key, miniogo.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(o)
		o.Close()
		if err != nil {
			t.Fatal(err)
		}
		objects[obj.Key] = string(b)
	}
	return objects
}
