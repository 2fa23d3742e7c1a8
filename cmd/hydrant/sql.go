package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

const sqlUsage = `Usage: hydrant sql [flags] 'SELECT …'
       hydrant sql [flags] -        (the SQL on stdin)

Runs SQL over the records a running Hydrant keeps (POST /v1/sql), for
debugging and backfills, on an embedded DuckDB that reads no file and reaches
no network. A stream's records are the table function

  stream('NAME', from => '1h', to => '15m')

from and to are a duration before now (90s, 15m, 1h30m, 2d) or a time (RFC
3339); without them, from the oldest record kept to now. Its columns: one per
top-level key of the records (JSON; named and typed from a sample of them),
then data (the record as text), approximate_arrival_time, partition_key,
sequence_number and shard_id. For example:

  hydrant sql "SELECT ticker, count(*) FROM stream('trades', from => '1h') GROUP BY ALL"

A query reads at most -max-records records (the server's default: 1,000,000)
and answers at most 10,000 rows.

Exit codes: 0 done, 1 the server refused or could not be reached, 2 usage.

Flags:
`

func sqlCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sql", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, sqlUsage); fs.PrintDefaults() }
	var c clientFlags
	shared := flag.NewFlagSet("", flag.ContinueOnError)
	c.register(shared, 0)
	for _, name := range []string{"endpoint", "api-key"} {
		f := shared.Lookup(name)
		fs.Var(f.Value, f.Name, f.Usage)
	}
	fs.StringVar(&c.output, "output", "table", "table | json (the server's answer) | jsonl (a row per line)")
	maxRecords := fs.Int("max-records", 0, "the most records the query may read (0: the server's default)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if c.output == "text" {
		c.output = "table"
	}
	if fs.NArg() == 0 || !slices.Contains([]string{"table", "json", "jsonl"}, c.output) || *maxRecords < 0 {
		fs.Usage()
		return 2
	}
	query := strings.Join(fs.Args(), " ")
	if query == "-" {
		b, err := io.ReadAll(io.LimitReader(stdin, maxSQLBody+1))
		if err != nil {
			fmt.Fprintln(stderr, "hydrant sql: reading the SQL from stdin:", err)
			return 2
		}
		query = string(b)
	}
	if strings.TrimSpace(query) == "" {
		fmt.Fprintln(stderr, "hydrant sql: no SQL")
		return 2
	}
	res, err := c.postSQL(context.Background(), sqlRequest{SQL: query, MaxRecords: *maxRecords})
	if err == nil {
		switch c.output {
		case "json":
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			err = enc.Encode(res)
		case "jsonl":
			for _, r := range res.Rows {
				if _, err = fmt.Fprintf(stdout, "%s\n", r); err != nil {
					break
				}
			}
			if res.Truncated {
				fmt.Fprintf(stderr, "hydrant sql: truncated: only the first %d rows came back\n", len(res.Rows))
			}
		default:
			err = writeSQLTable(stdout, res)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "hydrant sql:", err)
		return 1
	}
	return 0
}

// postSQL asks POST /v1/sql.
func (c *clientFlags) postSQL(ctx context.Context, req sqlRequest) (sqlResponse, error) {
	var res sqlResponse
	body, err := json.Marshal(req)
	if err != nil {
		return res, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.endpoint, "/")+"/v1/sql", bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if err := authenticate(hreq, c.apiKey, body); err != nil {
		return res, err
	}
	return res, doJSON(hreq, 5*time.Minute, &res)
}

// writeSQLTable writes a result as a table: a column per result column,
// NULL for null, strings as they are (tabs and newlines escaped), other
// values as JSON; then how many rows.
func writeSQLTable(w io.Writer, res sqlResponse) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(res.Columns, "\t"))
	cells := make([]string, len(res.Columns))
	for _, r := range res.Rows {
		var row map[string]json.RawMessage
		if err := json.Unmarshal(r, &row); err != nil {
			return fmt.Errorf("a row is not a JSON object: %w", err)
		}
		for i, c := range res.Columns {
			cells[i] = sqlCell(row[c])
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	n := fmt.Sprintf("(%d rows)", len(res.Rows))
	if len(res.Rows) == 1 {
		n = "(1 row)"
	}
	if res.Truncated {
		n += " truncated: the result has more"
	}
	_, err := fmt.Fprintln(w, n)
	return err
}

// cellEscapes keep a value on its line and in its column.
var cellEscapes = strings.NewReplacer("\t", `\t`, "\n", `\n`, "\r", `\r`)

func sqlCell(v json.RawMessage) string {
	var s string
	switch {
	case len(v) == 0 || string(v) == "null":
		return "NULL"
	case v[0] == '"' && json.Unmarshal(v, &s) == nil:
		return cellEscapes.Replace(s)
	}
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return cellEscapes.Replace(string(v))
	}
	return b.String()
}
