package e2e

import (
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/e2e/minio"
	"github.com/hydrant-dev/hydrant/internal/await"
)

const faultMinIOConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: clicks
    shards: 2
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
deliveries:
  - name: clicks-lake
    source: clicks
    buffer: {size: 1MiB, interval: 1s}
    retry: {duration: 300s}
    destination:
      s3:
        endpoint: "${S3_ENDPOINT}"
        bucket: lake
        access_key_id: "${S3_KEY}"
        secret_access_key: "${S3_SECRET}"
        prefix: "clicks/"
`

// The load phases of TestFaultMinIOStopped60s.
const (
	minioUp int32 = iota
	minioDown
	minioBack
)

// MinIO is stopped for 60 s while producers put into an S3 delivery: every
// put is still acknowledged (the log holds the records), hydrant retries,
// and once MinIO is back everything acknowledged is delivered, with
// nothing in the error output (the outage is shorter than the retry
// duration).
func TestFaultMinIOStopped60s(t *testing.T) {
	const outage = 60 * time.Second
	began := time.Now()
	m := minio.Start(t)
	m.CreateBucket(t, "lake")
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, faultMinIOConfig, "S3_ENDPOINT="+m.Endpoint, "S3_KEY="+m.AccessKey, "S3_SECRET="+m.SecretKey)
	lake := newS3Records(t, m.Client, "lake", "clicks/")

	load := newFaultLoad(t, "http://"+listen, "clicks", "s3out")
	load.pace = 100 * time.Millisecond // ≈1,000 records/s: a backlog MinIO takes in seconds
	load.start(2)
	await.Cond(t, 30*time.Second, "records in MinIO before the outage", func() bool {
		n, _ := lake.scan()
		return len(n) >= 1000
	})

	m.Stop(t)
	load.phase.Store(minioDown)
	t.Logf("MinIO stopped with %d records acknowledged", load.ackedCount())
	retriesBefore := h.logCount("delivery failed, retrying")
	holdFor(outage, func() {
		if _, bad := load.putStats(); bad[minioDown] > 0 {
			t.Fatalf("%d puts failed while MinIO was down; the log must keep taking them", bad[minioDown])
		}
	})
	retries := h.logCount("delivery failed, retrying") - retriesBefore
	if retries < 2 {
		t.Errorf("hydrant logged %d delivery retries during a %v outage, want at least 2", retries, outage)
	}
	ok, _ := load.putStats()
	t.Logf("outage over: %d puts acknowledged during it, %d delivery retries logged", ok[minioDown], retries)
	if ok[minioDown] == 0 {
		t.Fatal("no put was acknowledged while MinIO was down")
	}
	m.Start(t)
	load.phase.Store(minioBack)
	before := load.ackedCount()
	await.Cond(t, 30*time.Second, "1,000 records acknowledged after MinIO is back", func() bool { return load.ackedCount() >= before+1000 })
	load.stopAndWait()
	if _, bad := load.putStats(); len(bad) > 0 {
		t.Errorf("failed puts by phase: %v; every put must be acknowledged", bad)
	}

	if row, errObjects := settleS3(t, h, load, m.Client, lake, "minio stopped 60s under load: s3", began); errObjects > 0 {
		t.Errorf("the error output (errors/) holds %d objects (%d records); a %v outage is within the 300 s retry duration",
			errObjects, row.ErrorOutput, outage)
	}
}
