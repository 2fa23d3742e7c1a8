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
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"
)

const redriveUsage = `Usage: hydrant redrive DELIVERY [flags]

Sends a running Hydrant's failed records of DELIVERY (its error output)
through the delivery's current transforms and destination again. Each record
lands once however often the redrive runs or is cut short: run it again after
a crash or an error to go on. Error objects are kept; each gets a marker,
<object>.redrive.json, and once done a later redrive skips it. Records that
fail again are written to the error output again, as new error objects.

-from and -to select error objects by their earliest record's arrival, as
RFC 3339 times (2026-12-01T00:00:00Z) or durations before now (2h).

The redrive runs on the node that answers, which reads the error output
in its own data dir (Postgres, Iceberg, and search or HTTP destinations
without a backup): in a cluster, redrive on each node. Error objects another
node is redriving are skipped (skipped_busy).

Exit codes: 0 every record redriven landed (or was dropped by a transform),
1 records failed again, error objects were busy on another node, or the
server refused or could not be reached, 2 usage.

Flags:
`

func redriveCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("redrive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, redriveUsage); fs.PrintDefaults() }
	var c clientFlags
	c.register(fs, 0)
	from := fs.String("from", "", "oldest error objects to redrive: RFC 3339 time or duration before now")
	to := fs.String("to", "", "error objects before this: RFC 3339 time or duration before now")
	typ := fs.String("type", "", "only this error output type (processing-failed, postgres-failed, …)")
	timeout := fs.Duration("timeout", time.Hour, "how long to wait for the redrive")
	var delivery string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		delivery, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if delivery == "" && fs.NArg() == 1 {
		delivery = fs.Arg(0)
	} else if fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	if delivery == "" || !slices.Contains([]string{"text", "json"}, c.output) {
		fs.Usage()
		return 2
	}
	req := redriveRequest{Type: *typ}
	now := time.Now()
	for _, f := range []struct {
		name, v string
		t       *time.Time
	}{{"from", *from, &req.From}, {"to", *to, &req.To}} {
		t, err := parseWhen(f.v, now)
		if err != nil {
			fmt.Fprintf(stderr, "hydrant redrive: -%s: %v\n", f.name, err)
			return 2
		}
		*f.t = t
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	body, _ := json.Marshal(req)
	u := strings.TrimRight(c.endpoint, "/") + "/v1/deliveries/" + url.PathEscape(delivery) + "/redrive"
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(stderr, "hydrant redrive:", err)
		return 1
	}
	hreq.Header.Set("Content-Type", "application/json")
	if err := authenticate(hreq, c.apiKey, body); err != nil {
		fmt.Fprintln(stderr, "hydrant redrive:", err)
		return 1
	}
	var res redriveResponse
	if err := doJSON(hreq, *timeout, &res); err != nil {
		fmt.Fprintln(stderr, "hydrant redrive:", err)
		return 1
	}
	if c.output == "json" {
		json.NewEncoder(stdout).Encode(res)
	} else {
		fmt.Fprintf(stdout, "%s on %s: %d error objects redriven (%d skipped, done before): %d records, %d delivered, %d dropped, %d failed again\n",
			delivery, res.Node, res.Objects, res.Skipped, res.Records, res.Delivered, res.Dropped, res.Failed)
	}
	if res.SkippedBusy > 0 {
		fmt.Fprintf(stderr, "hydrant redrive: %d error objects skipped: another node is redriving them; redrive again once it is done\n", res.SkippedBusy)
		return 1
	}
	if res.Failed > 0 {
		fmt.Fprintf(stderr, "hydrant redrive: %d records failed again and are in the error output again; fix the cause and redrive again\n", res.Failed)
		return 1
	}
	return 0
}

// parseWhen reads an RFC 3339 time or a duration before now; "" is the
// zero time (no bound).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2026-12-01T00:00:00Z) or a duration before now (2h)", s)
	}
	return now.Add(-d), nil
}
