package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/destinations/destinationtest"
	"github.com/hydrant-dev/hydrant/internal/await"
)

// The recipes here are the README's shell blocks, read from README.md and
// run for real by bash against the real binary, with only the endpoint's
// address changed. What the README shows after a command — its comment lines
// and its inline "  # ..." comment — is checked against what the command
// prints, so the README and reality cannot drift apart:
//
//   - an output shown as complete JSON (`# {"event":"click"}`, `# 1000`)
//     must be printed exactly (compared as JSON);
//   - a fragment of JSON (`# {"ShardId": "shardId-000000000000", ...}`)
//     means every key it names exists in the printed JSON, and every
//     `"Key": value` it shows is the value of such a key somewhere in it
//     (a string value ending in "..." is a prefix);
//   - anything else is a sample line: every line printed must match it, with
//     its digit runs standing for any digits of the same length.

// recipeEndpoint is the address the README's commands use; the tests put
// their own in its place.
const recipeEndpoint = "http://127.0.0.1:4545"

const awsCLIInstall = "apt-get install -y awscli"

// The README's AWS CLI block (section "### AWS CLI"), command by command,
// with the real AWS CLI v2 against the real binary. The credentials the
// block exports are configured in server.auth.aws, so every request's SigV4
// signature is really checked. Each command must exit 0 and print what the
// README shows after it.
func TestRecipeAWSCLI(t *testing.T) {
	aws := awsCLIv2(t)
	cmds := recipeCommands(t, recipeBlock(t, "### AWS CLI", " kinesis "))
	keyID, secret := recipeCredentials(t, cmds)
	dir := t.TempDir()
	listen := freeAddr(t)
	h := startHydrant(t, dir, listen, awsCLIHydrantConfig(keyID, secret))
	env := awsCLIEnv(t, aws)

	start := time.Now()
	results := runRecipe(t, dir, env, listen, cmds)
	elapsed := time.Since(start)
	checked := 0
	for i, c := range cmds {
		r := results[i]
		if r.code != 0 {
			t.Errorf("README command exited %d:\n%s\nstderr:\n%s", r.code, c.text, r.stderr)
			continue
		}
		if c.shown == "" {
			if strings.Contains(c.text, "aws ") && !recipeIsAssignment(c.text) {
				t.Errorf("README shows no output for an AWS CLI command; show what it prints in a comment after it:\n%s", c.text)
			}
			continue
		}
		if err := recipeCheckShown(c.shown, r.stdout); err != nil {
			t.Errorf("README command:\n%s\nprints what the README does not show: %v\nstdout:\n%s", c.text, err, r.stdout)
			continue
		}
		checked++
	}
	if t.Failed() {
		return
	}
	t.Logf("%d README commands ran in %v; %d printed what the README shows", len(cmds), elapsed.Round(10*time.Millisecond), checked)

	// The section's notes on a server with server.auth.aws set: the block's
	// put-record with a wrong secret, an unconfigured key, and unsigned.
	section := recipeSection(t, "### AWS CLI")
	put := recipeCommandWith(t, cmds, "kinesis put-record ")
	setup := recipeAssignments(cmds)
	t.Run("wrong secret", func(t *testing.T) {
		m := regexp.MustCompile("the wrong secret, the call fails with exit code (\\d+):\\s*\n\\s*```\\s*\n((?s:.*?))\n\\s*```").FindStringSubmatch(section)
		if m == nil {
			t.Fatal("README's AWS CLI section no longer shows what a wrong secret gets (\"the wrong secret, the call fails with exit code N:\" and a code block)")
		}
		wantCode, _ := strconv.Atoi(m[1])
		r := runRecipe(t, dir, env, listen, slices.Concat(setup, []recipeCommand{{text: "AWS_SECRET_ACCESS_KEY=not-" + secret + " " + put.text}}))
		res := r[len(r)-1]
		if res.code != wantCode {
			t.Fatalf("exit code %d with a wrong secret, README says %d; stderr:\n%s", res.code, wantCode, res.stderr)
		}
		got := strings.Join(strings.Fields(res.stderr), " ")
		for part := range strings.SplitSeq(m[2], "...") {
			if part = strings.Join(strings.Fields(part), " "); part != "" && !strings.Contains(got, part) {
				t.Errorf("stderr with a wrong secret does not say what the README shows, %q:\n%s", part, res.stderr)
			}
		}
	})
	m := regexp.MustCompile("An access key that is not configured gets `(\\w+)`, and an unsigned request\\s+gets `(\\w+)`").FindStringSubmatch(section)
	if m == nil {
		t.Fatal("README's AWS CLI section no longer names the errors of an unconfigured access key and an unsigned request")
	}
	for _, tc := range []struct{ name, cmd, wantErr string }{
		{"unconfigured access key", "AWS_ACCESS_KEY_ID=not-" + keyID + " " + put.text, m[1]},
		{"unsigned", put.text + " --no-sign-request", m[2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runRecipe(t, dir, env, listen, slices.Concat(setup, []recipeCommand{{text: tc.cmd}}))
			res := r[len(r)-1]
			if res.code != 254 || !strings.Contains(res.stderr, "An error occurred ("+tc.wantErr+") when calling the PutRecord operation") {
				t.Fatalf("%s: exit code %d, want 254 (a service error) with %s; stderr:\n%s", tc.cmd, res.code, tc.wantErr, res.stderr)
			}
		})
	}
	h.stop()
}

// "With server.auth.aws empty, any values work (the AWS CLI also accepts
// --no-sign-request)": the AWS CLI block's put-record, with other
// credentials and unsigned, against a server without server.auth credentials.
func TestRecipeAWSCLIWithoutAuth(t *testing.T) {
	aws := awsCLIv2(t)
	section := strings.Join(strings.Fields(recipeSection(t, "## Use it from the AWS CLI / SDKs / Fluent Bit / Vector")), " ")
	if !strings.Contains(section, "with no `server.auth` credentials configured, any values work (the AWS CLI also accepts `--no-sign-request`)") {
		t.Fatal("README no longer says that without server.auth credentials any credentials work and --no-sign-request is accepted; update this test")
	}
	cmds := recipeCommands(t, recipeBlock(t, "### AWS CLI", " kinesis "))
	put := recipeCommandWith(t, cmds, "kinesis put-record ")
	dir := t.TempDir()
	listen := freeAddr(t)
	h := startHydrant(t, dir, listen, awsCLIHydrantConfig("", ""))
	env := awsCLIEnv(t, aws)
	for _, cmd := range []string{
		"AWS_ACCESS_KEY_ID=someone AWS_SECRET_ACCESS_KEY=something-else " + put.text,
		put.text + " --no-sign-request",
	} {
		r := runRecipe(t, dir, env, listen, slices.Concat(recipeAssignments(cmds), []recipeCommand{{text: cmd}}))
		res := r[len(r)-1]
		if res.code != 0 {
			t.Fatalf("%s: exit code %d without server.auth.aws; stderr:\n%s", cmd, res.code, res.stderr)
		}
		var out struct{ ShardId, SequenceNumber string }
		if err := json.Unmarshal([]byte(res.stdout), &out); err != nil || out.ShardId == "" || out.SequenceNumber == "" {
			t.Fatalf("%s: printed %q, want a ShardId and a SequenceNumber", cmd, res.stdout)
		}
	}
	h.stop()
}

// The README's Quickstart as a newcomer runs it: hydrant serve on
// examples/quickstart.yaml, the block that writes events.ndjson and POSTs it
// with curl, then — within the interval the README states — the block that
// finds the files under data/out and counts 1,000 lines in them.
func TestRecipeQuickstartCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if testing.Short() {
			t.Skip("curl is not installed")
		}
		t.Fatal("curl is not installed: apt-get install -y curl")
	}
	section := recipeSection(t, "## Quickstart")
	put := recipeCommands(t, recipeBlock(t, "## Quickstart", "curl "))
	files := recipeCommands(t, recipeBlock(t, "## Quickstart", "data/out"))
	m := regexp.MustCompile(`Within (\d+) seconds \(the quickstart's buffer\s+interval\)`).FindStringSubmatch(section)
	if m == nil {
		t.Fatal("README's Quickstart no longer says within how many seconds (the buffer interval) the records are in files")
	}
	interval, _ := strconv.Atoi(m[1])

	// The README's commands run in dir, as `make run` does in the checkout:
	// the data directory is ./data.
	dir := t.TempDir()
	listen := freeAddr(t)
	cfg, _ := filepath.Abs("../examples/quickstart.yaml")
	h := startHydrantConfig(t, dir, listen, cfg, "HYDRANT_LISTEN="+listen, "HYDRANT_DATA_DIR="+filepath.Join(dir, "data"))

	start := time.Now()
	results := runRecipe(t, dir, os.Environ(), listen, put)
	for i, c := range put {
		if results[i].code != 0 {
			t.Fatalf("README command exited %d:\n%s\nstderr:\n%s", results[i].code, c.text, results[i].stderr)
		}
	}
	// The block shows the start of the response (| head -c 200): none failed.
	if out := results[len(results)-1].stdout; !strings.HasPrefix(out, `{"failed_record_count":0,"records":[{"shard_id":"shardId-`) {
		t.Fatalf("the curl put printed %q, want the start of a response with no failed record", out)
	}
	// The server's count of records stored by put requests: all 1,000, in one request.
	if got := recipeMetricSum(t, h.url, "hydrant_ingest_incoming_records_total", `stream="quickstart"`, `api="native"`); got != 1000 {
		t.Fatalf("the curl put stored %v records, want 1000", got)
	}
	if got := recipeMetricSum(t, h.url, "hydrant_ingest_incoming_requests_total", `stream="quickstart"`, `api="native"`); got != 1 {
		t.Fatalf("%v put requests, want the 1 curl made", got)
	}

	out := filepath.Join(dir, "data", "out")
	await.Cond(t, time.Duration(interval)*time.Second+3*time.Second, "1,000 records in files under data/out", func() bool {
		return destinationtest.CountLines(destinationtest.DeliveredLines(t, out)) >= 1000
	})
	t.Logf("1,000 records in files %v after the README's put started (the README says within %ds)", time.Since(start).Round(10*time.Millisecond), interval)
	var got, want []string
	for _, lines := range destinationtest.DeliveredLines(t, out) {
		got = append(got, lines...)
	}
	for n := 1; n <= 1000; n++ {
		want = append(want, fmt.Sprintf(`{"event":"click","n":%d}`, n))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %d lines, not the 1,000 lines of events.ndjson once each", len(got))
	}

	results = runRecipe(t, dir, os.Environ(), listen, files)
	for i, c := range files {
		r := results[i]
		if r.code != 0 {
			t.Errorf("README command exited %d:\n%s\nstderr:\n%s", r.code, c.text, r.stderr)
			continue
		}
		if c.shown == "" {
			t.Errorf("README shows no output for:\n%s", c.text)
			continue
		}
		if err := recipeCheckShown(c.shown, r.stdout); err != nil {
			t.Errorf("README command:\n%s\nprints what the README does not show: %v\nstdout:\n%s", c.text, err, r.stdout)
		}
	}
	h.stop()
}

// awsCLIv2 returns an AWS CLI v2: Debian's /usr/bin/aws, or another aws on
// PATH that is v2 (a bare aws may be a v1 from pip or pyenv, which has no
// --cli-binary-format).
func awsCLIv2(t *testing.T) string {
	t.Helper()
	candidates := []string{"/usr/bin/aws"}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		candidates = append(candidates, filepath.Join(d, "aws"))
	}
	seen := map[string]bool{}
	for _, c := range candidates {
		if seen[c] {
			continue
		}
		seen[c] = true
		if _, err := os.Stat(c); err != nil {
			continue
		}
		out, err := exec.Command(c, "--version").CombinedOutput()
		if err == nil && strings.HasPrefix(string(out), "aws-cli/2") {
			return c
		}
	}
	msg := "AWS CLI v2 is not installed (Debian's /usr/bin/aws): run " + awsCLIInstall
	if testing.Short() {
		t.Skip(msg)
	}
	t.Fatal(msg)
	return ""
}

// awsCLIEnv is the environment the README's AWS CLI commands run in: the
// test's own, without any AWS_ setting of this machine's, with an empty AWS
// configuration, no pager, and `aws` being the CLI v2 at path.
func awsCLIEnv(t *testing.T, path string) []string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(path, filepath.Join(bin, "aws")); err != nil {
		t.Fatal(err)
	}
	config, creds := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	for _, f := range []string{config, creds} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	return append(env,
		"PATH="+bin+string(filepath.ListSeparator)+os.Getenv("PATH"),
		"AWS_CONFIG_FILE="+config, "AWS_SHARED_CREDENTIALS_FILE="+creds, "AWS_PAGER=")
}

// awsCLIHydrantConfig provides what the AWS CLI block names: the Kinesis
// stream clicks (two shards: list-shards shows two) and the DirectPut
// delivery events (prefix events/), and — with a key — that key pair as the
// only AWS credentials.
func awsCLIHydrantConfig(keyID, secret string) string {
	auth := ""
	if keyID != "" {
		auth = fmt.Sprintf("\n  auth:\n    aws: [{access_key_id: %q, secret_access_key: %q}]", keyID, secret)
	}
	return `
server:
  listen: "{{LISTEN}}"` + auth + `
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: clicks
    shards: 2
deliveries:
  - name: events
    buffer: {size: 1MiB, interval: 1s}
    destination:
      file: {dir: "{{DIR}}/out", prefix: "events/"}
`
}

// recipeCredentials returns the access key pair the block exports.
func recipeCredentials(t *testing.T, cmds []recipeCommand) (keyID, secret string) {
	t.Helper()
	for _, c := range cmds {
		if !recipeIsAssignment(c.text) {
			continue
		}
		if m := regexp.MustCompile(`\bAWS_ACCESS_KEY_ID=(\S+)`).FindStringSubmatch(c.text); m != nil {
			keyID = m[1]
		}
		if m := regexp.MustCompile(`\bAWS_SECRET_ACCESS_KEY=(\S+)`).FindStringSubmatch(c.text); m != nil {
			secret = m[1]
		}
	}
	if keyID == "" || secret == "" {
		t.Fatal("README's AWS CLI block no longer exports AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	return keyID, secret
}

// recipeSection returns README.md from the line heading (such as
// "### AWS CLI") up to the next heading of the same or a higher level.
func recipeSection(t *testing.T, heading string) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", heading)
	}
	level := strings.Repeat("#", strings.Index(heading, " "))
	var b strings.Builder
	fenced := false
	for line := range strings.Lines(rest) {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
		}
		if !fenced && strings.HasPrefix(line, "#") {
			if hashes, _, _ := strings.Cut(line, " "); strings.Trim(hashes, "#") == "" && len(hashes) <= len(level) {
				break
			}
		}
		b.WriteString(line)
	}
	return b.String()
}

// recipeBlock returns the first shell code block (```sh) of the README's
// section heading that contains substr.
func recipeBlock(t *testing.T, heading, substr string) string {
	t.Helper()
	section := recipeSection(t, heading)
	for _, part := range strings.Split(section, "```sh\n")[1:] {
		block, _, ok := strings.Cut(part, "```")
		if ok && strings.Contains(block, substr) {
			return block
		}
	}
	t.Fatalf("README's section %q has no ```sh block containing %q", heading, substr)
	return ""
}

// recipeCommand is one command of a README block.
type recipeCommand struct {
	text  string // as in the README, continuation lines included, inline comment removed
	shown string // what the README shows it prints: its inline comment and the comment lines after it
}

var recipeInlineComment = regexp.MustCompile(`^(.*?\S)\s{2,}#\s?(.*)$`)

// recipeCommands splits a README shell block into commands. A line ending
// in \ continues on the next; a comment ("  # ...") after a command, or
// comment lines after it, are what it prints.
func recipeCommands(t *testing.T, block string) []recipeCommand {
	t.Helper()
	var cmds []recipeCommand
	continued := false
	for line := range strings.Lines(block) {
		line = strings.TrimRight(line, "\n")
		switch {
		case continued:
			cmds[len(cmds)-1].text += "\n" + line
		case strings.HasPrefix(strings.TrimSpace(line), "#"):
			if len(cmds) == 0 {
				t.Fatalf("README block starts with a comment, not a command:\n%s", block)
			}
			c := &cmds[len(cmds)-1]
			c.shown += strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#")) + "\n"
			continue
		case strings.TrimSpace(line) == "":
			continue
		default:
			cmds = append(cmds, recipeCommand{text: line})
		}
		continued = strings.HasSuffix(line, `\`)
		if !continued {
			c := &cmds[len(cmds)-1]
			lines := strings.Split(c.text, "\n")
			if m := recipeInlineComment.FindStringSubmatch(lines[len(lines)-1]); m != nil {
				lines[len(lines)-1] = m[1]
				c.text = strings.Join(lines, "\n")
				c.shown = m[2] + "\n"
			}
		}
	}
	if len(cmds) == 0 {
		t.Fatalf("README block has no commands:\n%s", block)
	}
	return cmds
}

func recipeIsAssignment(cmd string) bool {
	return regexp.MustCompile(`^(export )?[A-Za-z_]\w*=`).MatchString(cmd)
}

// assignments returns the block's commands that only set variables from
// literals (export ..., H="..."): the setup a single command needs.
func recipeAssignments(cmds []recipeCommand) []recipeCommand {
	var out []recipeCommand
	for _, c := range cmds {
		if recipeIsAssignment(c.text) && !strings.Contains(c.text, "$(") {
			out = append(out, recipeCommand{text: c.text})
		}
	}
	return out
}

func recipeCommandWith(t *testing.T, cmds []recipeCommand, substr string) recipeCommand {
	t.Helper()
	for _, c := range cmds {
		if strings.Contains(c.text, substr) {
			return c
		}
	}
	t.Fatalf("README block has no command with %q", substr)
	return recipeCommand{}
}

type recipeResult struct {
	stdout, stderr string
	code           int
}

// runRecipe runs cmds, with the README's endpoint replaced by listen, one
// after another in one bash in dir (so variables carry over, as when a user
// pastes the block), and returns each one's output and exit code.
func runRecipe(t *testing.T, dir string, env []string, listen string, cmds []recipeCommand) []recipeResult {
	t.Helper()
	outDir, err := os.MkdirTemp(dir, "recipe-")
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	for i, c := range cmds {
		text := strings.ReplaceAll(c.text, recipeEndpoint, "http://"+listen)
		fmt.Fprintf(&script, "{ %s\n} >%q 2>%q; echo $? >%q\n", text,
			filepath.Join(outDir, fmt.Sprint(i, ".out")), filepath.Join(outDir, fmt.Sprint(i, ".err")), filepath.Join(outDir, fmt.Sprint(i, ".rc")))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bash running the README's commands: %v\n%s\nscript:\n%s", err, out, script.String())
	}
	results := make([]recipeResult, len(cmds))
	for i := range cmds {
		read := func(ext string) string {
			b, err := os.ReadFile(filepath.Join(outDir, fmt.Sprint(i, ext)))
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		results[i].stdout, results[i].stderr = read(".out"), read(".err")
		if results[i].code, err = strconv.Atoi(strings.TrimSpace(read(".rc"))); err != nil {
			t.Fatal(err)
		}
	}
	return results
}

var (
	recipeShownKey  = regexp.MustCompile(`"(\w+)":`)
	recipeShownPair = regexp.MustCompile(`"(\w+)":\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)`)
	recipeDigitRun  = regexp.MustCompile(`\d+`)
)

// recipeCheckShown reports how stdout differs from what the README shows (see the
// top of this file).
func recipeCheckShown(shown, stdout string) error {
	var want any
	if json.Unmarshal([]byte(shown), &want) == nil {
		var got any
		if err := json.Unmarshal([]byte(stdout), &got); err != nil || !reflect.DeepEqual(got, want) {
			return fmt.Errorf("README shows exactly %s", strings.TrimSpace(shown))
		}
		return nil
	}
	var got any
	if json.Unmarshal([]byte(stdout), &got) == nil {
		keys, values := map[string]bool{}, map[string][]any{}
		recipeCollectJSON(got, keys, values)
		for _, m := range recipeShownKey.FindAllStringSubmatch(shown, -1) {
			if !keys[m[1]] {
				return fmt.Errorf("no key %q", m[1])
			}
		}
		for _, m := range recipeShownPair.FindAllStringSubmatch(shown, -1) {
			var v any
			if err := json.Unmarshal([]byte(m[2]), &v); err != nil {
				return fmt.Errorf("README's %s: %v", m[0], err)
			}
			prefix, isPrefix := strings.CutSuffix(fmt.Sprint(v), "...")
			if !slices.ContainsFunc(values[m[1]], func(g any) bool {
				if s, ok := g.(string); ok && isPrefix {
					return strings.HasPrefix(s, prefix)
				}
				return reflect.DeepEqual(g, v)
			}) {
				return fmt.Errorf("no %s (%q has %v)", m[0], m[1], values[m[1]])
			}
		}
		return nil
	}
	pattern := regexp.MustCompile("^" + recipeDigitRun.ReplaceAllStringFunc(regexp.QuoteMeta(strings.TrimSpace(shown)), func(d string) string {
		return fmt.Sprintf(`\d{%d}`, len(d))
	}) + "$")
	lines := strings.Fields(stdout)
	if len(lines) == 0 {
		return fmt.Errorf("nothing printed; README shows %s", strings.TrimSpace(shown))
	}
	for _, l := range lines {
		if !pattern.MatchString(l) {
			return fmt.Errorf("%q is not like the README's %s", l, strings.TrimSpace(shown))
		}
	}
	return nil
}

// recipeCollectJSON records every key of v's objects, and the scalar values each
// key has.
func recipeCollectJSON(v any, keys map[string]bool, values map[string][]any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			keys[k] = true
			switch e.(type) {
			case map[string]any, []any:
			default:
				values[k] = append(values[k], e)
			}
			recipeCollectJSON(e, keys, values)
		}
	case []any:
		for _, e := range v {
			recipeCollectJSON(e, keys, values)
		}
	}
}

// recipeMetricSum returns the sum of a metric's samples that have all labels.
func recipeMetricSum(t *testing.T, url, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		if slices.ContainsFunc(labels, func(l string) bool { return !strings.Contains(line, l) }) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}
