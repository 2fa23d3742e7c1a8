package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/analytics"
	"github.com/hydrant-dev/hydrant/config"
	"github.com/hydrant-dev/hydrant/shards"
)

// clickRecords are six page views: /a three times, /b twice, /c once.
var clickRecords = []string{`{"page":"/a","ms":10}`, `{"page":"/b","ms":20}`, `{"page":"/a","ms":30}`,
	`{"page":"/c","ms":40}`, `{"page":"/a","ms":50}`, `{"page":"/b","ms":60}`}

const clicksQuery = `SELECT page, count(*) AS views FROM stream('clicks', from => '1h') GROUP BY page ORDER BY views DESC`

const clicksAnswer = `{"columns":["page","views"],"rows":[{"page":"/a","views":3},{"page":"/b","views":2},{"page":"/c","views":1}],"truncated":false}` + "\n"

// sqlServer serves POST /v1/sql as serve does, over a store whose stream
// clicks holds clickRecords.
func sqlServer(t *testing.T, authCfg config.AuthConfig) string {
	t.Helper()
	ctx, dir := context.Background(), t.TempDir()
	store, err := shards.Open(ctx, shards.StoreConfig{DataDir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	st, err := store.CreateStream(ctx, shards.StreamSpec{Name: "clicks", Shards: 2,
		Limits: shards.Limits{BytesPerSecond: 1 << 30, RecordsPerSecond: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range clickRecords {
		if res := st.Put(ctx, time.Now(), []shards.Record{{PartitionKey: fmt.Sprint(i), Data: []byte(r)}}); res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
	authn, err := newAuth(authCfg)
	if err != nil {
		t.Fatal(err)
	}
	route, err := newSQLRoute(&config.Config{Storage: config.StorageConfig{DataDir: dir}}, store, authn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(withMetrics(http.NotFoundHandler(), http.NotFoundHandler(), http.NotFoundHandler(), route))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestSQLErrorStatus(t *testing.T) {
	tests := map[string]struct {
		err    error
		status int
		code   string
	}{
		"no engine":        {analytics.ErrNoEngine, 501, "NotImplemented"},
		"busy":             {analytics.ErrBusy, 429, "TooManyQueries"},
		"no such stream":   {fmt.Errorf("%w: %q", analytics.ErrStreamNotFound, "x"), 404, "ResourceNotFoundException"},
		"too many records": {fmt.Errorf("%w: more", analytics.ErrTooManyRecords), 400, "TooManyRecords"},
		"timeout":          {fmt.Errorf("%w: 1m", analytics.ErrQueryTimeout), 400, "QueryTimeout"},
		"a wrong query":    {&analytics.QueryError{Err: errors.New("Parser Error")}, 400, "InvalidQuery"},
		"the client left":  {context.Canceled, 503, "ServiceUnavailable"},
		"the store failed": {errors.New("read clicks shard 0: disk"), 500, "InternalFailure"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if status, code := sqlErrorStatus(tt.err); status != tt.status || code != tt.code {
				t.Errorf("%d %s, want %d %s", status, code, tt.status, tt.code)
			}
		})
	}
}

// The table keeps each value on its line and in its column.
func TestSQLTable(t *testing.T) {
	res := sqlResponse{Columns: []string{"s", "n", "j", "z"}, Truncated: true, Rows: []json.RawMessage{
		json.RawMessage(`{"s":"a\tb\nc","n":1.5,"j":{"k": [1, 2]},"z":null}`),
		json.RawMessage(`{"s":"","n":-2,"j":true,"z":"x"}`),
	}}
	var b bytes.Buffer
	if err := writeSQLTable(&b, res); err != nil {
		t.Fatal(err)
	}
	want := "s        n    j            z\n" +
		"a\\tb\\nc  1.5  {\"k\":[1,2]}  NULL\n" +
		"         -2   true         x\n" +
		"(2 rows) truncated: the result has more\n"
	if b.String() != want {
		t.Errorf("table\n%s want\n%s", b.String(), want)
	}
}
