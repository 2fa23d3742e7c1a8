package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/internal/await"
	"github.com/hydrant-dev/hydrant/transform"
)

const kplConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data", fsync: always}
streams:
  - name: kpl
    shards: 2
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
deliveries:
  - name: kpl-files
    source: kpl
    transforms:
      - type: kpl_deaggregate
      - type: append_newline
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/out", prefix: "all/", error_prefix: "errors/!{firehose:error-output-type}/"}
{{KEYED}}`

// kplKeyed is a second delivery of the stream, partitioned by each user
// record's own partition key.
const kplKeyed = `
  - name: kpl-keys
    source: kpl
    transforms:
      - {type: kpl_deaggregate, partition_key: pk}
      - type: append_newline
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/keys", prefix: "by-key/!{partitionKeyFromQuery:pk}/", error_prefix: "errors/!{firehose:error-output-type}/"}
`

// kplPython returns a Python that imports boto3 and aws_kinesis_agg:
// HYDRANT_KPLAGG_PYTHON, else make's venv (.cache/venv) or python3 on PATH.
// Without one the test fails; it is skipped only in -short mode outside CI.
func kplPython(t *testing.T) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	candidates := []string{os.Getenv("HYDRANT_KPLAGG_PYTHON"), filepath.Join(filepath.Dir(here), "..", ".cache", "venv", "bin", "python")}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		if p != "" && exec.Command(p, "-c", "import boto3, aws_kinesis_agg").Run() == nil {
			return p
		}
	}
	msg := "no Python with boto3 and aws_kinesis_agg (HYDRANT_KPLAGG_PYTHON, .cache/venv or python3 on PATH): make kplagg"
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skip(msg)
	}
	t.Fatal(msg)
	return ""
}

// kplProducer is e2e/kpl_producer.py running against a Hydrant: what it
// put, as the stream answered.
type kplProducer struct {
	mu        sync.Mutex
	acked     map[string]bool
	ambiguous map[string]bool
	corrupt   []byte
	done      chan struct{}
	cmd       *exec.Cmd
	stderr    *strings.Builder
}

// startKPLProducer runs rounds PutRecords requests of KPL aggregates (200
// user records each) and plain records against url's stream kpl.
func startKPLProducer(t *testing.T, url string, rounds int) *kplProducer {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	cmd := exec.Command(kplPython(t), filepath.Join(filepath.Dir(here), "kpl_producer.py"), url, "kpl", strconv.Itoa(rounds))
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=any", "AWS_SECRET_ACCESS_KEY=any", "AWS_DEFAULT_REGION=us-east-1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &kplProducer{acked: map[string]bool{}, ambiguous: map[string]bool{}, done: make(chan struct{}), cmd: cmd, stderr: &stderr}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var line struct {
				Acked, Ambiguous []string
				Corrupt          string
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				continue
			}
			p.mu.Lock()
			for _, id := range line.Acked {
				p.acked[id] = true
			}
			for _, id := range line.Ambiguous {
				p.ambiguous[id] = true
			}
			if line.Corrupt != "" {
				p.corrupt, _ = base64.StdEncoding.DecodeString(line.Corrupt)
			}
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); <-p.done; cmd.Wait() })
	return p
}

// wait waits for the producer to finish and fails the test if it failed.
func (p *kplProducer) wait(t *testing.T) {
	t.Helper()
	<-p.done
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("kpl_producer.py: %v\n%s", err, p.stderr.String())
	}
}

func (p *kplProducer) ackedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

// kplDelivered reads the user records delivered under dir: how often each
// id is there, and the problems found (a line that is not a user record,
// or one in the partition of another key when keyed).
func kplDelivered(t *testing.T, dir string, keyed bool) (map[string]int, []string) {
	t.Helper()
	seen, problems := map[string]int{}, []string(nil)
	for path, lines := range destinationtest.DeliveredLines(t, dir) {
		for _, l := range lines {
			var r struct{ ID, PK string }
			if err := json.Unmarshal([]byte(l), &r); err != nil || r.ID == "" {
				problems = append(problems, path+": "+l)
				continue
			}
			if want := kplUserRecord(r.ID); l != want {
				problems = append(problems, path+": "+l+" is not as put: "+want)
			}
			if rel, _ := filepath.Rel(dir, path); keyed && !strings.HasPrefix(rel, r.PK+string(filepath.Separator)) {
				problems = append(problems, "record "+r.ID+" of key "+r.PK+" in "+path)
			}
			seen[r.ID]++
		}
	}
	return seen, problems
}

// kplUserRecord is the user record of id as kpl_producer.py writes it.
func kplUserRecord(id string) string {
	i, _ := strconv.Atoi(id[1:])
	pk := "user-" + strconv.Itoa(i%7)
	if id[0] == 'p' {
		pk = "plain-" + strconv.Itoa(i%3)
	}
	return `{"id":"` + id + `","pk":"` + pk + `"}`
}

// KPL-aggregated records (the aws_kinesis_agg library's format, put with
// boto3, mixed with unaggregated ones) are de-aggregated by kpl_deaggregate:
// each user record is delivered once, as the producer wrote it, under its
// own partition key where a delivery partitions by it; a corrupt aggregate
// goes whole to each delivery's error output and nowhere else. GetRecords
// returns the aggregates whole, as Kinesis does.
func TestKPLAggregatesDeaggregated(t *testing.T) {
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, strings.Replace(kplConfig, "{{KEYED}}", kplKeyed, 1))
	p := startKPLProducer(t, h.url, 10)
	p.wait(t)
	const users = 10 * (8*25 + 3)
	if n := p.ackedCount(); n != users || len(p.ambiguous) != 0 {
		t.Fatalf("%d records acknowledged, %d not; want %d and 0", n, len(p.ambiguous), users)
	}
	for _, out := range []struct {
		dir   string
		keyed bool
	}{{filepath.Join(dir, "out", "all"), false}, {filepath.Join(dir, "keys", "by-key"), true}} {
		await.Cond(t, 30*time.Second, "every user record in "+out.dir, func() bool {
			seen, _ := kplDelivered(t, out.dir, out.keyed)
			return len(seen) >= users
		})
		seen, problems := kplDelivered(t, out.dir, out.keyed)
		for _, pr := range problems {
			t.Errorf("%s", pr)
		}
		for id, n := range seen {
			if !p.acked[id] || n != 1 {
				t.Errorf("%s: record %s delivered %d times (acknowledged: %v); want once", out.dir, id, n, p.acked[id])
			}
		}
	}
	// The corrupt aggregate, whole, in each delivery's error output.
	for _, errDir := range []string{filepath.Join(dir, "out", "errors"), filepath.Join(dir, "keys", "errors")} {
		await.Cond(t, 30*time.Second, "the corrupt aggregate in "+errDir, func() bool {
			return destinationtest.CountLines(destinationtest.DeliveredLines(t, errDir)) >= 1
		})
		docs := destinationtest.DeliveredLines(t, errDir)
		if n := destinationtest.CountLines(docs); n != 1 {
			t.Fatalf("error output %s holds %d documents, want the corrupt aggregate's only", errDir, n)
		}
		for path, lines := range docs {
			if !strings.Contains(path, "processing-failed") {
				t.Fatalf("error output %s holds %d documents, want the corrupt aggregate's only", path, len(lines))
			}
			var doc struct{ ErrorCode, ErrorMessage, RawData string }
			if err := json.Unmarshal([]byte(lines[0]), &doc); err != nil {
				t.Fatal(err)
			}
			raw, _ := base64.StdEncoding.DecodeString(doc.RawData)
			if doc.ErrorCode != "Transform.KPLAggregateError" || doc.ErrorMessage != "KPL aggregate: MD5 checksum mismatch" || string(raw) != string(p.corrupt) {
				t.Errorf("error document %s: %+v", path, doc)
			}
		}
	}
	// GetRecords: the aggregates as put, each whole.
	aggregates, userRecords, plainRecords := kplStreamRecords(t, h.url)
	if aggregates != 10*8+1 || userRecords != 10*8*25 || plainRecords != 10*3 {
		t.Errorf("GetRecords: %d aggregates of %d user records and %d plain records; want %d of %d and %d",
			aggregates, userRecords, plainRecords, 10*8+1, 10*8*25, 10*3)
	}
}

// kplStreamRecords reads stream kpl from the start with the AWS SDK:
// the aggregates there, the user records they hold (the corrupt one's
// not counted), and the plain records.
func kplStreamRecords(t *testing.T, url string) (aggregates, users, plain int) {
	t.Helper()
	ctx := context.Background()
	kin := kinesis.New(kinesis.Options{BaseEndpoint: aws.String(url), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("any", "any", "")})
	shards, err := kin.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("kpl")})
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shards.Shards {
		it, err := kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("kpl"), ShardId: sh.ShardId,
			ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Records {
				recs, isAggregate, err := transform.DecodeKPL(nil, r.Data)
				switch {
				case isAggregate:
					aggregates++
					if err == nil {
						users += len(recs)
					}
				default:
					plain++
				}
			}
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return aggregates, users, plain
}

// kill -9 while a KPL producer puts: after the restart every acknowledged
// user record is delivered, none twice (a re-read batch rewrites its
// object, as README's guarantees say of the file destination), and nothing
// is delivered that was not put.
func TestKPLKill9(t *testing.T) {
	dir, listen := t.TempDir(), freeAddr(t)
	cfg := strings.Replace(kplConfig, "{{KEYED}}", "", 1)
	h := startHydrant(t, dir, listen, cfg)
	p := startKPLProducer(t, h.url, 200)
	await.Cond(t, 60*time.Second, "a third of the user records acknowledged", func() bool { return p.ackedCount() >= 200*203/3 })
	h.kill() // while the producer puts
	t.Logf("%d user records acknowledged before kill -9", p.ackedCount())
	h = startHydrant(t, dir, listen, cfg)
	p.wait(t)
	out := filepath.Join(dir, "out", "all")
	await.Cond(t, 60*time.Second, "every acknowledged user record delivered", func() bool {
		seen, _ := kplDelivered(t, out, false)
		for id := range p.acked {
			if seen[id] == 0 {
				return false
			}
		}
		return true
	})
	h.stop()
	seen, problems := kplDelivered(t, out, false)
	for _, pr := range problems {
		t.Errorf("%s", pr)
	}
	for id, n := range seen {
		if !p.acked[id] && !p.ambiguous[id] {
			t.Errorf("record %s was delivered but never put", id)
		}
		if n > 1 {
			t.Errorf("record %s is delivered %d times; re-delivery must rewrite, not duplicate", id, n)
		}
	}
	t.Logf("%d acknowledged, %d ambiguous, %d delivered", len(p.acked), len(p.ambiguous), len(seen))
}
