package postgres

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/testnet"

	"github.com/jackc/pgx/v5"
)

// Server is a running throwaway PostgreSQL cluster.
type Server struct {
	DSN  string // postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
	Port int
	Dir  string // data directory (also holds the socket and the log)
	bin  string
}

// BinDir returns the directory holding initdb and pg_ctl, failing the test
// when PostgreSQL is not installed (skipping it in -short mode).
func BinDir(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("HYDRANT_POSTGRES_BIN"); p != "" {
		return p
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	if testing.Short() {
		t.Skip("PostgreSQL is not installed; run `make postgres` (make test does)")
	}
	t.Fatal("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: run `make postgres` or set HYDRANT_POSTGRES_BIN")
	return ""
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start initialises a cluster and runs it until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := BinDir(t)
	// Not t.TempDir: its parent is private to root, and the server runs as postgres.
	dir, err := os.MkdirTemp("", "hydrant-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{Dir: dir, Port: testnet.FreePort(t), bin: bin}
	if err := s.chown(); err != nil {
		t.Fatalf("chown %s to postgres: %v", dir, err)
	}
	data := filepath.Join(dir, "data")
	if out, err := s.run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	t.Cleanup(func() { s.run("pg_ctl", "-D", data, "-m", "fast", "-w", "stop") })
	s.DSN = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
	s.Start(t)
	return s
}

// Start (re)starts the server on its port, waiting until it accepts
// connections.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	data := filepath.Join(s.Dir, "data")
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c fsync=off -c max_connections=50", s.Port, s.Dir)
	if out, err := s.run("pg_ctl", "-D", data, "-l", filepath.Join(s.Dir, "log"), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.Dir, "log"))
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		c, err := pgx.Connect(ctx, s.DSN)
		if err == nil {
			c.Close(ctx)
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("postgres not accepting connections: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
}

// Stop shuts the server down (fast mode); Start brings it back.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if out, err := s.run("pg_ctl", "-D", filepath.Join(s.Dir, "data"), "-m", "fast", "-w", "stop"); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// Exec runs SQL statements against the server, failing the test on error.
func (s *Server) Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, s.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// run runs a server binary as the postgres user (directly when already
// running as a user other than root).
func (s *Server) run(name string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, name)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.Dir
	return cmd.CombinedOutput()
}

func (s *Server) chown() error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(s.Dir, uid, gid)
}
