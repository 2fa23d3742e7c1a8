package e2e

// The Kinesis clients the reshard scenario runs through: the AWS CLI v2
// and boto3, behind one interface.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
)

// kinCaller makes one Kinesis call, op and params named as in the API
// reference (ListShards, ShardFilter), and returns its output as the AWS CLI
// prints it (JSON; empty for an operation without output), or the service's
// error.
type kinCaller interface {
	call(op string, params map[string]any) (json.RawMessage, *kinError)
}

type kinError struct {
	Code    string `json:"Code"`
	Message string `json:"Message"`
}

// kinCLI runs each call as `aws kinesis OP --member value ...`.
type kinCLI struct {
	t        *testing.T
	bin      string
	endpoint string
	env      []string
}

var kinCLIError = regexp.MustCompile(`An error occurred \((\w+)\) when calling the (\w+) operation(?: \(reached max retries: \d+\))?: (.*)`)

func (c *kinCLI) call(op string, params map[string]any) (json.RawMessage, *kinError) {
	c.t.Helper()
	args := []string{"kinesis", kinKebab(op)}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--"+kinKebab(k), kinCLIValue(params[k]))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--endpoint-url", c.endpoint, "--cli-binary-format", "raw-in-base64-out", "--output", "json"}, args...)...)
	cmd.Env = c.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	line := "aws " + strings.Join(args, " ")
	var exit *exec.ExitError
	switch {
	case err == nil:
		c.t.Logf("%s", line)
		return stdout.Bytes(), nil
	case !errors.As(err, &exit):
		c.t.Fatalf("%s: %v", line, err)
	}
	// A service's error exits 254 and names its code and the operation.
	m := kinCLIError.FindStringSubmatch(stderr.String())
	if exit.ExitCode() != 254 || m == nil || m[2] != op {
		c.t.Fatalf("%s: exit code %d, want 0 or 254 with the service's error for %s; stderr:\n%s", line, exit.ExitCode(), op, stderr.String())
	}
	c.t.Logf("%s: exit 254, %s", line, m[1])
	return nil, &kinError{Code: m[1], Message: m[3]}
}

// kinCLIValue is v as a CLI option's value: a structure in shorthand
// syntax (Type=AT_TIMESTAMP,Timestamp=...).
func kinCLIValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	case map[string]any:
		var parts []string
		for k, e := range v {
			parts = append(parts, k+"="+kinCLIValue(e))
		}
		sort.Strings(parts)
		return strings.Join(parts, ",")
	}
	panic(fmt.Sprintf("no CLI value for %T", v))
}

// kinKebab turns an API name into the CLI's: ShardToMerge → shard-to-merge,
// StreamARN → stream-arn.
func kinKebab(name string) string {
	var b strings.Builder
	rs := []rune(name)
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) {
			prev := rs[i-1]
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
				b.WriteByte('-')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// kinBoto3 sends each call to e2e/boto3_kinesis.py, one JSON line each way.
type kinBoto3 struct {
	t      *testing.T
	in     io.Writer
	out    *bufio.Reader
	stderr *bytes.Buffer
}

func startKinBoto3(t *testing.T, python, endpoint string, env []string) *kinBoto3 {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cmd := exec.CommandContext(ctx, python, filepath.Join(filepath.Dir(here), "boto3_kinesis.py"), endpoint)
	cmd.Env = env
	c := &kinBoto3{t: t, stderr: &bytes.Buffer{}}
	cmd.Stderr = c.stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		cmd.Wait()
		cancel()
	})
	c.in, c.out = in, bufio.NewReader(out)
	return c
}

func (c *kinBoto3) call(op string, params map[string]any) (json.RawMessage, *kinError) {
	c.t.Helper()
	method := strings.ReplaceAll(kinKebab(op), "-", "_")
	req, err := json.Marshal(map[string]any{"op": method, "params": params})
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.in.Write(append(req, '\n')); err != nil {
		c.t.Fatalf("boto3 %s: %v\n%s", method, err, c.stderr)
	}
	line, err := c.out.ReadBytes('\n')
	if err != nil {
		c.t.Fatalf("boto3 %s(%s): %v\n%s", method, req, err, c.stderr)
	}
	var res struct {
		Response json.RawMessage `json:"response"`
		Error    *kinError       `json:"error"`
	}
	if err := json.Unmarshal(line, &res); err != nil {
		c.t.Fatalf("boto3 %s: %q: %v", method, line, err)
	}
	if res.Error != nil {
		c.t.Logf("boto3 %s: %s", method, res.Error.Code)
		return nil, res.Error
	}
	c.t.Logf("boto3 %s", method)
	return res.Response, nil
}

// boto3Python returns a Python that imports boto3: HYDRANT_BOTO3_PYTHON,
// else the first of make's venv (.cache/venv) and python3 on PATH that has
// it. Without one the test fails; it is skipped only in -short mode
// outside CI.
func boto3Python(t *testing.T) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	candidates := []string{os.Getenv("HYDRANT_BOTO3_PYTHON"), filepath.Join(filepath.Dir(here), "..", ".cache", "venv", "bin", "python")}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		if p != "" && exec.Command(p, "-c", "import boto3").Run() == nil {
			return p
		}
	}
	msg := "no Python with boto3 (HYDRANT_BOTO3_PYTHON, .cache/venv or python3 on PATH): pip install boto3"
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skip(msg)
	}
	t.Fatal(msg)
	return ""
}
