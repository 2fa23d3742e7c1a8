package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/hydrant-dev/hydrant/internal/await"
)

const analyticsEventConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: readings
    shards: 2
    partition_key_field: /sensor
  - name: sensor-stats
analytics:
  - name: per-sensor
    source: readings
    sql: |
      SELECT sensor, count(*) AS readings, sum(value) AS total, epoch_ms(window_start) AS window_start
      FROM source GROUP BY sensor, window_start
    window: {tumbling: 2s}
    time: /ts
    allowed_lateness: 1s
    schema: auto
    output: {stream: sensor-stats, partition_key: sensor}
`

// reading is what the event-time producer puts: ts is epoch milliseconds.
type reading struct {
	ID     int    `json:"id"`
	Sensor string `json:"sensor"`
	Value  int64  `json:"value"`
	TS     int64  `json:"ts"`
}

// By event time on the real binary: readings put out of order within
// allowed_lateness land in the windows of their time; readings put after
// their windows were emitted go to the error output as analytics-late,
// every one of them and nothing else; the results are exactly the
// aggregation of the others by their event time. The application's
// columns are inferred from the first readings (schema: auto).
func TestAnalyticsEventTimeLateRecords(t *testing.T) {
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, analyticsEventConfig)
	var onTime []reading
	late := map[int]bool{}
	id := 0
	put := func(rs []reading) {
		t.Helper()
		var body bytes.Buffer
		for _, r := range rs {
			json.NewEncoder(&body).Encode(r)
		}
		code, res, err := h.put("readings", body.Bytes())
		if err != nil || code != http.StatusOK || res.FailedRecordCount != 0 {
			t.Fatalf("put: %d %+v %v", code, res, err)
		}
	}
	// batch puts 20 readings stamped now, shuffled within the last 600 ms:
	// out of order, within the lateness allowed.
	batch := func() {
		now := time.Now().UnixMilli()
		var rs []reading
		for i := range 20 {
			id++
			rs = append(rs, reading{ID: id, Sensor: fmt.Sprintf("s%d", id%3), Value: int64(id % 17), TS: now - int64((i*7919)%600)})
		}
		put(rs)
		onTime = append(onTime, rs...)
	}
	emitted := func() *time.Time {
		return analyticsStatus(t, h)["per-sensor"].EmittedThrough
	}
	// putUntilEmitted puts batches until a window ending after the one
	// emitted so far is emitted.
	putUntilEmitted := func() {
		t.Helper()
		before := emitted()
		await.Cond(t, 60*time.Second, "a window emitted while readings are put", func() bool {
			batch()
			now := emitted()
			return now != nil && (before == nil || now.After(*before))
		})
	}
	putUntilEmitted()
	putUntilEmitted()
	// Readings from 30 s ago: their windows were emitted.
	var stale []reading
	for range 25 {
		id++
		stale = append(stale, reading{ID: id, Sensor: "s1", Value: 1, TS: time.Now().Add(-30 * time.Second).UnixMilli()})
		late[id] = true
	}
	put(stale)
	putUntilEmitted()

	// The results: once every window of the on-time readings is emitted.
	want := map[string]string{}
	type agg struct{ n, total int64 }
	aggs := map[string]*agg{}
	for _, r := range onTime {
		k := fmt.Sprintf("%s@%d", r.Sensor, r.TS-r.TS%2000)
		if aggs[k] == nil {
			aggs[k] = &agg{}
		}
		aggs[k].n++
		aggs[k].total += r.Value
	}
	for k, a := range aggs {
		want[k] = fmt.Sprintf("readings=%d total=%d", a.n, a.total)
	}
	kin := kinesis.New(kinesis.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("any", "any", "")})
	var got map[string]string
	if !await.Within(60*time.Second, func() bool {
		got = map[string]string{}
		for _, r := range readStream(t, kin, "sensor-stats") {
			k := fmt.Sprintf("%s@%d", r["sensor"], toInt(t, r["window_start"]))
			if _, dup := got[k]; dup {
				t.Fatalf("window %s emitted twice", k)
			}
			got[k] = fmt.Sprintf("readings=%d total=%d", toInt(t, r["readings"]), toInt(t, r["total"]))
		}
		return maps.Equal(got, want)
	}) {
		t.Fatalf("results by event time:\n got %v\nwant %v", got, want)
	}

	// The error output holds the stale readings, as analytics-late, and
	// nothing else.
	var gotLate []int
	await.Cond(t, 30*time.Second, "the late readings in the error output", func() bool {
		gotLate = lateReadings(t, filepath.Join(dir, "data", "errors", "per-sensor"))
		return len(gotLate) >= len(late)
	})
	if want := slices.Sorted(maps.Keys(late)); !slices.Equal(gotLate, want) {
		t.Errorf("late readings in the error output: %v, want %v", gotLate, want)
	}
	t.Logf("%d readings on time in %d results, %d late", len(onTime), len(got), len(gotLate))
}

// lateReadings returns the ids of the readings in analytics-late error
// documents under dir, sorted; any other error code fails the test.
func lateReadings(t *testing.T, dir string) []int {
	t.Helper()
	var ids []int
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			var doc struct {
				RawData   string `json:"rawData"`
				ErrorCode string `json:"errorCode"`
			}
			if err := json.Unmarshal([]byte(line), &doc); err != nil {
				continue // a document being written
			}
			if doc.ErrorCode != "analytics-late" {
				t.Errorf("error output %s: error code %q", path, doc.ErrorCode)
			}
			raw, _ := base64.StdEncoding.DecodeString(doc.RawData)
			var r reading
			if json.Unmarshal(raw, &r) == nil {
				ids = append(ids, r.ID)
			}
		}
		return nil
	})
	slices.Sort(ids)
	return ids
}
