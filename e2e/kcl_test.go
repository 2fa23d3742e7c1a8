package e2e

import (
	"bufio"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/hydrant-dev/hydrant/internal/await"
)

// The kcl key has the KCL's IAM policy as AWS documents it (and PutRecords,
// for the test's producer).
const kclHydrantConfig = `
server:
  listen: "{{LISTEN}}"
  auth:
    aws: [{access_key_id: kcl, secret_access_key: "kcl-secret", policies: [kcl]}]
    policies:
      kcl:
        - effect: allow
          actions: [kinesis:PutRecords, kinesis:DescribeStream, kinesis:DescribeStreamSummary, kinesis:RegisterStreamConsumer,
            kinesis:GetRecords, kinesis:GetShardIterator, kinesis:ListShards]
          resources: ["arn:aws:kinesis:*:*:stream/orders"]
        - effect: allow
          actions: [kinesis:DescribeStreamConsumer, kinesis:SubscribeToShard]
          resources: ["arn:aws:kinesis:*:*:stream/orders/consumer/*"]
metrics: {public: true}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: orders
    shards: 4
`

// JVM options for a 2-core machine running two workers beside Hydrant and
// dynalite: C1 only, a small heap and the serial collector start fastest.
var kclJVMOptions = []string{
	"-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
	"-XX:-UsePerfData", "-XX:+ExitOnOutOfMemoryError",
	"-Dorg.slf4j.simpleLogger.showDateTime=true", "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
}

// The real Java Kinesis Client Library (e2e/kcl: KCL 3, the AWS SDK for
// Java v2 with its defaults: HTTP/2 over Netty, with prior knowledge to an
// http:// endpoint; CBOR for every call but SubscribeToShard, whose request
// the SDK sends as JSON and whose answer is an event stream; SigV4), its
// leases in dynalite, reads a 4-shard Hydrant stream with two workers of one
// application; one is killed with -9, the other takes over every shard, and
// every record put, before and after the kill, is processed at least once
// and checkpointed: by polling (GetRecords) and by enhanced fan-out
// (RegisterStreamConsumer, DescribeStreamConsumer, SubscribeToShard).
// HYDRANT_KCL_LOG_LEVEL=debug makes the workers' logs (shown when the test
// fails) say everything.
func TestKCL(t *testing.T) {
	java, lib := kclWorkerBuild(t)
	dynalite := dynaliteCLI(t)
	for _, mode := range []string{"polling", "fanout"} {
		t.Run(mode, func(t *testing.T) { testKCLTakeover(t, java, lib, dynalite, mode) })
	}
}

func testKCLTakeover(t *testing.T, java, lib, dynalite, mode string) {
	began := time.Now()
	dir := t.TempDir()
	listen := freeAddr(t)
	h := startHydrant(t, dir, listen, kclHydrantConfig)
	ddbURL, ddb := startDynalite(t, dynalite, dir)
	kin := kinesis.New(kinesis.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("kcl", "kcl-secret", "")})

	const before, after = 2000, 1000
	puts := map[string]kclRecord{} // by partition key
	putKCLRecords(t, kin, mode, puts, 0, before)

	app := "kcl-" + mode
	// KCL 3.5.1 cannot start two workers of a new application at the same
	// moment: both create its client-version state (the lease table's item
	// Migration3.0), and the one that loses the conditional put never
	// initializes (every retry ends in a NullPointerException for its leader
	// decider, then "AssignmentMode is not initialized"). So worker-b starts
	// once worker-a has written that state.
	workers := map[string]*kclWorker{}
	started := time.Now()
	workers["worker-a"] = startKCLWorker(t, java, lib, dir, mode, app, "worker-a", h.url, ddbURL)
	await.Cond(t, 60*time.Second, "worker-a writing the application's KCL 3 client version", func() bool {
		workers["worker-a"].alive()
		for _, item := range scanLeaseTable(t, ddb, app) {
			if ddbString(item["leaseKey"]) == "Migration3.0" && ddbString(item["cv"]) == "CLIENT_VERSION_3X" {
				return true
			}
		}
		return false
	})
	workers["worker-b"] = startKCLWorker(t, java, lib, dir, mode, app, "worker-b", h.url, ddbURL)
	await.Cond(t, 120*time.Second, "both workers holding leases, processing records and checkpointing", func() bool {
		for _, w := range workers {
			w.alive()
		}
		leases := scanLeases(t, ddb, app)
		for _, l := range leases {
			if !isSequenceNumber(l.checkpoint) {
				return false
			}
		}
		owners := leaseOwners(leases)
		return owners["worker-a"] > 0 && owners["worker-b"] > 0 &&
			len(workers["worker-a"].lines(t)) > 0 && len(workers["worker-b"].lines(t)) > 0
	})
	t.Logf("%s: both workers hold leases, process records and checkpoint %.1fs after worker-a started (%v)",
		mode, time.Since(started).Seconds(), leaseOwners(scanLeases(t, ddb, app)))

	victim, survivor := workers["worker-a"], workers["worker-b"]
	killed := time.Now()
	victim.kill()
	leases := scanLeases(t, ddb, app)
	putKCLRecords(t, kin, mode, puts, before, after)
	checkpointed := map[string]string{} // the victim's shards -> its last checkpoint
	for _, l := range leases {
		if l.owner == victim.id {
			checkpointed[l.shard] = l.checkpoint
		}
	}

	await.Cond(t, 60*time.Second, "worker-b holding all 4 leases after worker-a was killed", func() bool {
		survivor.alive()
		leases = scanLeases(t, ddb, app)
		return len(leases) == 4 && leaseOwners(leases)["worker-b"] == 4
	})
	takeover := time.Since(killed)

	var seen map[string]kclRecord
	var lines int
	if !await.Within(60*time.Second, func() bool {
		survivor.alive()
		seen, lines = processed(t, victim, survivor)
		return len(seen) == len(puts)
	}) {
		var missing []string
		for pk := range puts {
			if _, ok := seen[pk]; !ok {
				missing = append(missing, pk)
			}
		}
		slices.Sort(missing)
		t.Fatalf("%d of %d records processed; not: %v", len(seen), len(puts), missing[:min(len(missing), 20)])
	}
	caughtUp := time.Since(killed)
	// The survivor reads the victim's shards on from its checkpoints.
	for _, line := range survivor.lines(t) {
		f := strings.Fields(line)
		if cp, ok := checkpointed[f[0]]; ok && !seqLess(cp, f[1]) {
			t.Errorf("%s read %s from %s on, at or before %s's checkpoint %s", survivor.id, f[0], f[1], victim.id, cp)
			break
		}
	}
	for pk, want := range puts {
		if got := seen[pk]; got != want {
			t.Errorf("record %s processed as %+v, put as %+v", pk, got, want)
		}
	}

	last := map[string]string{} // shard -> the last sequence number put
	for _, r := range puts {
		if cur, ok := last[r.shard]; !ok || seqLess(cur, r.seq) {
			last[r.shard] = r.seq
		}
	}
	if !await.Within(30*time.Second, func() bool {
		leases = scanLeases(t, ddb, app)
		for _, l := range leases {
			if l.checkpoint != last[l.shard] {
				return false
			}
		}
		return len(leases) == len(last)
	}) {
		t.Fatalf("checkpoints %+v, want each shard's last sequence number %v", leases, last)
	}
	// Fan-out sends every record by SubscribeToShard, polling none.
	fannedOut := recipeMetricSum(t, h.url, "hydrant_ingest_fanout_records_total", `stream="orders"`)
	if mode == "fanout" && fannedOut < float64(len(puts)) || mode == "polling" && fannedOut != 0 {
		t.Errorf("hydrant_ingest_fanout_records_total = %v after %d records read by %s", fannedOut, len(puts), mode)
	}
	t.Logf("%s: KCL 3 with leases in dynalite, 2 workers on 4 shards: %d records put (%d before the kill, %d after), "+
		"%d lines printed (%d by worker-a, %d by worker-b, %d records twice; %v sent by SubscribeToShard); worker-b held all 4 leases %.1fs after "+
		"worker-a was killed with -9 and had processed every record %.1fs after; every checkpoint at its shard's "+
		"last record; %.1fs in all",
		mode, len(puts), before, after, lines, len(victim.lines(t)), len(survivor.lines(t)), lines-len(puts), fannedOut,
		takeover.Seconds(), caughtUp.Seconds(), time.Since(began).Seconds())
}

// kclRecord is a record as put, or as a worker printed it.
type kclRecord struct{ shard, seq, data string }

// putKCLRecords puts records n in [from, from+count) with distinct partition
// keys and notes where each went.
func putKCLRecords(t *testing.T, kin *kinesis.Client, mode string, puts map[string]kclRecord, from, count int) {
	t.Helper()
	for start := from; start < from+count; start += 500 {
		var entries []types.PutRecordsRequestEntry
		for n := start; n < min(start+500, from+count); n++ {
			entries = append(entries, types.PutRecordsRequestEntry{
				PartitionKey: aws.String(fmt.Sprintf("pk-%05d", n)),
				Data:         fmt.Appendf(nil, `{"mode":%q,"n":%d}`, mode, n),
			})
		}
		out, err := kin.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String("orders"), Records: entries})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt32(out.FailedRecordCount) != 0 {
			t.Fatalf("PutRecords: %d failed", aws.ToInt32(out.FailedRecordCount))
		}
		for i, r := range out.Records {
			puts[*entries[i].PartitionKey] = kclRecord{shard: aws.ToString(r.ShardId), seq: aws.ToString(r.SequenceNumber), data: string(entries[i].Data)}
		}
	}
}

// seqLess orders Kinesis sequence numbers (decimal strings).
func seqLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// isSequenceNumber tells a checkpoint at a record from TRIM_HORIZON,
// LATEST and SHARD_END.
func isSequenceNumber(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// processed reads the workers' output files: each record by partition key,
// and how many lines there were in all (a record printed twice counts twice).
func processed(t *testing.T, workers ...*kclWorker) (map[string]kclRecord, int) {
	t.Helper()
	seen, lines := map[string]kclRecord{}, 0
	for _, w := range workers {
		for _, line := range w.lines(t) {
			f := strings.Fields(line)
			if len(f) != 4 {
				t.Fatalf("%s printed %q, want: shard sequence partition-key base64(data)", w.id, line)
			}
			data, err := base64.StdEncoding.DecodeString(f[3])
			if err != nil {
				t.Fatalf("%s printed %q: %v", w.id, line, err)
			}
			seen[f[2]] = kclRecord{shard: f[0], seq: f[1], data: string(data)}
			lines++
		}
	}
	return seen, lines
}

// kclLease is one shard's lease in the KCL lease table.
type kclLease struct{ shard, owner, checkpoint string }

// scanLeases reads the shards' leases from the lease table, not KCL 3's
// other items in it (its client version, leader lock and worker metrics).
func scanLeases(t *testing.T, ddb *dynamodb.Client, table string) []kclLease {
	t.Helper()
	var leases []kclLease
	for _, item := range scanLeaseTable(t, ddb, table) {
		if key := ddbString(item["leaseKey"]); strings.HasPrefix(key, "shardId-") {
			leases = append(leases, kclLease{shard: key, owner: ddbString(item["leaseOwner"]), checkpoint: ddbString(item["checkpoint"])})
		}
	}
	slices.SortFunc(leases, func(a, b kclLease) int { return strings.Compare(a.shard, b.shard) })
	return leases
}

// scanLeaseTable reads every item of the lease table, consistently; none
// before the table exists.
func scanLeaseTable(t *testing.T, ddb *dynamodb.Client, table string) []map[string]ddbtypes.AttributeValue {
	t.Helper()
	var items []map[string]ddbtypes.AttributeValue
	p := dynamodb.NewScanPaginator(ddb, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			var notFound *ddbtypes.ResourceNotFoundException
			if errors.As(err, &notFound) {
				return nil
			}
			t.Fatalf("scan of the lease table %s: %v", table, err)
		}
		items = append(items, page.Items...)
	}
	return items
}

func ddbString(v ddbtypes.AttributeValue) string {
	if s, ok := v.(*ddbtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// leaseOwners counts the leases each worker holds.
func leaseOwners(leases []kclLease) map[string]int {
	owners := map[string]int{}
	for _, l := range leases {
		owners[l.owner]++
	}
	return owners
}

// kclWorker is a running e2e/kcl worker.
type kclWorker struct {
	t       *testing.T
	id      string
	out     string // the records it printed
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

func startKCLWorker(t *testing.T, java, lib, dir, mode, app, id, kinesisURL, dynamoURL string) *kclWorker {
	t.Helper()
	w := &kclWorker{t: t, id: id, out: filepath.Join(dir, id+".out"), logPath: filepath.Join(dir, id+".log"), exited: make(chan struct{})}
	logf, err := os.Create(w.logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := slices.Concat(kclJVMOptions, []string{
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=" + cmp.Or(os.Getenv("HYDRANT_KCL_LOG_LEVEL"), "info"),
		"-cp", filepath.Join(lib, "*"), "dev.hydrant.kcl.Main",
		"--stream", "orders", "--app", app, "--worker", id, "--mode", mode,
		"--kinesis", kinesisURL, "--dynamodb", dynamoURL, "--out", w.out,
		"--access-key", "kcl", "--secret-key", "kcl-secret",
		"--checkpoint-every", "100", "--checkpoint-ms", "1000",
	})
	w.cmd = exec.Command(java, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "KCL_") {
			w.cmd.Env = append(w.cmd.Env, kv)
		}
	}
	w.cmd.Env = append(w.cmd.Env, "AWS_EC2_METADATA_DISABLED=true")
	w.cmd.Stdout, w.cmd.Stderr = logf, logf
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.cmd.Wait(); logf.Close(); close(w.exited) }()
	t.Cleanup(func() {
		w.kill()
		if t.Failed() {
			t.Logf("%s log (the last 80 lines):\n%s", id, tailLines(w.logPath, 80))
		}
	})
	return w
}

// kill sends SIGKILL and waits for the process to be gone.
func (w *kclWorker) kill() {
	w.cmd.Process.Kill()
	<-w.exited
}

// alive fails the test if the worker has exited.
func (w *kclWorker) alive() {
	w.t.Helper()
	select {
	case <-w.exited:
		w.t.Fatalf("KCL %s exited: %v; its log (the last 80 lines):\n%s", w.id, w.cmd.ProcessState, tailLines(w.logPath, 80))
	default:
	}
}

// lines returns the complete lines of the worker's output file.
func (w *kclWorker) lines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(w.out)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i] // a line cut by a kill -9 has no newline
	} else {
		return nil
	}
	return strings.Split(text, "\n")
}

func tailLines(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// startDynalite runs dynalite (in memory) on a free port until the test
// ends, and returns its URL and a client of it once it answers.
func startDynalite(t *testing.T, cli, dir string) (string, *dynamodb.Client) {
	t.Helper()
	addr := freeAddr(t)
	host, port, _ := strings.Cut(addr, ":")
	logf, err := os.Create(filepath.Join(dir, "dynalite.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", cli, "--host", host, "--port", port,
		"--createTableMs", "50", "--updateTableMs", "50", "--deleteTableMs", "50")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })

	url := "http://" + addr
	ddb := dynamodb.New(dynamodb.Options{BaseEndpoint: aws.String(url), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("kcl", "kcl-secret", "")})
	await.Cond(t, 30*time.Second, "dynalite answering", func() bool {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "dynalite.log"))
			t.Fatalf("dynalite exited at start:\n%s", log)
		default:
		}
		_, err := ddb.ListTables(context.Background(), &dynamodb.ListTablesInput{})
		return err == nil
	})
	return url, ddb
}

// kclWorkerBuild returns java and the folder `make kcl` built the worker's
// jars into (HYDRANT_KCL, else .cache/kcl). Missing, they fail the test; it
// is skipped only in -short mode outside CI.
func kclWorkerBuild(t *testing.T) (java, lib string) {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	dir := os.Getenv("HYDRANT_KCL")
	if dir == "" {
		dir = filepath.Join(filepath.Dir(here), "..", ".cache", "kcl")
	}
	lib = filepath.Join(dir, "lib")
	java, err := exec.LookPath("java")
	problem := ""
	if h := os.Getenv("JAVA_HOME"); h != "" {
		java, err = filepath.Join(h, "bin", "java"), nil
	}
	if err != nil {
		problem = "no java on PATH and JAVA_HOME unset: the KCL worker needs Java 17+"
	} else if _, err := os.Stat(filepath.Join(lib, "kclworker.jar")); err != nil {
		problem = fmt.Sprintf("the KCL worker is not built in %s: run `make kcl` (make test does), or set HYDRANT_KCL", dir)
	}
	if problem != "" {
		if testing.Short() && os.Getenv("CI") == "" {
			t.Skip(problem)
		}
		t.Fatal(problem)
	}
	return java, lib
}

// dynaliteCLI returns dynalite's cli.js as `make dynalite` installed it
// (HYDRANT_DYNALITE, else .cache/dynalite), at the version e2e/dynalite pins.
func dynaliteCLI(t *testing.T) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	dir := os.Getenv("HYDRANT_DYNALITE")
	if dir == "" {
		dir = filepath.Join(filepath.Dir(here), "..", ".cache", "dynalite")
	}
	var pinned, installed struct {
		Version      string            `json:"version"`
		Dependencies map[string]string `json:"dependencies"`
	}
	problem := ""
	if _, err := exec.LookPath("node"); err != nil {
		problem = "no node on PATH: install Node.js 20 or later"
	} else if err := readJSON(filepath.Join(filepath.Dir(here), "dynalite", "package.json"), &pinned); err != nil {
		t.Fatal(err)
	} else if err := readJSON(filepath.Join(dir, "node_modules", "dynalite", "package.json"), &installed); err != nil {
		problem = fmt.Sprintf("dynalite is not installed in %s (%v): run `make dynalite` (make test does), or set HYDRANT_DYNALITE", dir, err)
	} else if want := pinned.Dependencies["dynalite"]; installed.Version != want {
		problem = fmt.Sprintf("%s has dynalite %s, e2e/dynalite pins %s: run `make dynalite`", dir, installed.Version, want)
	}
	if problem != "" {
		if testing.Short() && os.Getenv("CI") == "" {
			t.Skip(problem)
		}
		t.Fatal(problem)
	}
	return filepath.Join(dir, "node_modules", "dynalite", "cli.js")
}
