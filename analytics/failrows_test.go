//go:build cgo

package analytics

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Rows the query fails on go to the error output as analytics-failed and
// the window's results are those of the other rows; when the query fails
// only on rows together, every row of the window goes there. The app
// goes on with the next window either way.
func TestAppRowsTheQueryFailsOn(t *testing.T) {
	for _, tc := range []struct {
		name, sql string
		tickers   []string
		want      []string // the output
		failed    []string // the records in the error output
	}{
		{name: "some rows", sql: `SELECT sum(CAST(ticker AS INTEGER)) AS total FROM source`,
			tickers: []string{"1", "2", "x", "3", "4", "y", "5"}, want: []string{`{"total":15}`},
			failed: []string{`{"ticker":"x","price":1}`, `{"ticker":"y","price":1}`}},
		{name: "no row alone", sql: `SELECT CAST(sum(price) AS TINYINT) AS total FROM source`,
			tickers: []string{"a", "b"}, want: nil, // 100 each, 200 together: out of TINYINT's range
			failed: []string{`{"ticker":"a","price":100}`, `{"ticker":"b","price":100}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAppEnv(t)
			errs := newErrorOutput(t, filepath.Join(e.dir, "errors"))
			m := metrics.NewAnalytics(prometheus.NewRegistry())
			s := mustSchema(t, Column{Name: "ticker", Type: "string"}, Column{Name: "price", Type: "int64"})
			a, err := NewApp(AppConfig{Name: "failing", Source: "trades", Output: "per-ticker", Schema: s, Windows: Windows{Size: 10 * time.Second},
				Errors: errs, Metrics: m, SQL: tc.sql}, e.store, e.engine, e.now, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.restore(e.ctx); err != nil {
				t.Fatal(err)
			}
			price := 1
			if strings.Contains(tc.sql, "TINYINT") {
				price = 100
			}
			for _, tk := range tc.tickers {
				e.put(tk, price)
			}
			e.clock = e.clock.Add(12 * time.Second)
			e.put("6", 1) // the next window
			if err := a.Step(e.ctx); err != nil {
				t.Fatal(err)
			}
			if out := e.output(); !slices.Equal(out, tc.want) {
				t.Errorf("output %v, want %v", out, tc.want)
			}
			got := readErrorDocs(t, filepath.Join(e.dir, "errors"))
			slices.Sort(got)
			if !slices.Equal(got, tc.failed) {
				t.Errorf("error output %v, want %v", got, tc.failed)
			}
			if n := testutil.ToFloat64(m.FailedRecords); int(n) != len(tc.failed) {
				t.Errorf("failed records counted %v, want %d", n, len(tc.failed))
			}
			// The app goes on: the next window runs.
			e.clock = e.clock.Add(12 * time.Second)
			if err := a.Step(e.ctx); err != nil {
				t.Fatal(err)
			}
			if want := at("2026-12-05T12:00:20Z"); !a.state.Emitted.Equal(want) {
				t.Errorf("emitted through %v, want %v", a.state.Emitted, want)
			}
		})
	}
}
