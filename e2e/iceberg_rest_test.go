package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	iceberggo "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog/rest"
	"github.com/apache/iceberg-go/table"

	"github.com/hydrant-dev/hydrant/e2e/icebergrest"
	"github.com/hydrant-dev/hydrant/e2e/minio"
	"github.com/hydrant-dev/hydrant/internal/await"
)

const icebergRESTConfig = `
server: {listen: "{{LISTEN}}"}
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: orders
    shards: 2
    shard_limits: {bytes_per_second: 1GiB, records_per_second: 1000000}
deliveries:
  - name: orders-lake
    source: orders
    buffer: {size: 1MiB, interval: 500ms}
    retry: {duration: 3600s}
    destination:
      iceberg:
        catalog: rest
        rest: {uri: "${ICEBERG_REST_URI}"}
        namespace: sales
        table: orders
        warehouse: s3://lake/warehouse
        s3: {endpoint: "${S3_ENDPOINT}", access_key_id: "${S3_KEY}", secret_access_key: "${S3_SECRET}"}
        create_table: true
        columns:
          - {name: order_id, type: long, required: true}
          - {name: customer, type: string}
          - {name: ts, type: timestamptz}
        partition_by:
          - {column: customer, transform: identity}
          - {column: ts, transform: hour}
`

// icebergRESTOrders reads every order_id of sales.orders through
// iceberg-go's REST catalog client and table scan. The server hands out no
// S3 settings, so the reader names MinIO itself.
func icebergRESTOrders(uri string, m *minio.Server) (ids []int64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cat, err := rest.NewCatalog(ctx, "rest", uri, rest.WithAdditionalProps(iceberggo.Properties{
		"s3.endpoint": m.Endpoint, "s3.region": "us-east-1",
		"s3.access-key-id": m.AccessKey, "s3.secret-access-key": m.SecretKey}))
	if err != nil {
		return nil, err
	}
	tbl, err := cat.LoadTable(ctx, table.Identifier{"sales", "orders"})
	if err != nil {
		return nil, err
	}
	at, err := tbl.Scan().ToArrowTable(ctx)
	if err != nil {
		return nil, err
	}
	defer at.Release()
	col := at.Column(at.Schema().FieldIndices("order_id")[0])
	for _, c := range col.Data().Chunks() {
		ids = append(ids, c.(*array.Int64).Int64Values()...)
	}
	return ids, nil
}

// Orders appended to an Iceberg table through a REST catalog (Apache
// Iceberg's own RESTCatalogServer, e2e/icebergrest, its files in a real
// MinIO) by the real binary, across a kill -9 under load (batches committed
// but not checkpointed are not appended twice) and an outage of the REST
// catalog longer than the flush interval (nothing lost); read back through
// iceberg-go's REST client and pyiceberg's RestCatalog, which must agree
// row for row. Hydrant reaches the catalog through a proxy that can lose
// the answer to a commit the catalog applied (answerCutter): such a batch,
// retried, is not appended twice either.
func TestIcebergREST(t *testing.T) {
	began := time.Now()
	m := minio.Start(t)
	m.CreateBucket(t, "lake")
	cat := icebergrest.Start(t, icebergrest.Options{Warehouse: "s3://lake/warehouse",
		S3Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey})
	py := pyicebergPython(t)
	dir, listen := t.TempDir(), freeAddr(t)
	cutter, proxyURI := newAnswerCutter(t, cat.URI)
	env := []string{"ICEBERG_REST_URI=" + proxyURI, "S3_ENDPOINT=" + m.Endpoint, "S3_KEY=" + m.AccessKey, "S3_SECRET=" + m.SecretKey}
	h := startHydrant(t, dir, listen, icebergRESTConfig, env...)
	var lastErr string
	counts := func() (rows, distinct int, err error) {
		ids, err := icebergRESTOrders(cat.URI, m)
		if err != nil {
			if err.Error() != lastErr { // the table may not be there yet, or the catalog down
				lastErr = err.Error()
				t.Logf("reading the table: %v", err)
			}
			return 0, 0, err
		}
		seen := map[int64]bool{}
		for _, id := range ids {
			seen[id] = true
		}
		return len(ids), len(seen), nil
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("REST catalog log (end):\n%s", cat.Log())
		}
	})

	load := newOrderLoad("orders")
	retries := func() int {
		log, _ := os.ReadFile(h.logPath)
		return strings.Count(string(log), "delivery failed, retrying")
	}

	allAppended := func(what string) {
		t.Helper()
		want := load.owed()
		await.Cond(t, 120*time.Second, fmt.Sprintf("all %d acknowledged orders appended %s", want, what), func() bool {
			_, distinct, err := counts()
			return err == nil && distinct >= want
		})
		if rows, distinct, err := counts(); err != nil || rows != distinct {
			t.Fatalf("%s: %d rows for %d orders (%v): batches were appended twice", what, rows, distinct, err)
		}
	}

	// kill -9 while the producers put and the delivery commits.
	stopProducers := load.produce(h, 2)
	await.Cond(t, 60*time.Second, "rows appended while producers put", func() bool {
		rows, _, err := counts()
		return err == nil && rows >= 1000
	})
	h.kill()
	stopProducers()
	h = startHydrant(t, dir, listen, icebergRESTConfig, env...)
	allAppended("after kill -9")
	afterKill := time.Since(began)

	// Two commits are applied by the catalog but their answers lost (a
	// closed connection, a 504) while the producers put: the retried
	// batches are not appended again.
	stopProducers = load.produce(h, 2)
	for i, mode := range []string{"close", "504"} {
		cutter.armed.Store(mode)
		await.Cond(t, 60*time.Second, "a commit answered with "+mode, func() bool { return cutter.cut.Load() == int32(i+1) })
	}
	stopProducers()
	allAppended("after commits whose answers were lost")

	// The REST catalog goes away under load, cutting the requests in flight,
	// for longer than the flush interval: puts are still acknowledged,
	// deliveries retry, and once it is back (the same port, the same SQLite
	// catalog) every order is appended once.
	rows0, _, err := counts()
	if err != nil {
		t.Fatal(err)
	}
	stopProducers = load.produce(h, 2)
	await.Cond(t, 60*time.Second, "rows appended while producers put again", func() bool {
		rows, _, err := counts()
		return err == nil && rows >= rows0+1000
	})
	before, ackedBefore := retries(), load.owed()
	cat.Stop(t)
	await.Cond(t, 60*time.Second, "hydrant retrying against the stopped REST catalog", func() bool { return retries() >= before+2 })
	ackedInOutage := load.owed() - ackedBefore
	cat.Start(t)
	stopProducers()
	if ackedInOutage == 0 {
		t.Fatal("no put was acknowledged while the REST catalog was down")
	}
	allAppended("after the REST catalog's outage")
	h.stop()

	ids, err := icebergRESTOrders(cat.URI, m)
	if err != nil {
		t.Fatal(err)
	}
	load.checkOnce(t, ids)
	pyIDs := pyicebergReadIDs(t, py, cat.URI, m, "sales.orders")
	slices.Sort(ids)
	if !slices.Equal(pyIDs, ids) {
		t.Fatalf("pyiceberg's RestCatalog reads %d rows, iceberg-go %d: the readers disagree", len(pyIDs), len(ids))
	}
	t.Logf("%d acknowledged orders, each appended once (%d rows, the same through pyiceberg); kill -9 done at %v; %d commit answers lost; %d orders acknowledged and %d retries in the catalog's outage; %v in all",
		load.owed(), len(ids), afterKill.Round(time.Second), cutter.cut.Load(), ackedInOutage, retries()-before, time.Since(began).Round(time.Second))
}

// answerCutter is a reverse proxy in front of the REST catalog that, when
// armed, passes the next commit to sales.orders through to the catalog and
// loses its answer once the catalog has applied it: it closes the
// connection unanswered, or answers 504 as a gateway that gave up would.
// The writer cannot tell the commit happened until it loads the table.
// While the catalog is down, the proxy closes connections unanswered.
type answerCutter struct {
	proxy  *httputil.ReverseProxy
	armed  atomic.Value // "" | "close" | "504"
	cut    atomic.Int32 // commits applied whose answer was lost
	commit string       // the commit's path
}

func newAnswerCutter(t *testing.T, catalogURI string) (*answerCutter, string) {
	t.Helper()
	target, err := url.Parse(catalogURI)
	if err != nil {
		t.Fatal(err)
	}
	c := &answerCutter{proxy: httputil.NewSingleHostReverseProxy(target), commit: "/v1/namespaces/sales/tables/orders"}
	c.armed.Store("")
	c.proxy.ErrorHandler = func(http.ResponseWriter, *http.Request, error) { panic(http.ErrAbortHandler) }
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv.URL
}

func (c *answerCutter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mode := c.armed.Load().(string)
	if mode == "" || r.Method != http.MethodPost || r.URL.Path != c.commit || !c.armed.CompareAndSwap(mode, "") {
		c.proxy.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	c.proxy.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK { // not applied (a conflict): the next commit, then
		c.armed.Store(mode)
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	c.cut.Add(1)
	if mode == "504" {
		http.Error(w, "upstream timed out", http.StatusGatewayTimeout)
		return
	}
	panic(http.ErrAbortHandler) // closes the connection without an answer
}

// pyicebergReadIDs reads a table's order_id column through pyiceberg
// (e2e/pyiceberg_read.py; a REST catalog for an http:// catalogURI).
func pyicebergReadIDs(t *testing.T, py, catalogURI string, m *minio.Server, ident string) []int64 {
	t.Helper()
	out, err := exec.Command(py, "pyiceberg_read.py", catalogURI, m.Endpoint, m.AccessKey, m.SecretKey, ident).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("pyiceberg_read.py: %v\n%s", err, stderr)
	}
	var res struct {
		Rows int
		IDs  []int64
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Rows != len(res.IDs) {
		t.Fatalf("pyiceberg_read.py printed %.200q: %v", out, err)
	}
	return res.IDs
}
