package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/jackc/pgx/v5"
	miniogo "github.com/minio/minio-go/v7"

	"github.com/hydrant-dev/hydrant/e2e/minio"
	"github.com/hydrant-dev/hydrant/e2e/postgres"
	"github.com/hydrant-dev/hydrant/internal/await"
)

// analyticsConfig is the README's three canonical Kinesis Data Analytics
// examples over one stream of trades: a continuous filter, a tumbling
// window count and average per ticker, and a sliding window aggregate per
// sector joined with a reference table (an object in S3); each output
// stream is delivered to files and to Postgres.
const analyticsConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: trades
    shards: 2
    partition_key_field: /ticker
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
  - {name: big-trades, shard_limits: {records_per_second: 100000}}
  - {name: ticker-stats, shard_limits: {records_per_second: 100000}}
  - {name: sector-stats, shard_limits: {records_per_second: 100000}}
analytics:
  - name: big-trades
    source: trades
    sql: SELECT id, ticker, price, volume FROM source WHERE volume >= 900
    schema:
      - {name: id, type: int64}
      - {name: ticker, type: string}
      - {name: price, type: int64}
      - {name: volume, type: int64}
    output: {stream: big-trades, partition_key: ticker}
{{PER_TICKER}}
  - name: per-sector
    source: trades
    sql: |
      SELECT c.sector, count(*) AS trades, sum(s.volume) AS volume, epoch_ms(s.window_start) AS window_start
      FROM source s JOIN companies c ON c.ticker = s.ticker
      GROUP BY c.sector, s.window_start
    window: {sliding: {size: 4s, every: 2s}}
    schema: [{name: ticker, type: string}, {name: volume, type: int64}]
    reference:
      - name: companies
        path: s3://refdata/companies.csv
        s3: {endpoint: "${S3_ENDPOINT}", access_key_id: "${S3_ACCESS_KEY}", secret_access_key: "${S3_SECRET_KEY}"}
    output: {stream: sector-stats, partition_key: sector}
deliveries:
{{DELIVERIES}}`

// perTickerApp is the tumbling-window example: count, average price and
// volume per ticker every 2 s (the cluster test runs it too).
const perTickerApp = `  - name: per-ticker
    source: trades
    sql: |
      SELECT ticker, count(*) AS trades, avg(price) AS avg_price, sum(volume) AS volume,
             epoch_ms(window_start) AS window_start
      FROM source GROUP BY ticker, window_start
    window: {tumbling: 2s}
    schema: [{name: ticker, type: string}, {name: price, type: int64}, {name: volume, type: int64}]
    output: {stream: ticker-stats, partition_key: ticker}`

// analyticsCompanies is the per-sector example's reference table; ZZZZ
// trades but is not in it, so the inner join leaves it out.
const analyticsCompanies = "ticker,sector,name\nAMZN,retail,Amazon\nMSFT,software,Microsoft\nGOOG,software,Alphabet\nAAPL,hardware,Apple\nNVDA,hardware,Nvidia\n"

// analyticsOutputs are the output streams, each with its Postgres columns.
var analyticsOutputs = []struct{ stream, table, columns string }{
	{"big-trades", "big_trades", "[{name: id, type: bigint}, {name: ticker, type: text}, {name: price, type: bigint}, {name: volume, type: bigint}]"},
	{"ticker-stats", "ticker_stats", "[{name: ticker, type: text}, {name: trades, type: bigint}, {name: avg_price, type: double}, {name: volume, type: bigint}, {name: window_start, type: bigint}]"},
	{"sector-stats", "sector_stats", "[{name: sector, type: text}, {name: trades, type: bigint}, {name: volume, type: bigint}, {name: window_start, type: bigint}]"},
}

func analyticsYAML() string {
	var d strings.Builder
	for _, o := range analyticsOutputs {
		fmt.Fprintf(&d, `  - name: %[1]s-files
    source: %[1]s
    buffer: {size: 1MiB, interval: 1s}
    destination: {file: {dir: "{{DIR}}/out/%[1]s"}}
  - name: %[1]s-db
    source: %[1]s
    buffer: {size: 1MiB, interval: 1s}
    retry: {duration: 3600s}
    destination:
      postgres: {dsn: "${PG_DSN}", table: public.%[2]s, create_table: true, columns: %[3]s}
`, o.stream, o.table, o.columns)
	}
	return strings.NewReplacer("{{DELIVERIES}}", d.String(), "{{PER_TICKER}}", perTickerApp).Replace(analyticsConfig)
}

// trade is what the producers put.
type trade struct {
	ID     int64  `json:"id"`
	Ticker string `json:"ticker"`
	Price  int64  `json:"price"` // cents
	Volume int64  `json:"volume"`
}

// The three canonical examples on the real binary, fed by four producers,
// killed with -9 while windows are open and restarted: every output
// stream, its files and its Postgres table hold exactly the rows the same
// aggregation gives over the trades the stream stored (read back with
// GetRecords, arrival times and all), each once.
func TestAnalyticsCanonicalExamples(t *testing.T) {
	pg := postgres.Start(t)
	s3 := minio.Start(t)
	s3.CreateBucket(t, "refdata")
	if _, err := s3.Client.PutObject(context.Background(), "refdata", "companies.csv", strings.NewReader(analyticsCompanies),
		int64(len(analyticsCompanies)), miniogo.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	dir, listen := t.TempDir(), freeAddr(t)
	env := []string{"PG_DSN=" + pg.DSN, "S3_ENDPOINT=" + s3.Endpoint, "S3_ACCESS_KEY=" + s3.AccessKey, "S3_SECRET_KEY=" + s3.SecretKey}
	cfg := analyticsYAML()
	h := startHydrant(t, dir, listen, cfg, env...)
	url := h.url

	trades := startTrades(url, 4, []string{"AMZN", "MSFT", "GOOG", "AAPL", "NVDA", "ZZZZ"})
	// emitted waits until every application has emitted a window ending
	// after the newest each had emitted when called.
	emitted := func(what string) {
		t.Helper()
		before := analyticsStatus(t, h)
		await.Cond(t, 60*time.Second, what, func() bool {
			now := analyticsStatus(t, h)
			for _, b := range before {
				a, ok := now[b.Name]
				if !ok || a.EmittedThrough == nil || (b.EmittedThrough != nil && !a.EmittedThrough.After(*b.EmittedThrough)) {
					return false
				}
			}
			return len(now) == 3
		})
	}
	emitted("every application emits a window")
	emitted("every application emits another window")
	h.kill() // producers are putting: every application has a window open
	h = startHydrant(t, dir, listen, cfg, env...)
	emitted("every application emits a window after the restart")
	emitted("and another")
	acked := trades.stop()

	kin := kinesis.New(kinesis.Options{BaseEndpoint: aws.String(h.url), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("any", "any", "")})
	stored := readTrades(t, kin)
	for id := range acked {
		if _, ok := stored[id]; !ok {
			t.Errorf("trade %d was acknowledged and is not in the stream", id)
		}
	}
	t.Logf("%d trades acknowledged, %d stored", len(acked), len(stored))

	want := expectedResults(analyticsCompanies, stored)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, o := range analyticsOutputs {
		w := want[o.stream]
		sources := []struct {
			name string
			read func() []string
		}{
			{"the output stream", func() []string { return normalize(t, o.stream, readStream(t, kin, o.stream)) }},
			{"its files", func() []string { return normalize(t, o.stream, readJSONFiles(t, filepath.Join(dir, "out", o.stream))) }},
			{"its Postgres table", func() []string { return normalize(t, o.stream, readTable(t, conn, o.table)) }},
		}
		for _, s := range sources {
			var got []string
			if !await.Within(60*time.Second, func() bool { got = s.read(); return slices.Equal(got, w) }) {
				t.Errorf("%s of %s: %d rows, want %d; first differences:\n%s", s.name, o.stream, len(got), len(w), diffRows(got, w))
			}
		}
		t.Logf("%s: %d rows, identical in the stream, the files and Postgres", o.stream, len(w))
	}
}

// tradeLoad is producers putting trades, 50 a put, each put every 20 ms
// (about 2,500 trades a second a producer).
type tradeLoad struct {
	mu    sync.Mutex
	ids   int64
	acked map[int64]bool
	done  chan struct{}
	wg    sync.WaitGroup
}

// startTrades starts n producers putting trades to url's stream trades;
// puts that fail (the process is down) are owed nothing.
func startTrades(url string, n int, tickers []string) *tradeLoad {
	l := &tradeLoad{acked: map[int64]bool{}, done: make(chan struct{})}
	for range n {
		l.wg.Go(func() {
			tick := time.NewTicker(20 * time.Millisecond) // pacing
			defer tick.Stop()
			for {
				select {
				case <-l.done:
					return
				case <-tick.C:
				}
				var body bytes.Buffer
				l.mu.Lock()
				first := l.ids + 1
				l.ids += 50
				l.mu.Unlock()
				for id := first; id < first+50; id++ {
					json.NewEncoder(&body).Encode(trade{ID: id, Ticker: tickers[(id*7)%int64(len(tickers))], Price: 10000 + (id*37)%5000, Volume: 1 + (id*7919)%1000})
				}
				code, res, err := putRecords(http.DefaultClient, url, "trades", body.Bytes())
				if err != nil || code != http.StatusOK {
					continue
				}
				l.mu.Lock()
				for i, r := range res.Records {
					if r.ErrorCode == "" {
						l.acked[first+int64(i)] = true
					}
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

// stop stops the producers and returns the ids of the trades acknowledged.
func (l *tradeLoad) stop() map[int64]bool {
	close(l.done)
	l.wg.Wait()
	return l.acked
}

// appStatus is an application as /v1/status shows it.
type appStatus struct {
	Name           string     `json:"name"`
	EmittedThrough *time.Time `json:"emitted_through"`
	LastError      string     `json:"last_error"`
	Running        bool       `json:"running"`
	Owner          string     `json:"owner"`
}

// analyticsStatus returns the applications /v1/status shows, by name
// (none while the process is down).
func analyticsStatus(t *testing.T, h *hydrant) map[string]appStatus {
	t.Helper()
	resp, err := http.Get(h.url + "/v1/status")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var status struct {
		Analytics []appStatus `json:"analytics"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		t.Fatal(err)
	}
	out := map[string]appStatus{}
	for _, a := range status.Analytics {
		if a.LastError != "" {
			t.Errorf("application %s: %s", a.Name, a.LastError)
		}
		out[a.Name] = a
	}
	return out
}

// storedTrade is a trade as the stream stored it.
type storedTrade struct {
	trade
	arrival time.Time
}

// readTrades reads every trade the stream stored, with its arrival time.
func readTrades(t *testing.T, kin *kinesis.Client) map[int64]storedTrade {
	t.Helper()
	out := map[int64]storedTrade{}
	for _, r := range readStreamRecords(t, kin, "trades") {
		var tr trade
		if err := json.Unmarshal(r.Data, &tr); err != nil {
			t.Fatal(err)
		}
		if _, dup := out[tr.ID]; dup {
			t.Errorf("trade %d stored twice", tr.ID)
		}
		out[tr.ID] = storedTrade{tr, aws.ToTime(r.ApproximateArrivalTimestamp)}
	}
	return out
}

// readStreamRecords reads every shard of a stream (not resharded) from
// its oldest record until caught up.
func readStreamRecords(t *testing.T, kin *kinesis.Client, stream string) []types.Record {
	t.Helper()
	ctx := context.Background()
	var out []types.Record
	for _, s := range listAllShards(t, kin, stream) {
		it, err := kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream),
			ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		for iter := it.ShardIterator; iter != nil; {
			res, err := kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			var throttled *types.ProvisionedThroughputExceededException
			if errors.As(err, &throttled) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res.Records...)
			if len(res.Records) == 0 && aws.ToInt64(res.MillisBehindLatest) == 0 {
				break
			}
			iter = res.NextShardIterator
		}
	}
	return out
}

// readStream returns the JSON records of an output stream.
func readStream(t *testing.T, kin *kinesis.Client, stream string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, r := range readStreamRecords(t, kin, stream) {
		out = append(out, decodeRow(t, r.Data))
	}
	return out
}

func decodeRow(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("a result is not a JSON object: %q: %v", b, err)
	}
	return m
}

// readJSONFiles returns the JSON lines of every file under root.
func readJSONFiles(t *testing.T, root string) []map[string]any {
	t.Helper()
	var out []map[string]any
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".jsonl") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
			out = append(out, decodeRow(t, []byte(line)))
		}
		return nil
	})
	return out
}

// readTable returns a table's rows (none while it does not exist).
func readTable(t *testing.T, conn *pgx.Conn, table string) []map[string]any {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT * FROM public."+table)
	if err != nil {
		return nil
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		for i, f := range rows.FieldDescriptions() {
			m[f.Name] = vals[i]
		}
		out = append(out, m)
	}
	return out
}

// normalize writes each result row of stream as one comparable line,
// sorted: equal multisets of rows give equal slices.
func normalize(t *testing.T, stream string, rows []map[string]any) []string {
	t.Helper()
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		switch stream {
		case "big-trades":
			out = append(out, fmt.Sprintf("%d %s price=%d volume=%d", toInt(t, r["id"]), r["ticker"], toInt(t, r["price"]), toInt(t, r["volume"])))
		case "ticker-stats":
			out = append(out, fmt.Sprintf("%s@%d trades=%d avg=%s volume=%d", r["ticker"], toInt(t, r["window_start"]), toInt(t, r["trades"]),
				strconv.FormatFloat(toFloat(t, r["avg_price"]), 'g', 12, 64), toInt(t, r["volume"])))
		case "sector-stats":
			out = append(out, fmt.Sprintf("%s@%d trades=%d volume=%d", r["sector"], toInt(t, r["window_start"]), toInt(t, r["trades"]), toInt(t, r["volume"])))
		}
	}
	slices.Sort(out)
	return out
}

// expectedResults computes each example's rows from the stored trades, as
// the README says the applications do: windows aligned on the epoch by
// arrival time.
func expectedResults(companies string, trades map[int64]storedTrade) map[string][]string {
	sector := map[string]string{}
	for i, line := range strings.Split(strings.TrimSpace(companies), "\n") {
		if f := strings.Split(line, ","); i > 0 {
			sector[f[0]] = f[1]
		}
	}
	type agg struct{ trades, price, volume int64 }
	perTicker, perSector := map[string]*agg{}, map[string]*agg{}
	add := func(m map[string]*agg, key string, tr storedTrade) {
		a := m[key]
		if a == nil {
			a = &agg{}
			m[key] = a
		}
		a.trades, a.price, a.volume = a.trades+1, a.price+tr.Price, a.volume+tr.Volume
	}
	out := map[string][]string{}
	for _, tr := range trades {
		if tr.Volume >= 900 {
			out["big-trades"] = append(out["big-trades"], fmt.Sprintf("%d %s price=%d volume=%d", tr.ID, tr.Ticker, tr.Price, tr.Volume))
		}
		ms := tr.arrival.UnixMilli()
		tumbling := ms - ms%2000
		add(perTicker, fmt.Sprintf("%s@%d", tr.Ticker, tumbling), tr)
		if s, ok := sector[tr.Ticker]; ok {
			for _, start := range []int64{tumbling - 2000, tumbling} { // 4 s windows every 2 s
				add(perSector, fmt.Sprintf("%s@%d", s, start), tr)
			}
		}
	}
	for k, a := range perTicker {
		out["ticker-stats"] = append(out["ticker-stats"], fmt.Sprintf("%s trades=%d avg=%s volume=%d", k, a.trades,
			strconv.FormatFloat(float64(a.price)/float64(a.trades), 'g', 12, 64), a.volume))
	}
	for k, a := range perSector {
		out["sector-stats"] = append(out["sector-stats"], fmt.Sprintf("%s trades=%d volume=%d", k, a.trades, a.volume))
	}
	for _, rows := range out {
		slices.Sort(rows)
	}
	return out
}

func toInt(t *testing.T, v any) int64 {
	t.Helper()
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			t.Fatalf("%v is not an integer", n)
		}
		return i
	case int64:
		return n
	case int32:
		return int64(n)
	}
	t.Fatalf("%v (%T) is not an integer", v, v)
	return 0
}

func toFloat(t *testing.T, v any) float64 {
	t.Helper()
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		if err != nil {
			t.Fatalf("%v is not a number", n)
		}
		return f
	case float64:
		return n
	}
	t.Fatalf("%v (%T) is not a number", v, v)
	return math.NaN()
}

// diffRows shows up to 10 rows in one and not the other.
func diffRows(got, want []string) string {
	count := map[string]int{}
	for _, r := range want {
		count[r]++
	}
	for _, r := range got {
		count[r]--
	}
	var lines []string
	for r, n := range count {
		switch {
		case n > 0:
			lines = append(lines, fmt.Sprintf("  missing (%d): %s", n, r))
		case n < 0:
			lines = append(lines, fmt.Sprintf("  extra (%d): %s", -n, r))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines[:min(len(lines), 10)], "\n")
}
