// Package compose holds docker-compose.yml, which runs Hydrant next to
// MinIO, Postgres and Elasticsearch, and this test of it. No Docker engine
// runs the tests, so the test reads the compose file the way docker compose
// would — interpolated with compose/.env — and checks what can be checked
// without one: the files it names exist, every variable has a value, every
// dependency is a service with a healthcheck, the published port is the one
// Hydrant listens on, hydrant.yaml passes the real `hydrant validate` with the
// hydrant service's environment, and the destinations it names are the
// services Hydrant waits for. TestChecksCatchBreakage breaks each of these
// on purpose and expects the checks to say so.
package compose

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hydrant-dev/hydrant/internal/testbin"

	"gopkg.in/yaml.v3"
)

const (
	composeName    = "docker-compose.yml"
	dotenvName     = ".env"
	hydrantService = "hydrant"
)

func TestCompose(t *testing.T) {
	p := loadProject(t)
	if problems := p.problems(t); len(problems) > 0 {
		t.Fatalf("compose/%s has %d problem(s):\n  %s", composeName, len(problems), strings.Join(problems, "\n  "))
	}
}

// TestChecksCatchBreakage breaks the project in one way at a time and
// expects the checks to report it: a check that cannot fail proves nothing.
func TestChecksCatchBreakage(t *testing.T) {
	replace := func(b *[]byte, old, new string) func(t *testing.T) {
		return func(t *testing.T) {
			t.Helper()
			if !bytes.Contains(*b, []byte(old)) {
				t.Fatalf("cannot break the project: %q is not in the file any more; update this case", old)
			}
			*b = bytes.Replace(*b, []byte(old), []byte(new), 1)
		}
	}
	cases := []struct {
		name    string
		breakIt func(t *testing.T, p *project)
		want    string
	}{
		{"build context missing", func(t *testing.T, p *project) { p.svc(t, hydrantService).Build.Context = "../no-such-dir" }, "build.context"},
		{"Dockerfile missing", func(t *testing.T, p *project) { p.svc(t, hydrantService).Build.Dockerfile = "No.Dockerfile" }, "build.dockerfile"},
		{"bind-mounted file missing", func(t *testing.T, p *project) { p.svc(t, hydrantService).Volumes[0].Source = "./no-such.yaml" }, "no-such.yaml does not exist"},
		{"env_file missing", func(t *testing.T, p *project) {
			s := p.svc(t, hydrantService)
			s.EnvFile = append(s.EnvFile, envFile{Path: "no-such.env", Required: true})
		}, "env_file no-such.env"},
		{"variable neither defaulted nor in .env", func(t *testing.T, p *project) {
			replace(&p.dotenvText, "POSTGRES_PASSWORD=", "UNUSED_POSTGRES_PASSWORD=")(t)
			p.reparse(t)
		}, "${POSTGRES_PASSWORD"},
		{".env variable unused", func(t *testing.T, p *project) {
			p.dotenvText = append(p.dotenvText, "NOT_USED_ANYWHERE=1\n"...)
			p.reparse(t)
		}, "NOT_USED_ANYWHERE"},
		{"depends_on an unknown service", func(t *testing.T, p *project) {
			p.svc(t, hydrantService).DependsOn["no-such-service"] = "service_healthy"
		}, "no-such-service"},
		{"service_healthy without healthcheck", func(t *testing.T, p *project) { p.svc(t, "postgres").Healthcheck = nil }, "postgres has no healthcheck"},
		{"published port is not the listen port", func(t *testing.T, p *project) { p.svc(t, hydrantService).Ports[0].Target = "4546" }, "server.listen"},
		{"listen on loopback inside the container", func(t *testing.T, p *project) {
			replace(&p.hydrantText, "listen: 0.0.0.0:4545", "listen: 127.0.0.1:4545")(t)
		}, "not reachable through a published port"},
		{"no API keys", func(t *testing.T, p *project) {
			replace(&p.hydrantText, "    api_keys:", "    no_api_keys:")(t)
		}, "server.auth.api_keys"},
		{"config needs a variable the service does not set", func(t *testing.T, p *project) {
			delete(p.svc(t, hydrantService).Environment, "HYDRANT_AWS_SECRET")
		}, "HYDRANT_AWS_SECRET"},
		{"hydrant validate refuses the config", func(t *testing.T, p *project) {
			v := "too-short"
			p.svc(t, hydrantService).Environment["HYDRANT_SHIPPER_KEY"] = &v
		}, "must be at least 16 characters"},
		{"config not mounted", func(t *testing.T, p *project) {
			p.svc(t, hydrantService).Volumes[0].Target = "/etc/hydrant/other.yaml"
		}, "is not mounted"},
		{"data_dir outside every volume", func(t *testing.T, p *project) {
			s := p.svc(t, hydrantService)
			s.Volumes = slices.DeleteFunc(s.Volumes, func(v volume) bool { return v.Type == "volume" })
		}, "storage.data_dir"},
		{"destination host not waited for", func(t *testing.T, p *project) {
			delete(p.svc(t, hydrantService).DependsOn, "elasticsearch")
		}, "http://elasticsearch:9200"},
		{"bucket not created", func(t *testing.T, p *project) {
			p.svc(t, "minio-init").Entrypoint = []string{"mc", "ls", "local"}
		}, "bucket"},
		{"Go toolchain older than go.mod", func(t *testing.T, p *project) { replace(&p.dockerfile, "FROM golang:1.26", "FROM golang:1.25")(t) }, "go.mod"},
		{"cgo binary on an image without glibc", func(t *testing.T, p *project) {
			replace(&p.dockerfile, "distroless/cc-debian12", "distroless/static-debian12")(t)
		}, "glibc"},
		{"built without the SQL engine", func(t *testing.T, p *project) { replace(&p.dockerfile, "CGO_ENABLED=1 ", "CGO_ENABLED=0 ")(t) }, "CGO_ENABLED=1"},
		{"runs as root", func(t *testing.T, p *project) { replace(&p.dockerfile, "USER nonroot:nonroot", "USER root")(t) }, "non-root"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := loadProject(t)
			c.breakIt(t, p)
			problems := p.problems(t)
			for _, pr := range problems {
				if strings.Contains(pr, c.want) {
					t.Logf("reported: %s", pr)
					return
				}
			}
			t.Fatalf("broken on purpose, but no problem mentions %q; problems:\n  %s", c.want, strings.Join(problems, "\n  "))
		})
	}
}

// problems runs every check.
func (p *project) problems(t *testing.T) []string {
	var out []string
	for _, check := range []func(*project) []string{
		(*project).checkFiles, (*project).checkVariables, (*project).checkDependsOn, (*project).checkDockerfile,
	} {
		out = append(out, check(p)...)
	}
	cfg, cfgProblems := p.hydrantConfig()
	out = append(out, cfgProblems...)
	if cfg != nil {
		out = append(out, p.checkListen(cfg)...)
		out = append(out, p.checkHydrantEnv(cfg)...)
		out = append(out, p.checkDataDir(cfg)...)
		out = append(out, p.checkDestinations(cfg)...)
		out = append(out, p.checkValidate(t)...)
	}
	return out
}

// project is compose/ as docker compose reads it.
type project struct {
	dir, root   string // compose/ and the repository, absolute
	composeText []byte
	dotenvText  []byte
	dotenv      map[string]string
	file        composeFile
	refs        []varRef // every variable the compose file uses
	interpErrs  []string
	dockerfile  []byte // the hydrant service's Dockerfile, "" when missing
	hydrantText []byte // the config mounted into the hydrant service
	hydrantPath string // where hydrantText came from
}

func loadProject(t *testing.T) *project {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	p := &project{dir: dir, root: filepath.Dir(dir)}
	if p.composeText, err = os.ReadFile(filepath.Join(dir, composeName)); err != nil {
		t.Fatal(err)
	}
	if p.dotenvText, err = os.ReadFile(filepath.Join(dir, dotenvName)); err != nil {
		t.Fatalf("compose/%s, the example environment docker compose reads, is missing: %v", dotenvName, err)
	}
	p.reparse(t)
	s := p.svc(t, hydrantService)
	if s.Build != nil {
		p.dockerfile, _ = os.ReadFile(p.dockerfilePath(s.Build))
	}
	if src := p.configSource(); src != "" {
		p.hydrantPath = src
		p.hydrantText, _ = os.ReadFile(src)
	}
	return p
}

// reparse parses .env and the compose file again, as docker compose does:
// every value interpolated with .env's variables.
func (p *project) reparse(t *testing.T) {
	t.Helper()
	var err error
	if p.dotenv, err = parseDotenv(p.dotenvText); err != nil {
		t.Fatalf("compose/%s: %v", dotenvName, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(p.composeText, &root); err != nil {
		t.Fatalf("compose/%s: %v", composeName, err)
	}
	p.refs, p.interpErrs = nil, nil
	walkValues(&root, func(n *yaml.Node) {
		out, refs, err := interpolateCompose(n.Value, p.dotenv)
		for i := range refs {
			refs[i].line = n.Line
		}
		p.refs = append(p.refs, refs...)
		if err != nil {
			p.interpErrs = append(p.interpErrs, fmt.Sprintf("%s:%d: %v", composeName, n.Line, err))
		}
		n.Value = out
	})
	p.file = composeFile{}
	if err := root.Decode(&p.file); err != nil {
		t.Fatalf("compose/%s: %v", composeName, err)
	}
}

func (p *project) svc(t *testing.T, name string) *service {
	t.Helper()
	s := p.file.Services[name]
	if s == nil {
		t.Fatalf("compose/%s: no service %q", composeName, name)
	}
	return s
}

func (p *project) rel(path string) string {
	if r, err := filepath.Rel(p.root, path); err == nil {
		return r
	}
	return path
}

func (p *project) dockerfilePath(b *build) string {
	return filepath.Join(p.dir, b.Context, b.Dockerfile)
}

// checkFiles: every build context, Dockerfile, bind-mounted file and
// env_file exists, and every named volume is declared.
func (p *project) checkFiles() []string {
	var out []string
	for _, name := range sortedKeys(p.file.Services) {
		s := p.file.Services[name]
		if s.Build == nil && s.Image == "" {
			out = append(out, fmt.Sprintf("services.%s: neither image nor build", name))
		}
		if s.Build != nil {
			ctx := filepath.Join(p.dir, s.Build.Context)
			if fi, err := os.Stat(ctx); err != nil || !fi.IsDir() {
				out = append(out, fmt.Sprintf("services.%s.build.context: %s is not a directory (%s)", name, s.Build.Context, p.rel(ctx)))
			} else if _, err := os.Stat(p.dockerfilePath(s.Build)); err != nil {
				out = append(out, fmt.Sprintf("services.%s.build.dockerfile: %s does not exist in the context %s", name, s.Build.Dockerfile, p.rel(ctx)))
			}
		}
		for i, v := range s.Volumes {
			switch v.Type {
			case "bind":
				if _, err := os.Stat(filepath.Join(p.dir, v.Source)); err != nil {
					out = append(out, fmt.Sprintf("services.%s.volumes[%d]: bind-mounted %s does not exist (paths are relative to compose/)", name, i, v.Source))
				}
			case "volume":
				if _, ok := p.file.Volumes[v.Source]; v.Source != "" && !ok {
					out = append(out, fmt.Sprintf("services.%s.volumes[%d]: named volume %q is not declared under the top-level volumes", name, i, v.Source))
				}
			}
		}
		for _, f := range s.EnvFile {
			if _, err := os.Stat(filepath.Join(p.dir, f.Path)); err != nil && f.Required {
				out = append(out, fmt.Sprintf("services.%s.env_file %s does not exist (relative to compose/)", name, f.Path))
			}
		}
	}
	return out
}

// checkVariables: every variable the compose file uses has a default or a
// value in .env, and .env holds nothing the compose file does not use.
func (p *project) checkVariables() []string {
	out := slices.Clone(p.interpErrs)
	used := map[string]bool{}
	for _, r := range p.refs {
		used[r.name] = true
		if _, ok := p.dotenv[r.name]; r.required && !ok {
			out = append(out, fmt.Sprintf("%s:%d: %s has no default (${%s:-…}) and compose/%s does not define %s",
				composeName, r.line, r.expr, r.name, dotenvName, r.name))
		}
	}
	for _, k := range sortedKeys(p.dotenv) {
		if !used[k] && !strings.HasPrefix(k, "COMPOSE_") {
			out = append(out, fmt.Sprintf("compose/%s defines %s, which %s never uses", dotenvName, k, composeName))
		}
	}
	return out
}

// checkDependsOn: every dependency is a service; one waited for as healthy
// has a healthcheck, one waited for to complete is a one-shot.
func (p *project) checkDependsOn() []string {
	var out []string
	for _, name := range sortedKeys(p.file.Services) {
		for _, dep := range sortedKeys(p.file.Services[name].DependsOn) {
			cond := p.file.Services[name].DependsOn[dep]
			d := p.file.Services[dep]
			where := fmt.Sprintf("services.%s.depends_on.%s", name, dep)
			switch {
			case d == nil:
				out = append(out, fmt.Sprintf("%s: there is no service %s (services: %s)", where, dep, strings.Join(sortedKeys(p.file.Services), ", ")))
			case cond == "service_healthy":
				if d.Healthcheck == nil || d.Healthcheck.Disable || len(d.Healthcheck.Test) == 0 || d.Healthcheck.Test[0] == "NONE" {
					out = append(out, fmt.Sprintf("%s: condition service_healthy, but %s has no healthcheck: %s would never start", where, dep, name))
				}
			case cond == "service_completed_successfully":
				if d.Restart == "always" || d.Restart == "unless-stopped" {
					out = append(out, fmt.Sprintf("%s: condition service_completed_successfully, but %s has restart: %s", where, dep, d.Restart))
				}
			case cond == "service_started":
			default:
				out = append(out, fmt.Sprintf("%s: unknown condition %q", where, cond))
			}
		}
	}
	return out
}

// checkDockerfile: the hydrant image is built by a Go at least as new as
// go.mod asks (the golang images set GOTOOLCHAIN=local, so an older one
// fails), with cgo (the SQL engine, DuckDB, needs it) on a final image
// that has glibc, and runs as a non-root user.
func (p *project) checkDockerfile() []string {
	if len(p.dockerfile) == 0 {
		return nil // reported by checkFiles
	}
	var out []string
	df := string(p.dockerfile)
	gomod, err := os.ReadFile(filepath.Join(p.root, "go.mod"))
	if err != nil {
		return []string{err.Error()}
	}
	want := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)(?:\.(\d+))?`).FindStringSubmatch(string(gomod))
	got := regexp.MustCompile(`(?m)^FROM\s+(?:--\S+\s+)*golang:(\d+)\.(\d+)(?:\.(\d+))?`).FindStringSubmatch(df)
	switch {
	case want == nil:
		out = append(out, "go.mod has no go directive")
	case got == nil:
		out = append(out, "Dockerfile: no build stage FROM golang:<version>")
	default:
		if cmpVersion(got, want) < 0 {
			out = append(out, fmt.Sprintf("Dockerfile: FROM golang:%s is older than go.mod's go %s", strings.Join(nonEmpty(got[1:]), "."), strings.Join(nonEmpty(want[1:]), ".")))
		}
	}
	if !regexp.MustCompile(`(?m)^RUN .*CGO_ENABLED=1 go build`).MatchString(df) {
		out = append(out, "Dockerfile: the binary must be built with CGO_ENABLED=1 go build (the SQL engine, DuckDB, is cgo)")
	}
	final := finalStage(df)
	if len(final) == 0 || !regexp.MustCompile(`^FROM\s+(?:--\S+\s+)*(\S*/)?(distroless/(cc|base)-\S+|debian:\S+|ubuntu:\S+)`).MatchString(final[0]) {
		out = append(out, "Dockerfile: the final image must have glibc (distroless/cc, distroless/base, debian): the SQL engine is linked against it")
	}
	user := ""
	for _, l := range final {
		if f := strings.Fields(l); len(f) >= 2 && strings.EqualFold(f[0], "USER") {
			user = f[1]
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		out = append(out, fmt.Sprintf("Dockerfile: the final stage must run as a non-root USER (has %q)", user))
	}
	return out
}

// cmpVersion compares [_, major, minor, patch] matches. A missing patch in
// a (a floating golang:1.26 tag) means the newest patch release.
func cmpVersion(a, b []string) int {
	for i := 1; i <= 3; i++ {
		if a[i] == "" {
			return 0
		}
		x, _ := strconv.Atoi(a[i])
		y, _ := strconv.Atoi(b[i])
		if x != y {
			return x - y
		}
	}
	return 0
}

func nonEmpty(s []string) []string {
	return slices.DeleteFunc(slices.Clone(s), func(x string) bool { return x == "" })
}

// finalStage returns the instructions after the Dockerfile's last FROM.
func finalStage(df string) []string {
	var stage []string
	for _, l := range strings.Split(df, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(strings.ToUpper(l), "FROM ") {
			stage = nil
		}
		if l != "" && !strings.HasPrefix(l, "#") {
			stage = append(stage, l)
		}
	}
	return stage
}

// imageDefault returns the final stage's value of an instruction such as
// CMD or WORKDIR ("" when absent).
func imageDefault(df []byte, instr string) string {
	v := ""
	for _, l := range finalStage(string(df)) {
		if f := strings.Fields(l); len(f) >= 2 && strings.EqualFold(f[0], instr) {
			v = strings.TrimSpace(l[len(f[0]):])
		}
	}
	return v
}

// configPath is the -c argument the hydrant container runs with: its
// command, or the image's CMD.
func (p *project) configPath() string {
	args := []string(p.file.Services[hydrantService].Command)
	if len(args) == 0 {
		if err := json.Unmarshal([]byte(imageDefault(p.dockerfile, "CMD")), &args); err != nil {
			return ""
		}
	}
	for i, a := range args {
		if (a == "-c" || a == "--c") && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "-c="); ok {
			return v
		}
	}
	return "hydrant.yaml"
}

// configSource is the host file bind-mounted at configPath, "" if none.
func (p *project) configSource() string {
	cp := p.configPath()
	if !path.IsAbs(cp) {
		cp = path.Join(imageDefault(p.dockerfile, "WORKDIR"), cp)
	}
	for _, v := range p.file.Services[hydrantService].Volumes {
		if v.Type == "bind" && v.Target == cp {
			return filepath.Join(p.dir, v.Source)
		}
	}
	return ""
}

// containerEnv is the hydrant container's environment.
func (p *project) containerEnv() (map[string]string, []string) {
	s := p.file.Services[hydrantService]
	env := map[string]string{}
	var out []string
	for _, f := range s.EnvFile {
		b, err := os.ReadFile(filepath.Join(p.dir, f.Path))
		if err != nil {
			continue // checkFiles reports it
		}
		vars, err := parseDotenv(b)
		if err != nil {
			out = append(out, fmt.Sprintf("env_file %s: %v", f.Path, err))
		}
		for k, v := range vars {
			env[k] = v
		}
	}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		} else if dv, ok := p.dotenv[k]; ok { // a bare key takes the value compose has
			env[k] = dv
		}
	}
	return env, out
}

// hydrantConfig is the part of hydrant.yaml the checks look at.
type hydrantConfig struct {
	Server struct {
		Listen string `yaml:"listen"`
		Auth   struct {
			AWS     []map[string]any `yaml:"aws"`
			APIKeys []map[string]any `yaml:"api_keys"`
		} `yaml:"auth"`
	} `yaml:"server"`
	Storage struct {
		DataDir string `yaml:"data_dir"`
	} `yaml:"storage"`
	Deliveries []struct {
		Name        string      `yaml:"name"`
		Destination destination `yaml:"destination"`
		Backup      destination `yaml:"backup"`
	} `yaml:"deliveries"`
	refs []varRef // ${VAR}s without a default
}

type destination struct {
	S3 *struct {
		Endpoint string `yaml:"endpoint"`
		Bucket   string `yaml:"bucket"`
	} `yaml:"s3"`
	Postgres *struct {
		DSN string `yaml:"dsn"`
	} `yaml:"postgres"`
	Elasticsearch *struct {
		Endpoints []string `yaml:"endpoints"`
	} `yaml:"elasticsearch"`
}

// hydrantConfig parses the mounted config, interpolated with the hydrant
// container's environment as Hydrant does it.
func (p *project) hydrantConfig() (*hydrantConfig, []string) {
	if p.configSource() == "" || len(p.hydrantText) == 0 {
		return nil, []string{fmt.Sprintf("services.%s: the config %s (the -c of its command) is not mounted from a file in compose/", hydrantService, p.configPath())}
	}
	env, problems := p.containerEnv()
	var root yaml.Node
	if err := yaml.Unmarshal(p.hydrantText, &root); err != nil {
		return nil, append(problems, fmt.Sprintf("%s: %v", p.rel(p.hydrantPath), err))
	}
	cfg := &hydrantConfig{}
	walkValues(&root, func(n *yaml.Node) {
		out, refs := interpolateHydrant(n.Value, env)
		for i := range refs {
			refs[i].line = n.Line
		}
		cfg.refs = append(cfg.refs, refs...)
		n.Value = out
	})
	if err := root.Decode(cfg); err != nil {
		return nil, append(problems, fmt.Sprintf("%s: %v", p.rel(p.hydrantPath), err))
	}
	if cfg.Server.Listen == "" {
		cfg.Server.Listen = "127.0.0.1:4545"
	}
	if cfg.Storage.DataDir == "" {
		cfg.Storage.DataDir = "./data"
	}
	return cfg, problems
}

// checkListen: Hydrant listens on every interface of the container, on the
// port the service publishes (and the image exposes), and with the listener
// reachable from outside it requires API keys and AWS credentials.
func (p *project) checkListen(cfg *hydrantConfig) []string {
	var out []string
	cfgName := p.rel(p.hydrantPath)
	host, port, err := net.SplitHostPort(cfg.Server.Listen)
	if err != nil {
		return []string{fmt.Sprintf("%s: server.listen %q: %v", cfgName, cfg.Server.Listen, err)}
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		out = append(out, fmt.Sprintf("%s: server.listen %s is not reachable through a published port: listen on 0.0.0.0:%s inside the container", cfgName, cfg.Server.Listen, port))
	}
	s := p.file.Services[hydrantService]
	if len(s.Ports) == 0 {
		out = append(out, fmt.Sprintf("services.%s publishes no port; server.listen is %s", hydrantService, cfg.Server.Listen))
	}
	for i, pt := range s.Ports {
		if pt.Target != port {
			out = append(out, fmt.Sprintf("services.%s.ports[%d] publishes container port %s, but %s's server.listen is %s", hydrantService, i, pt.Target, cfgName, cfg.Server.Listen))
		}
	}
	if expose := strings.Fields(imageDefault(p.dockerfile, "EXPOSE")); !slices.Contains(expose, port) && !slices.Contains(expose, port+"/tcp") {
		out = append(out, fmt.Sprintf("Dockerfile: EXPOSE %s does not include server.listen's port %s", strings.Join(expose, " "), port))
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		if len(cfg.Server.Auth.APIKeys) == 0 {
			out = append(out, fmt.Sprintf("%s: server.listen %s is not loopback, so server.auth.api_keys must be set (anyone reaching the port could put records)", cfgName, cfg.Server.Listen))
		}
		if len(cfg.Server.Auth.AWS) == 0 {
			out = append(out, fmt.Sprintf("%s: server.listen %s is not loopback, so server.auth.aws must be set (anyone reaching the port could use the AWS APIs)", cfgName, cfg.Server.Listen))
		}
	}
	return out
}

// checkHydrantEnv: every ${VAR} without default in hydrant.yaml is set by
// the hydrant service.
func (p *project) checkHydrantEnv(cfg *hydrantConfig) []string {
	env, _ := p.containerEnv()
	var out []string
	for _, r := range cfg.refs {
		if _, ok := env[r.name]; !ok {
			out = append(out, fmt.Sprintf("%s:%d: %s is not in services.%s.environment (nor an env_file)", p.rel(p.hydrantPath), r.line, r.expr, hydrantService))
		}
	}
	return out
}

// checkDataDir: the shard log lives in a volume, so it outlives the
// container.
func (p *project) checkDataDir(cfg *hydrantConfig) []string {
	dd := cfg.Storage.DataDir
	if !path.IsAbs(dd) {
		dd = path.Join(imageDefault(p.dockerfile, "WORKDIR"), dd)
	}
	for _, v := range p.file.Services[hydrantService].Volumes {
		if v.Target != "" && (dd == v.Target || strings.HasPrefix(dd, strings.TrimSuffix(v.Target, "/")+"/")) {
			return nil
		}
	}
	return []string{fmt.Sprintf("%s: storage.data_dir %s is in no volume of services.%s: the shard log would die with the container", p.rel(p.hydrantPath), dd, hydrantService)}
}

// checkDestinations: each destination host is a service hydrant waits for
// (healthy), and each bucket is created by a one-shot it waits for.
func (p *project) checkDestinations(cfg *hydrantConfig) []string {
	var out []string
	s := p.file.Services[hydrantService]
	host := func(where, raw, h string) {
		if h == "" || net.ParseIP(h) != nil || h == "localhost" {
			out = append(out, fmt.Sprintf("%s: %s %s: inside the container this is not another service; name a service of %s", p.rel(p.hydrantPath), where, raw, composeName))
			return
		}
		if p.file.Services[h] == nil {
			out = append(out, fmt.Sprintf("%s: %s %s: there is no service %s in %s", p.rel(p.hydrantPath), where, raw, h, composeName))
		} else if s.DependsOn[h] != "service_healthy" {
			out = append(out, fmt.Sprintf("%s: %s %s: services.%s must depend on %s with condition service_healthy", p.rel(p.hydrantPath), where, raw, hydrantService, h))
		}
	}
	urlHost := func(where, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %s %q: %v", p.rel(p.hydrantPath), where, raw, err))
			return
		}
		host(where, raw, u.Hostname())
	}
	for _, d := range cfg.Deliveries {
		for _, dest := range []destination{d.Destination, d.Backup} {
			where := "delivery " + d.Name
			if dest.S3 != nil {
				urlHost(where+" s3 endpoint", dest.S3.Endpoint)
				if !p.bucketCreated(dest.S3.Bucket) {
					out = append(out, fmt.Sprintf("%s: %s: bucket %q is not created by a one-shot service hydrant waits for (service_completed_successfully)", p.rel(p.hydrantPath), where, dest.S3.Bucket))
				}
			}
			if dest.Postgres != nil {
				dsn := dest.Postgres.DSN
				if strings.Contains(dsn, "://") {
					urlHost(where+" postgres dsn", dsn)
				} else if m := regexp.MustCompile(`(?:^|\s)host=(\S+)`).FindStringSubmatch(dsn); m != nil {
					host(where+" postgres dsn", "host="+m[1], m[1])
				} else {
					host(where+" postgres dsn", "without host", "")
				}
			}
			if dest.Elasticsearch != nil {
				for _, e := range dest.Elasticsearch.Endpoints {
					urlHost(where+" elasticsearch endpoint", e)
				}
			}
		}
	}
	return out
}

func (p *project) bucketCreated(bucket string) bool {
	for dep, cond := range p.file.Services[hydrantService].DependsOn {
		d := p.file.Services[dep]
		if cond != "service_completed_successfully" || d == nil {
			continue
		}
		for _, a := range append(slices.Clone(d.Entrypoint), d.Command...) {
			if strings.HasSuffix(a, "/"+bucket) || strings.Contains(a, "/"+bucket+" ") {
				return true
			}
		}
	}
	return false
}

// hydrantBinary builds cmd/hydrant once per test run.
func hydrantBinary(t *testing.T) string { return testbin.Hydrant(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// checkValidate runs the real `hydrant validate` on the mounted config with
// exactly the hydrant container's environment.
func (p *project) checkValidate(t *testing.T) []string {
	cfgPath := p.hydrantPath
	if disk, err := os.ReadFile(cfgPath); err != nil || !bytes.Equal(disk, p.hydrantText) {
		cfgPath = filepath.Join(t.TempDir(), filepath.Base(p.hydrantPath)) // a copy broken on purpose
		if err := os.WriteFile(cfgPath, p.hydrantText, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env, _ := p.containerEnv()
	cmd := exec.Command(hydrantBinary(t), "validate", "-c", cfgPath)
	cmd.Env = []string{}
	for _, k := range sortedKeys(env) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return []string{fmt.Sprintf("hydrant validate -c %s with services.%s's environment (%s): %v\n%s",
			p.rel(p.hydrantPath), hydrantService, strings.Join(sortedKeys(env), " "), err, out)}
	}
	if !bytes.Contains(out, []byte(": OK")) {
		return []string{fmt.Sprintf("hydrant validate -c %s: exit 0 but no OK:\n%s", p.rel(p.hydrantPath), out)}
	}
	return nil
}

// walkValues calls f on every scalar that is not a mapping key.
func walkValues(n *yaml.Node, f func(*yaml.Node)) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			walkValues(c, f)
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			walkValues(n.Content[i], f)
		}
	case yaml.ScalarNode:
		if strings.Contains(n.Value, "$") {
			f(n)
		}
	}
}

// varRef is one use of a variable.
type varRef struct {
	name, expr string
	line       int
	required   bool // without a default: unset is empty, or an error
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)

// interpolateCompose expands s as docker compose does: $$, $VAR, ${VAR},
// ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error},
// ${VAR:+alt}, ${VAR+alt}.
func interpolateCompose(s string, env map[string]string) (string, []varRef, error) {
	var (
		b    strings.Builder
		refs []varRef
	)
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		rest := s[i+1:]
		switch {
		case strings.HasPrefix(rest, "$"):
			b.WriteByte('$')
			i += 2
		case strings.HasPrefix(rest, "{"):
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return s, refs, fmt.Errorf("unterminated ${ in %q", s)
			}
			inner := rest[1:end]
			if strings.Contains(inner, "$") {
				return s, refs, fmt.Errorf("nested interpolation in %q: this test does not read it; write it flat", s)
			}
			name := envName.FindString(inner)
			if name == "" {
				return s, refs, fmt.Errorf("invalid variable in ${%s}", inner)
			}
			op, arg := inner[len(name):], ""
			for _, o := range []string{":-", ":?", ":+", "-", "?", "+"} {
				if strings.HasPrefix(op, o) {
					op, arg = o, op[len(o):]
					break
				}
			}
			v, set := env[name]
			ref := varRef{name: name, expr: "${" + inner + "}", required: op == "" || op == ":?" || op == "?"}
			refs = append(refs, ref)
			switch op {
			case "":
			case ":-":
				if v == "" {
					v = arg
				}
			case "-":
				if !set {
					v = arg
				}
			case ":?", "?":
				if !set || (op == ":?" && v == "") {
					return s, refs, fmt.Errorf("%s: %s", ref.expr, arg)
				}
			case ":+":
				if v != "" {
					v = arg
				}
			case "+":
				if set {
					v = arg
				}
			default:
				return s, refs, fmt.Errorf("unknown operator in ${%s}", inner)
			}
			b.WriteString(v)
			i += 1 + end + 1
		default:
			name := envName.FindString(rest)
			if name == "" {
				b.WriteByte('$')
				i++
				continue
			}
			refs = append(refs, varRef{name: name, expr: "$" + name, required: true})
			b.WriteString(env[name])
			i += 1 + len(name)
		}
	}
	return b.String(), refs, nil
}

// interpolateHydrant expands s as Hydrant's config loader does: $$,
// ${VAR}, ${VAR:-default}; any other $ stays. It returns the uses of
// variables without a default.
func interpolateHydrant(s string, env map[string]string) (string, []varRef) {
	var (
		b    strings.Builder
		refs []varRef
	)
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteByte('$')
			i += 2
		case strings.HasPrefix(s[i:], "${") && strings.IndexByte(s[i:], '}') > 0:
			end := i + strings.IndexByte(s[i:], '}')
			name, def, hasDef := strings.Cut(s[i+2:end], ":-")
			v := env[name]
			if hasDef && v == "" {
				v = def
			} else if !hasDef {
				refs = append(refs, varRef{name: name, expr: s[i : end+1], required: true})
			}
			b.WriteString(v)
			i = end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), refs
}

// parseDotenv reads KEY=VALUE lines; # starts a comment line; a value may
// be quoted.
func parseDotenv(b []byte) (map[string]string, error) {
	env := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		k = strings.TrimSpace(k)
		if !ok || envName.FindString(k) != k {
			return nil, fmt.Errorf("line %d: want KEY=VALUE, have %q", i+1, line)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env[k] = v
	}
	return env, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// The compose file's model: only what the checks read, each key in every
// syntax compose accepts for it.

type composeFile struct {
	Services map[string]*service `yaml:"services"`
	Volumes  map[string]any      `yaml:"volumes"`
}

type service struct {
	Image       string       `yaml:"image"`
	Build       *build       `yaml:"build"`
	Entrypoint  stringList   `yaml:"entrypoint"`
	Command     stringList   `yaml:"command"`
	Environment envMap       `yaml:"environment"`
	EnvFile     envFiles     `yaml:"env_file"`
	Ports       []port       `yaml:"ports"`
	Volumes     []volume     `yaml:"volumes"`
	DependsOn   dependsOn    `yaml:"depends_on"`
	Healthcheck *healthcheck `yaml:"healthcheck"`
	Restart     string       `yaml:"restart"`
}

// build is `build: DIR` or `build: {context, dockerfile}`.
type build struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func (b *build) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.Context = n.Value
	} else {
		type plain build
		if err := n.Decode((*plain)(b)); err != nil {
			return err
		}
	}
	if b.Context == "" {
		b.Context = "."
	}
	if b.Dockerfile == "" {
		b.Dockerfile = "Dockerfile"
	}
	return nil
}

// stringList is a list, or a string split on spaces.
type stringList []string

func (s *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = strings.Fields(n.Value)
		return nil
	}
	return n.Decode((*[]string)(s))
}

// envMap is a mapping, or a list of KEY=VALUE; nil for a bare KEY.
type envMap map[string]*string

func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	*e = envMap{}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			v := n.Content[i+1]
			if v.Tag == "!!null" {
				(*e)[n.Content[i].Value] = nil
			} else {
				val := v.Value
				(*e)[n.Content[i].Value] = &val
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if k, v, ok := strings.Cut(c.Value, "="); ok {
				(*e)[k] = &v
			} else {
				(*e)[k] = nil
			}
		}
	default:
		return fmt.Errorf("line %d: environment must be a mapping or a list", n.Line)
	}
	return nil
}

type envFile struct {
	Path     string `yaml:"path"`
	Required bool   `yaml:"required"`
}

// envFiles is a path, a list of paths, or a list of {path, required}.
type envFiles []envFile

func (e *envFiles) UnmarshalYAML(n *yaml.Node) error {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	for _, c := range items {
		f := envFile{Path: c.Value, Required: true}
		if c.Kind == yaml.MappingNode {
			if err := c.Decode(&f); err != nil {
				return err
			}
		}
		*e = append(*e, f)
	}
	return nil
}

// port is "[[HOST_IP:]PUBLISHED:]TARGET[/PROTO]" or {target, published, host_ip}.
type port struct {
	HostIP    string `yaml:"host_ip"`
	Published string `yaml:"published"`
	Target    string `yaml:"target"`
}

func (p *port) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		type plain port
		return n.Decode((*plain)(p))
	}
	spec, _, _ := strings.Cut(n.Value, "/")
	parts := strings.Split(spec, ":")
	p.Target = parts[len(parts)-1]
	if len(parts) >= 2 {
		p.Published = parts[len(parts)-2]
		p.HostIP = strings.Join(parts[:len(parts)-2], ":")
	}
	if _, err := strconv.Atoi(p.Target); err != nil {
		return fmt.Errorf("line %d: port %q: the container port must be one number (ranges are not read by this test)", n.Line, n.Value)
	}
	return nil
}

// volume is "SOURCE:TARGET[:MODE]", "TARGET", or {type, source, target}.
type volume struct {
	Type   string `yaml:"type"`
	Source string `yaml:"source"`
	Target string `yaml:"target"`
}

func (v *volume) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		type plain volume
		return n.Decode((*plain)(v))
	}
	parts := strings.Split(n.Value, ":")
	switch len(parts) {
	case 1:
		v.Type, v.Target = "volume", parts[0] // anonymous
		return nil
	default:
		v.Source, v.Target = parts[0], parts[1]
	}
	if strings.HasPrefix(v.Source, ".") || strings.HasPrefix(v.Source, "/") || strings.HasPrefix(v.Source, "~") {
		v.Type = "bind"
	} else {
		v.Type = "volume"
	}
	return nil
}

// dependsOn maps a service to its condition; a list means service_started.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = dependsOn{}
	switch n.Kind {
	case yaml.SequenceNode:
		for _, c := range n.Content {
			(*d)[c.Value] = "service_started"
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			var spec struct {
				Condition string `yaml:"condition"`
			}
			if err := n.Content[i+1].Decode(&spec); err != nil {
				return err
			}
			if spec.Condition == "" {
				spec.Condition = "service_started"
			}
			(*d)[n.Content[i].Value] = spec.Condition
		}
	default:
		return fmt.Errorf("line %d: depends_on must be a list or a mapping", n.Line)
	}
	return nil
}

type healthcheck struct {
	Test    stringList `yaml:"test"`
	Disable bool       `yaml:"disable"`
}
