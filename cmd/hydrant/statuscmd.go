package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

const streamsUsage = `Usage: hydrant streams [flags]
       hydrant streams reshard [flags] STREAM   (see hydrant streams reshard -h)

Lists the streams of a running Hydrant: their shards, the records each has
stored, its write rate over -interval, and what it keeps.

Exit codes: 0 done, 1 the server refused or could not be reached, 2 usage.

Flags:
`

const statusUsage = `Usage: hydrant status [flags]

Shows where each delivery of a running Hydrant stands: records stored and not
yet delivered (lag) and how old the oldest of them is, its last flush, and
what went to its error output. -watch refreshes it every -interval.
On a cluster, any node answers for all: each delivery's counts are summed
over the nodes, with each node's part and the nodes not heard from lately
marked stale.

Exit codes: 0 done, 1 the server refused or could not be reached, 2 usage.

Flags:
`

// clientFlags are the flags of the commands that ask a running Hydrant.
type clientFlags struct {
	endpoint, apiKey, output string
	interval                 time.Duration
}

func (c *clientFlags) register(fs *flag.FlagSet, interval time.Duration) {
	fs.StringVar(&c.endpoint, "endpoint", envOr("HYDRANT_ENDPOINT", "http://127.0.0.1:4545"), "Hydrant's address (env HYDRANT_ENDPOINT)")
	fs.StringVar(&c.apiKey, "api-key", os.Getenv("HYDRANT_API_KEY"), "API key that may read every stream (env HYDRANT_API_KEY); without one, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY sign the request (SigV4)")
	fs.StringVar(&c.output, "output", "text", "text (a table) | json")
	fs.DurationVar(&c.interval, "interval", interval, "")
}

// fetchStatus asks GET /v1/status.
func (c *clientFlags) fetchStatus(ctx context.Context) (statusReport, error) {
	var rep statusReport
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.endpoint, "/")+"/v1/status", nil)
	if err != nil {
		return rep, err
	}
	if err := authenticate(req, c.apiKey, nil); err != nil {
		return rep, err
	}
	return rep, doJSON(req, time.Minute, &rep)
}

// doJSON sends an authenticated request and decodes its JSON answer into
// out; an answer other than 200 is an error with the native API's error
// code and message.
func doJSON(req *http.Request, timeout time.Duration, out any) error {
	resp, err := (&http.Client{Timeout: timeout}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string }
		}
		json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
		return fmt.Errorf("HTTP %d: %s: %s", resp.StatusCode, e.Error.Code, e.Error.Message)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// shardRate is a stream shard with its write rate, as `hydrant streams`
// prints it.
type shardRate struct {
	Stream           string   `json:"stream"`
	DirectPut        bool     `json:"direct_put,omitempty"` // a DirectPut delivery's stream
	ShardID          string   `json:"shard_id"`
	State            string   `json:"state"` // open | closed
	Parents          []string `json:"parent_shard_ids,omitempty"`
	RecordsTotal     int64    `json:"records_total"`
	RecordsPerSecond float64  `json:"records_per_second"`
	Messages         uint64   `json:"messages"`
	Bytes            uint64   `json:"bytes"`
}

func streamsCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "reshard" {
		return reshardCmd(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("streams", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, streamsUsage); fs.PrintDefaults() }
	var c clientFlags
	c.register(fs, time.Second)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 || !slices.Contains([]string{"text", "json"}, c.output) || c.interval <= 0 {
		fs.Usage()
		return 2
	}
	ctx := context.Background()
	before, err := c.fetchStatus(ctx)
	if err == nil {
		time.Sleep(c.interval) // the rate is measured over the interval
		var after statusReport
		if after, err = c.fetchStatus(ctx); err == nil {
			rates := shardRates(before, after)
			if c.output == "json" {
				err = json.NewEncoder(stdout).Encode(rates)
			} else {
				writeStreamsTable(stdout, rates)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "hydrant streams:", err)
		return 1
	}
	return 0
}

// shardRates pairs two reports' shards and computes each one's rate.
func shardRates(before, after statusReport) []shardRate {
	prev := map[string]int64{}
	for _, s := range before.Streams {
		for _, sh := range s.Shards {
			prev[s.Name+"/"+sh.ShardID] = sh.RecordsTotal
		}
	}
	secs := after.Time.Sub(before.Time).Seconds()
	out := []shardRate{}
	for _, s := range after.Streams {
		for _, sh := range s.Shards {
			r := shardRate{Stream: s.Name, DirectPut: s.DirectPut, ShardID: sh.ShardID, State: sh.State, Parents: sh.Parents, RecordsTotal: sh.RecordsTotal,
				Messages: sh.Messages, Bytes: sh.Bytes}
			if p, ok := prev[s.Name+"/"+sh.ShardID]; ok && secs > 0 && p >= 0 && sh.RecordsTotal >= 0 {
				r.RecordsPerSecond = float64(sh.RecordsTotal-p) / secs
			}
			out = append(out, r)
		}
	}
	return out
}

func writeStreamsTable(w io.Writer, rates []shardRate) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tSHARD\tSTATE\tPARENTS\tRECORDS\tRECORDS/S\tMESSAGES\tKEPT")
	for _, r := range rates {
		parents := strings.Join(r.Parents, ",")
		if parents == "" {
			parents = "-"
		}
		stream := r.Stream
		if r.DirectPut {
			stream += " (DirectPut)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.1f\t%d\t%s\n", stream, r.ShardID, r.State, parents, r.RecordsTotal,
			r.RecordsPerSecond, r.Messages, humanBytes(int64(r.Bytes)))
	}
	tw.Flush()
}

func statusCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, statusUsage); fs.PrintDefaults() }
	var c clientFlags
	c.register(fs, 2*time.Second)
	watch := fs.Bool("watch", false, "refresh every -interval until interrupted")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 || !slices.Contains([]string{"text", "json"}, c.output) || c.interval <= 0 {
		fs.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	for {
		rep, err := c.fetchStatus(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return 0
			}
			fmt.Fprintln(stderr, "hydrant status:", err)
			return 1
		}
		if *watch && c.output == "text" {
			fmt.Fprint(stdout, "\033[H\033[2J") // clear the terminal
		}
		if c.output == "json" {
			json.NewEncoder(stdout).Encode(rep)
		} else {
			writeStatusTable(stdout, rep)
		}
		if !*watch {
			return 0
		}
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(c.interval):
		}
	}
}

func writeStatusTable(w io.Writer, rep statusReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DELIVERY\tSOURCE\tLAG RECORDS\tLAG\tLAST FLUSH\tDELIVERED\tERROR OUTPUT\tLAST ERROR")
	for _, d := range rep.Deliveries {
		lastFlush := "never"
		if d.LastFlush != nil {
			lastFlush = rep.Time.Sub(*d.LastFlush).Round(time.Second).String() + " ago"
		}
		lastErr := "-"
		if d.LastError != "" {
			lastErr = d.LastError
			if len(lastErr) > 60 {
				lastErr = lastErr[:57] + "..."
			}
		}
		lagRecords := fmt.Sprint(d.LagRecords)
		if d.LagRecords < 0 {
			lagRecords = "?"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", d.Name, d.Source, lagRecords,
			(time.Duration(d.LagSeconds * float64(time.Second))).Round(time.Second), lastFlush,
			d.DeliveredRecords, d.ErrorOutputRecords, lastErr)
	}
	tw.Flush()
	if len(rep.Analytics) > 0 {
		writeAnalyticsTable(w, rep)
	}
	if c := rep.Cluster; c != nil {
		writeClusterTables(w, rep)
	}
	if rep.Store.DiskBudget > 0 {
		fmt.Fprintf(w, "\nshard log: %s of its %s disk budget\n", humanBytes(rep.Store.Bytes), humanBytes(rep.Store.DiskBudget))
	} else {
		fmt.Fprintf(w, "\nshard log: %s\n", humanBytes(rep.Store.Bytes))
	}
}

// writeAnalyticsTable prints where each SQL application stands.
func writeAnalyticsTable(w io.Writer, rep statusReport) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "APPLICATION\tSOURCE\tOUTPUT\tRUNS ON\tEMITTED THROUGH\tLAG\tOPEN WINDOWS\tROWS\tLAST ERROR")
	for _, a := range rep.Analytics {
		runsOn := "this node"
		switch {
		case rep.Cluster != nil && a.Owner == "":
			runsOn = "nobody yet"
		case rep.Cluster != nil && !a.Running:
			runsOn = a.Owner
		case rep.Cluster == nil && !a.Running:
			runsOn = "stopped"
		}
		through, lag := "none yet", "-"
		if a.EmittedThrough != nil {
			through = a.EmittedThrough.Format(time.RFC3339)
			lag = (time.Duration(a.LagSeconds * float64(time.Second))).Round(time.Second).String()
		}
		lastErr := "-"
		if a.LastError != "" {
			lastErr = a.LastError
			if len(lastErr) > 60 {
				lastErr = lastErr[:57] + "..."
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", a.Name, a.Source, a.Output, runsOn, through, lag, a.OpenWindows, a.BufferedRows, lastErr)
	}
	tw.Flush()
}

// writeClusterTables prints the cluster's nodes and who delivers each
// shard.
func writeClusterTables(w io.Writer, rep statusReport) {
	c := rep.Cluster
	fmt.Fprintf(w, "\ncluster: %d nodes, lease TTL %s; this is %s (%s)\n", len(c.Nodes),
		time.Duration(c.LeaseTTLSeconds*float64(time.Second)), c.Node, c.Instance)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tINSTANCE\tLISTEN\tUP\tLEASES\tLAST HEARTBEAT")
	for _, n := range c.Nodes {
		beat := "-"
		if n.LastHeartbeat != nil {
			beat = ago(rep.Time, *n.LastHeartbeat)
		}
		if n.Stale {
			beat += " (stale)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", n.Name, n.Instance, n.Listen, rep.Time.Sub(n.Started).Round(time.Second), n.Leases, beat)
	}
	tw.Flush()
	writeDeliveryNodes(w, rep)
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DELIVERY\tSHARD\tOWNER\tCHECKPOINT\tLAG RECORDS")
	for _, d := range rep.Deliveries {
		for _, s := range d.Shards {
			owner := "-"
			if s.Owner != nil && *s.Owner != "" {
				owner = *s.Owner
			}
			lag := fmt.Sprint(s.LagRecords)
			if s.LagRecords < 0 {
				lag = "?"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, s.ShardID, owner, s.Checkpoint, lag)
		}
	}
	tw.Flush()
}

// writeDeliveryNodes prints what each node has done of each delivery since
// it started: the DELIVERED and ERROR OUTPUT of the first table are these
// summed.
func writeDeliveryNodes(w io.Writer, rep statusReport) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DELIVERY\tNODE\tDELIVERED\tERROR OUTPUT\tLAST FLUSH\tREPORTED\tLAST ERROR")
	for _, d := range rep.Deliveries {
		for _, n := range d.Nodes {
			lastFlush, lastErr := "never", "-"
			if n.LastFlush != nil {
				lastFlush = ago(rep.Time, *n.LastFlush)
			}
			if n.LastError != "" {
				lastErr = n.LastError
				if len(lastErr) > 60 {
					lastErr = lastErr[:57] + "..."
				}
			}
			reported := ago(rep.Time, n.ReportedAt)
			if n.Stale {
				reported += " (stale)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", d.Name, n.Node, n.DeliveredRecords, n.ErrorOutputRecords, lastFlush,
				reported, lastErr)
		}
	}
	tw.Flush()
}

// ago says how long before now at was, to the second.
func ago(now, at time.Time) string { return now.Sub(at).Round(time.Second).String() + " ago" }

const healthUsage = `Usage: hydrant health [flags]

Asks a running Hydrant whether it is ready (GET /readyz; -live: GET /healthz,
only whether the process answers): for container health checks, where the
image has no curl.

Exit codes: 0 ready (or alive), 1 not, 2 usage.

Flags:
`

func healthCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, healthUsage); fs.PrintDefaults() }
	endpoint := fs.String("endpoint", envOr("HYDRANT_ENDPOINT", "http://127.0.0.1:4545"), "Hydrant's address (env HYDRANT_ENDPOINT)")
	live := fs.Bool("live", false, "ask only whether the process answers (/healthz)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	path := "/readyz"
	if *live {
		path = "/healthz"
	}
	resp, err := (&http.Client{Timeout: *timeout}).Get(strings.TrimRight(*endpoint, "/") + path)
	if err != nil {
		fmt.Fprintln(stderr, "hydrant health:", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "hydrant health: %s answered %d\n", path, resp.StatusCode)
		return 1
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}
