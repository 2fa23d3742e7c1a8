package kv

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// crashChildEnv, set to a file's path, makes the test binary run
// crashChild on it instead of the tests.
const crashChildEnv = "HYDRANT_KV_CRASH_CHILD"

// crashChildWrites bounds a child that nobody kills.
const crashChildWrites = 20000

func crashKey(i int) string { return fmt.Sprintf("k%06d", i) }

// crashValue is 2 bytes to a few KiB, so that writes split pages and grow
// the file.
func crashValue(i int) []byte { return bytes.Repeat([]byte(strconv.Itoa(i)+","), i%500+1) }

// crashChild writes to the DB at path until it is killed: for i from one
// past the counter's value, it puts crashKey(i), then moves the counter to
// i with Update, and after both are acknowledged prints "i rev crev".
func crashChild(path string) int {
	ctx := context.Background()
	db, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	b, err := db.Bucket("b")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	start, crev := 0, uint64(0)
	if e, err := b.Get(ctx, "counter"); err == nil {
		n, _ := strconv.Atoi(string(e.Value))
		start, crev = n+1, e.Revision
	} else if !errors.Is(err, ErrKeyNotFound) {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	for i := start; i < start+crashChildWrites; i++ {
		rev, err := b.Put(ctx, crashKey(i), crashValue(i))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		if crev == 0 {
			crev, err = b.Create(ctx, "counter", []byte(strconv.Itoa(i)))
		} else {
			crev, err = b.Update(ctx, "counter", []byte(strconv.Itoa(i)), crev)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Printf("%d %d %d\n", i, rev, crev)
	}
	return 0
}

// TestCrashKeepsAcknowledgedWrites SIGKILLs a child process in the middle
// of its writes, three times over the same file, and checks that every
// write the child had acknowledged is in the file, at its revision, and
// that revisions went on growing across the kills. (A killed process leaves
// its writes in the page cache; what the fsync adds, against losing the
// machine, this cannot show.)
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kv.db")
	type ack struct {
		i         int
		rev, crev uint64
	}
	var acks []ack
	for round, killAfter := range []int{40, 173, 301} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		n := 0
		for sc.Scan() {
			var a ack
			if _, err := fmt.Sscanf(sc.Text(), "%d %d %d", &a.i, &a.rev, &a.crev); err != nil {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: child printed %q: %v", round, sc.Text(), err)
			}
			if len(acks) > 0 {
				prev := acks[len(acks)-1]
				if a.i != prev.i+1 || a.rev <= prev.crev || a.crev <= a.rev {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("round %d: ack %+v after %+v: want the next i at growing revisions", round, a, prev)
				}
			}
			acks = append(acks, a)
			if n++; n == killAfter {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
		}
		err = cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended with %v after %d writes, not killed: %s", round, err, n, stderr.Bytes())
		}
		t.Logf("round %d: killed after %d acknowledged writes (asked at %d)", round, n, killAfter)
	}

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() { // drained: Check's goroutine sends them all
			first = cmp.Or(first, err)
		}
		return first
	}); err != nil {
		t.Fatalf("bbolt check after the kills: %v", err)
	}
	b := bucket(t, db, "b")
	for _, a := range acks {
		e, err := b.Get(ctx, crashKey(a.i))
		if err != nil {
			t.Fatalf("acknowledged write %d: %v", a.i, err)
		}
		if e.Revision != a.rev || !bytes.Equal(e.Value, crashValue(a.i)) {
			t.Fatalf("acknowledged write %d at revision %d: found %d bytes at revision %d", a.i, a.rev, len(e.Value), e.Revision)
		}
	}
	last := acks[len(acks)-1]
	counter, err := b.Get(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(string(counter.Value))
	// The write in flight at the last kill may have landed too.
	if n < last.i || counter.Revision < last.crev {
		t.Fatalf("counter %d at revision %d; acknowledged %d at %d", n, counter.Revision, last.i, last.crev)
	}
}
