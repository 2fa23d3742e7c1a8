//go:build unix

package seglog

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashDirEnv names the directory TestKillNineChild appends to; it runs
// only when it is set, as the child of TestKillNine.
const crashDirEnv = "SEGLOG_CRASH_DIR"

// crashPayload is the payload the child appends under tag.
func crashPayload(tag string) []byte {
	p := []byte(tag + ":")
	for len(p) < 200+len(tag)*7 {
		p = append(p, tag...)
	}
	return p
}

// TestKillNine kills with SIGKILL a process appending with SyncAlways from
// several goroutines once it has acknowledged some hundreds of appends,
// then opens its log: every acknowledged entry is there as appended, and
// every key's sequences have no gap.
func TestKillNine(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in the child")
	}
	if testing.Short() {
		t.Skip("starts a process")
	}
	const killAfter = 1500
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKillNineChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type ack struct {
		key string
		seq uint64
		tag string
	}
	var acks []ack
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var a ack
		if _, err := fmt.Sscanf(sc.Text(), "ack %s %d %s", &a.key, &a.seq, &a.tag); err != nil {
			continue // the test framework's lines
		}
		acks = append(acks, a)
		if len(acks) >= killAfter && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("the child ended after %d acknowledgements (%v): %s", len(acks), err, stderr.Bytes())
	}
	if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || st.Signal() != syscall.SIGKILL {
		t.Fatalf("the child ended with %v, not killed: %s", err, stderr.Bytes())
	}

	l := mustOpen(t, Options{Dir: dir, SegmentBytes: 16 << 10})
	defer mustClose(t, l)
	last := make(map[string]uint64)
	for _, a := range acks {
		e, err := l.Get(a.key, a.seq)
		if err != nil || !bytes.Equal(e.Payload, crashPayload(a.tag)) {
			t.Fatalf("acknowledged %q %d (%s): %v, payload %.30q", a.key, a.seq, a.tag, err, e.Payload)
		}
		last[a.key] = max(last[a.key], a.seq)
	}
	for key, acked := range last {
		got, err := l.Read(key, 1, 1<<30)
		if err != nil {
			t.Fatalf("Read(%q): %v", key, err)
		}
		for i, e := range got {
			if e.Seq != uint64(i)+1 || e.Total != e.Seq {
				t.Fatalf("%q: entry %d has sequence %d, total %d", key, i+1, e.Seq, e.Total)
			}
		}
		if info := l.Info(key); info.Last < acked || uint64(len(got)) != info.Last {
			t.Fatalf("Info(%q) = %+v, read %d; acknowledged up to %d", key, info, len(got), acked)
		}
	}
	t.Logf("killed after %d acknowledgements; %d keys", len(acks), len(last))
	checkDiskSize(t, l, dir)
}

// TestKillNineChild appends until killed (or for a bounded while), and
// prints each acknowledged append as "ack key seq tag".
func TestKillNineChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestKillNine")
	}
	l, err := Open(Options{Dir: dir, SegmentBytes: 16 << 10, SyncAlways: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	deadline := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := 0; i < 50000 && time.Now().Before(deadline); i++ {
				key := fmt.Sprintf("key-%d", (g+i)%5)
				tag := fmt.Sprintf("g%d-%d", g, i)
				seq, err := l.Append(context.Background(), key, Entry{Records: 1, Payload: crashPayload(tag)})
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				fmt.Fprintf(w, "ack %s %d %s\n", key, seq, tag)
				w.Flush() // before the next append: it is acknowledged
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
