package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

const deliveriesUsage = `Usage: hydrant deliveries list [flags]
       hydrant deliveries reset [flags] -to TIME NAME

list   the deliveries of a running Hydrant: the stream each reads, whether
       the config declares it, its start position and the name its batches
       carry.
reset  makes the delivery NAME deliver again what its stream keeps from
       TIME on: it is stopped (what it had read is delivered and
       checkpointed), each shard's checkpoint is set just before its first
       record at TIME, and it is started again. TIME is an RFC 3339 time
       (2026-01-02T15:04:05Z), a duration ago (15m, 2h), trim_horizon (the
       oldest record kept) or latest (skip to now). The replayed batches
       carry the name NAME.replayN, so destinations with ledgers (Postgres,
       Iceberg, HTTP request ids) load them again rather than skip them, and
       object destinations write new objects. Refused in a cluster, and
       when another reset of NAME came first (its replay count moved since
       this command read it): a reset whose answer was lost is safe to run
       again, after checking hydrant deliveries list.

Exit codes: 0 done, 1 the server refused or could not be reached, 2 usage.

Flags:
`

func deliveriesCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "reset") {
		fmt.Fprint(stderr, deliveriesUsage)
		return 2
	}
	verb := args[0]
	fs := flag.NewFlagSet("deliveries "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, deliveriesUsage); fs.PrintDefaults() }
	var c clientFlags
	c.register(fs, 0)
	to := fs.String("to", "", "reset: where to deliver again from: RFC 3339 time, duration ago (15m), trim_horizon or latest")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	base := strings.TrimRight(c.endpoint, "/")
	switch verb {
	case "list":
		if fs.NArg() != 0 {
			fs.Usage()
			return 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/deliveries", nil)
		if err != nil {
			fmt.Fprintln(stderr, "hydrant deliveries list:", err)
			return 2
		}
		if err := authenticate(req, c.apiKey, nil); err != nil {
			fmt.Fprintln(stderr, "hydrant deliveries list:", err)
			return 1
		}
		var out struct {
			Deliveries []deliveryListing `json:"deliveries"`
		}
		if err := doJSON(req, time.Minute, &out); err != nil {
			fmt.Fprintln(stderr, "hydrant deliveries list:", err)
			return 1
		}
		if c.output == "json" {
			json.NewEncoder(stdout).Encode(out)
			return 0
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DELIVERY\tSTREAM\tDECLARED\tSTART\tBATCH NAME")
		for _, d := range out.Deliveries {
			start := d.Start
			if start == "" {
				start = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", d.Name, d.Stream, d.Declared, start, d.BatchName)
		}
		tw.Flush()
		return 0
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "hydrant deliveries reset: want one delivery NAME (flags before it)")
		return 2
	}
	if _, err := parseResetTime(*to, time.Now()); err != nil {
		fmt.Fprintln(stderr, "hydrant deliveries reset:", err)
		return 2
	}
	name := fs.Arg(0)
	// The generation it is at now: a reset given it is refused if another
	// came first, so that running this again after a lost answer does not
	// replay twice.
	generation, err := deliveryGeneration(ctx, base, c.apiKey, name)
	if err != nil {
		fmt.Fprintln(stderr, "hydrant deliveries reset:", err)
		return 1
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/deliveries/"+url.PathEscape(name)+"/reset?to="+url.QueryEscape(*to)+
		"&generation="+strconv.Itoa(generation), nil)
	if err != nil {
		fmt.Fprintln(stderr, "hydrant deliveries reset:", err)
		return 2
	}
	if err := authenticate(req, c.apiKey, nil); err != nil {
		fmt.Fprintln(stderr, "hydrant deliveries reset:", err)
		return 1
	}
	var ans resetAnswer
	if err := doJSON(req, 5*time.Minute, &ans); err != nil {
		fmt.Fprintln(stderr, "hydrant deliveries reset:", err)
		return 1
	}
	if c.output == "json" {
		json.NewEncoder(stdout).Encode(ans)
		return 0
	}
	fmt.Fprintf(stdout, "%s: reset to %s on %d shards of %s; it delivers again from there, its batches named %s\n",
		ans.Delivery, ans.To, len(ans.Checkpoints), ans.Stream, ans.BatchName)
	return 0
}

// deliveryGeneration returns delivery's replay count from GET
// /v1/deliveries.
func deliveryGeneration(ctx context.Context, base, apiKey, delivery string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/deliveries", nil)
	if err != nil {
		return 0, err
	}
	if err := authenticate(req, apiKey, nil); err != nil {
		return 0, err
	}
	var out struct {
		Deliveries []deliveryListing `json:"deliveries"`
	}
	if err := doJSON(req, time.Minute, &out); err != nil {
		return 0, err
	}
	for _, d := range out.Deliveries {
		if d.Name == delivery {
			return d.Generation, nil
		}
	}
	return 0, fmt.Errorf("no delivery %s", delivery)
}

const reloadUsage = `Usage: hydrant reload [flags]

Makes a running Hydrant apply its config file as it is now (as SIGHUP does):
streams and deliveries added or removed, buffers, transforms, destinations
and quotas changed, without a restart. A config that fails validation is
refused whole and its report printed, exactly as hydrant validate prints it;
one with a change that needs a restart (server, storage, ...) is refused
whole too. Either way the running config stays.

Exit codes: 0 applied (or nothing changed), 1 refused for a change that needs
a restart, or the server could not be reached, 2 usage or an invalid config.

Flags:
`

func reloadCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, reloadUsage); fs.PrintDefaults() }
	var c clientFlags
	c.register(fs, 0)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.endpoint, "/")+"/v1/reload", nil)
	if err != nil {
		fmt.Fprintln(stderr, "hydrant reload:", err)
		return 2
	}
	if err := authenticate(req, c.apiKey, nil); err != nil {
		fmt.Fprintln(stderr, "hydrant reload:", err)
		return 1
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "hydrant reload:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		stderr.Write(body) // the validation report, or why it was refused
		if resp.StatusCode == http.StatusBadRequest {
			return 2
		}
		return 1
	}
	var res reloadResult
	if err := json.Unmarshal(body, &res); err != nil {
		fmt.Fprintf(stderr, "hydrant reload: HTTP %d: %s\n", resp.StatusCode, body)
		return 1
	}
	if res.Result == "" {
		// An error in the native API's format (auth).
		fmt.Fprintf(stderr, "hydrant reload: HTTP %d: %s\n", resp.StatusCode, body)
		return 1
	}
	if c.output == "json" {
		stdout.Write(body)
	} else {
		fmt.Fprintf(stdout, "reload: %s\n", res.Result)
		for _, ch := range res.Changes {
			fmt.Fprintf(stdout, "  %s\n", ch)
		}
	}
	if resp.StatusCode != http.StatusOK {
		stderr.Write([]byte(res.Report))
		return 1
	}
	return 0
}
