package e2e

// The "nothing lost" fault-injection suite: each TestFault… scenario runs
// the real binary under load from a producer inside the test, breaks
// something real (kill -9, a stopped MinIO, a dropped table), and then
// accounts for every acknowledged record: delivered, or in the error
// output, and nothing doubled where exactly-once is promised. Each records
// a row of the summary TestMain prints (summary_test.go). This file holds
// what the scenarios share: the load generator and the readers of what
// landed.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	miniogo "github.com/minio/minio-go/v7"

	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/internal/await"
)

// faultRand returns a random source for a scenario's choices, logging its
// seed; HYDRANT_FAULT_SEED replays a run.
func faultRand(t *testing.T) *rand.Rand {
	seed := rand.Uint64()
	if s := os.Getenv("HYDRANT_FAULT_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("HYDRANT_FAULT_SEED=%q: %v", s, err)
		}
	}
	t.Logf("random seed %d (HYDRANT_FAULT_SEED=%d replays it)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// ackedPut is when an acknowledged record was put: the load's phase when
// its put started and when it was answered.
type ackedPut struct {
	start, end int32
	shard      string // where the record was stored: shard id
	seq        uint64 // and sequence number
}

// faultLoad is the load generator: producers putting NDJSON records with
// unique ids ("id") to the native API of the hydrant at url, which stays
// the same across restarts. A put answered 200 acknowledges its records;
// anything else (another status, a connection error while the process is
// dying) acknowledges nothing, and the producer moves on.
type faultLoad struct {
	t       *testing.T
	url     string
	stream  string
	perPut  int           // records per put
	pace    time.Duration // pause between one producer's puts (0: none)
	client  *http.Client
	idStart string // prefix of the ids, unique to the scenario

	phase atomic.Int32 // set by the scenario; stamped on every put
	next  atomic.Int64

	mu       sync.Mutex
	acked    map[string]ackedPut
	unacked  map[string]bool
	okPuts   map[int32]int // by phase at start
	badPuts  map[int32]int
	statuses map[int]int   // puts by status (0: no answer)
	firstBad []string      // the first few failed puts, for the log
	slowest  time.Duration // the longest put answered 200

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

func newFaultLoad(t *testing.T, url, stream, idPrefix string) *faultLoad {
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	l := &faultLoad{
		t: t, url: url, stream: stream, perPut: 50, idStart: idPrefix,
		client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		acked:  map[string]ackedPut{}, unacked: map[string]bool{},
		okPuts: map[int32]int{}, badPuts: map[int32]int{}, statuses: map[int]int{},
		stop: make(chan struct{}),
	}
	t.Cleanup(func() { // a test that failed half-way leaves no producer behind
		l.stopOnce.Do(func() { close(l.stop) })
		l.wg.Wait()
		tr.CloseIdleConnections()
	})
	return l
}

// faultRecord is the JSON of a generated record.
func faultRecord(id string, n int64) string {
	return fmt.Sprintf("{\"id\":%q,\"customer\":\"c%d\",\"n\":%d,\"pad\":\"%s\"}\n", id, n%11, n, strings.Repeat("z", 100))
}

// start runs producers until stopAndWait.
func (l *faultLoad) start(producers int) {
	for p := range producers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				ok := l.putOnce(p)
				pause := l.pace
				if !ok {
					pause = max(pause, 20*time.Millisecond) // no busy loop while the server is down
				}
				if pause > 0 {
					select {
					case <-l.stop:
						return
					case <-time.After(pause):
					}
				}
			}
		})
	}
}

func (l *faultLoad) putOnce(producer int) bool {
	var body strings.Builder
	ids := make([]string, l.perPut)
	for i := range ids {
		n := l.next.Add(1)
		ids[i] = fmt.Sprintf("%s-p%d-%d", l.idStart, producer, n)
		body.WriteString(faultRecord(ids[i], n))
	}
	start := l.phase.Load()
	began := time.Now()
	status, res, err := putRecords(l.client, l.url, l.stream, []byte(body.String()))
	took := time.Since(began)
	ok := err == nil && status == http.StatusOK && res.FailedRecordCount == 0 && len(res.Records) == len(ids)
	l.mu.Lock()
	defer l.mu.Unlock()
	// Read under the lock: a snapshot taken after the phase moved on holds
	// every record acknowledged in an earlier phase.
	end := l.phase.Load()
	l.statuses[status]++
	if !ok {
		l.badPuts[start]++
		if len(l.firstBad) < 5 {
			l.firstBad = append(l.firstBad, fmt.Sprintf("phase %d: status %d, error %v", start, status, err))
		}
		for _, id := range ids {
			l.unacked[id] = true
		}
		return false
	}
	l.okPuts[start]++
	l.slowest = max(l.slowest, took)
	for i, id := range ids {
		seq, _ := strconv.ParseUint(res.Records[i].SequenceNumber, 10, 64)
		l.acked[id] = ackedPut{start: start, end: end, shard: res.Records[i].ShardID, seq: seq}
	}
	return true
}

// stopAndWait stops the producers and waits for their puts under way.
func (l *faultLoad) stopAndWait() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Logf("load: %d records acknowledged, %d not; puts by phase: ok %v, failed %v; by status %v; slowest acknowledged put %v; first failures %q",
		len(l.acked), len(l.unacked), l.okPuts, l.badPuts, l.statuses, l.slowest.Round(time.Millisecond), l.firstBad)
}

// ackedCount returns the number of records acknowledged so far.
func (l *faultLoad) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// ackedSnapshot returns the records acknowledged so far.
func (l *faultLoad) ackedSnapshot() map[string]ackedPut {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.acked)
}

// putStats returns the successful and failed puts by phase at start.
func (l *faultLoad) putStats() (ok, bad map[int32]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.okPuts), maps.Clone(l.badPuts)
}

// statusCounts returns the puts by status (0: no answer).
func (l *faultLoad) statusCounts() map[int]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.statuses)
}

// unackedIDs returns the ids whose put was not acknowledged.
func (l *faultLoad) unackedIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.unacked))
	for id := range l.unacked {
		ids = append(ids, id)
	}
	return ids
}

// recordID returns the id of a generated record.
func recordID(t *testing.T, data []byte) string {
	t.Helper()
	var r struct{ ID string }
	if err := json.Unmarshal(data, &r); err != nil || r.ID == "" {
		t.Fatalf("record %q has no id: %v", data, err)
	}
	return r.ID
}

// s3Records reads the records of the JSON-lines objects under a prefix,
// fetching only objects that are new or were rewritten since the last scan.
type s3Records struct {
	t         *testing.T
	client    *miniogo.Client
	bucket    string
	prefix    string
	errorDocs bool                // the objects hold error output documents: read their rawData
	cache     map[string]s3Object // by key
}

type s3Object struct {
	etag string
	ids  []string
}

func newS3Records(t *testing.T, client *miniogo.Client, bucket, prefix string) *s3Records {
	return &s3Records{t: t, client: client, bucket: bucket, prefix: prefix, cache: map[string]s3Object{}}
}

// scan returns, for each id, in how many objects (counting a repeat within
// one object as another) it is, and the number of objects.
func (s *s3Records) scan() (map[string]int, int) {
	s.t.Helper()
	ctx := context.Background()
	seen := map[string]bool{}
	for obj := range s.client.ListObjects(ctx, s.bucket, miniogo.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
		if obj.Err != nil {
			s.t.Fatalf("list %s/%s: %v", s.bucket, s.prefix, obj.Err)
		}
		seen[obj.Key] = true
		if c, ok := s.cache[obj.Key]; ok && c.etag == obj.ETag {
			continue
		}
		o, err := s.client.GetObject(ctx, s.bucket, obj.Key, miniogo.GetObjectOptions{})
		if err != nil {
			s.t.Fatalf("get %s: %v", obj.Key, err)
		}
		var ids []string
		sc := bufio.NewScanner(o)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			if s.errorDocs {
				ids = append(ids, decodeErrorDoc(s.t, obj.Key, sc.Bytes()).ID)
			} else {
				ids = append(ids, recordID(s.t, sc.Bytes()))
			}
		}
		o.Close()
		if err := sc.Err(); err != nil {
			s.t.Fatalf("read %s: %v", obj.Key, err)
		}
		// The listed ETag: should the object have been rewritten since, the
		// next scan lists another and reads it again.
		s.cache[obj.Key] = s3Object{etag: obj.ETag, ids: ids}
	}
	for k := range s.cache {
		if !seen[k] {
			delete(s.cache, k)
		}
	}
	count := map[string]int{}
	for _, o := range s.cache {
		for _, id := range o.ids {
			count[id]++
		}
	}
	return count, len(s.cache)
}

// pgCount returns how many rows of table have each id of ids (0 for those
// absent).
func pgCount(t *testing.T, conn *pgx.Conn, table string, ids []string) map[string]int {
	t.Helper()
	rows, err := conn.Query(context.Background(),
		"SELECT a.id, count(o.id) FROM unnest($1::text[]) AS a(id) LEFT JOIN "+table+" o ON o.id = a.id GROUP BY a.id", ids)
	if err != nil {
		t.Fatalf("count ids in %s: %v", table, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct {
		id string
		n  int
	}, error) {
		var v struct {
			id string
			n  int
		}
		return v, r.Scan(&v.id, &v.n)
	})
	if err != nil {
		t.Fatalf("count ids in %s: %v", table, err)
	}
	m := make(map[string]int, len(out))
	for _, v := range out {
		m[v.id] = v.n
	}
	return m
}

// pgConnect connects to dsn for the rest of the test.
func pgConnect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// errorOutput is a record in a delivery's error output.
type errorOutput struct {
	Type         string // error output type: the directory under errors/<delivery>/errors/
	ID           string
	ErrorCode    string
	ErrorMessage string
	AttemptsMade int
	Delivery     string
	Sequence     string
}

// readDataDirErrors reads the error output a delivery without one of its own
// writes under <data_dir>/errors/<delivery>/ (then the default error prefix,
// errors/<type>/yyyy/MM/dd/HH/), decoding each document's rawData.
func readDataDirErrors(t *testing.T, dataDir, delivery string) []errorOutput {
	t.Helper()
	root := filepath.Join(dataDir, "errors", delivery)
	var out []errorOutput
	for path, lines := range destinationtest.DeliveredLines(t, root) {
		rel, err := filepath.Rel(root, path)
		if err != nil {
			t.Fatal(err)
		}
		// <type> is the first directory under the error prefix, which by
		// default starts with errors/ itself.
		typ, _, _ := strings.Cut(strings.TrimPrefix(filepath.ToSlash(rel), "errors/"), "/")
		for _, l := range lines {
			e := decodeErrorDoc(t, path, []byte(l))
			e.Type = typ
			out = append(out, e)
		}
	}
	return out
}

// decodeErrorDoc decodes an error output document (Firehose's format) and
// the id of the record in its rawData.
func decodeErrorDoc(t *testing.T, where string, line []byte) errorOutput {
	t.Helper()
	var doc struct {
		AttemptsMade       int    `json:"attemptsMade"`
		ErrorCode          string `json:"errorCode"`
		ErrorMessage       string `json:"errorMessage"`
		RawData            string `json:"rawData"`
		DeliveryStreamName string `json:"deliveryStreamName"`
		SequenceNumber     string `json:"sequenceNumber"`
	}
	if err := json.Unmarshal(line, &doc); err != nil {
		t.Fatalf("%s: error document %q: %v", where, line, err)
	}
	raw, err := base64.StdEncoding.DecodeString(doc.RawData)
	if err != nil {
		t.Fatalf("%s: rawData %q: %v", where, doc.RawData, err)
	}
	return errorOutput{ID: recordID(t, raw), ErrorCode: doc.ErrorCode, ErrorMessage: doc.ErrorMessage,
		AttemptsMade: doc.AttemptsMade, Delivery: doc.DeliveryStreamName, Sequence: doc.SequenceNumber}
}

// waitFor polls until none of ids is missing. missing reports which of
// the ids it is given are still missing, so each poll asks only about
// those left.
func waitFor(t *testing.T, timeout time.Duration, what string, ids []string, missing func([]string) []string) {
	t.Helper()
	left := ids
	defer func() {
		if len(left) > 0 {
			t.Logf("%s: %d of %d still missing, e.g. %q", what, len(left), len(ids), left[0])
		}
	}()
	await.Cond(t, timeout, what, func() bool {
		left = missing(left)
		return len(left) == 0
	})
}

// keys returns the keys of m.
func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// holdFor lets d pass (a fault that must last that long), calling check on
// every poll: it fails the test on what must not happen meanwhile.
func holdFor(d time.Duration, check func()) {
	over := time.After(d) // the fault's duration is the point, not a condition to wait for
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		check()
		select {
		case <-over:
			check()
			return
		case <-tick.C:
		}
	}
}

// logCount returns how often s occurs in hydrant's log so far.
func (h *hydrant) logCount(s string) int {
	log, _ := os.ReadFile(h.logPath)
	return strings.Count(string(log), s)
}

// accountS3 fills a row from where records landed in a bucket: inS3 and
// inErrors count each id's objects under the data and error prefixes. An
// acknowledged record is delivered when some object holds it, duplicated
// when more than one does (whole objects are promised), and lost when
// neither the data nor the error output holds it.
func accountS3(row *faultRow, acked, unacked []string, inS3, inErrors map[string]int) {
	row.Acknowledged, row.Unacked = len(acked), len(unacked)
	for _, id := range acked {
		if inErrors[id] > 0 {
			row.ErrorOutput++
		}
		switch n := inS3[id]; {
		case n == 0 && inErrors[id] == 0:
			row.Lost++
		case n == 0:
		case n > 1:
			row.Duplicated++
			row.Delivered++
		default:
			row.Delivered++
		}
	}
	for _, id := range unacked {
		if inS3[id] > 0 {
			row.UnackedSeen++
		}
	}
}

// settleS3 waits until every record load acknowledged is in the bucket's
// data prefix, stops h (nothing is rewritten while the result is read),
// accounts for every record, records the scenario's row and fails the test
// on a lost or duplicated record. It returns the row and the number of
// error output objects (under errors/) for the scenario to judge.
func settleS3(t *testing.T, h *hydrant, load *faultLoad, client *miniogo.Client, lake *s3Records, scenario string, began time.Time) (faultRow, int) {
	t.Helper()
	acked := keys(load.ackedSnapshot())
	waitFor(t, 2*time.Minute, "every acknowledged record in MinIO", acked, func(ids []string) []string {
		n, _ := lake.scan()
		var missing []string
		for _, id := range ids {
			if n[id] == 0 {
				missing = append(missing, id)
			}
		}
		return missing
	})
	h.stop()
	inS3, objects := lake.scan()
	errs := newS3Records(t, client, lake.bucket, "errors/")
	errs.errorDocs = true
	inErrors, errObjects := errs.scan()
	row := faultRow{Scenario: scenario, Took: time.Since(began)}
	accountS3(&row, acked, load.unackedIDs(), inS3, inErrors)
	recordFault(row)
	t.Logf("%d objects, %d error objects", objects, errObjects)
	if row.Lost > 0 || row.Duplicated > 0 {
		t.Errorf("%d acknowledged records lost, %d in more than one object", row.Lost, row.Duplicated)
	}
	return row, errObjects
}
