package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat. It is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// processCPU returns the CPU time (user + system) that process pid has used
// so far, from /proc/PID/stat.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(data)
}

// parseStatCPU reads utime and stime (fields 14 and 15) from the contents of
// /proc/PID/stat. The command name (field 2) is in parentheses and may hold
// spaces, so fields are counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat: no command name in %q", stat)
	}
	fields := strings.Fields(string(stat[i+1:])) // fields[0] is field 3, state
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want more than %d", len(fields), stime)
	}
	var ticks int64
	for _, f := range []string{fields[utime], fields[stime]} {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// processPeakRSS returns the peak resident set size of process pid in
// bytes, from VmHWM in /proc/PID/status.
func processPeakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc status: VmHWM: %w", err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmHWM line", pid)
}

// describeMachine says what the figures were measured on: the CPUs, the
// filesystem of the temporary directory where the started servers keep
// their data, and how busy the machine was before the run.
func describeMachine() string {
	model := "unknown model"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	load := "unknown"
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	dir := os.TempDir()
	return fmt.Sprintf("%d CPUs (%s), %s, data in %s on %s, load average %s at start",
		runtime.NumCPU(), model, runtime.Version(), dir, filesystemOf(dir), load)
}

// filesystemOf is the type and device of the filesystem dir is on, from
// the longest mount point in /proc/self/mounts that contains it.
func filesystemOf(dir string) string {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return "an unknown filesystem"
	}
	if resolved, err := filepath.EvalSymlinks(dir); err == nil {
		dir = resolved
	}
	best, desc := "", "an unknown filesystem"
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line) // device mountpoint type options dump pass
		if len(f) < 3 {
			continue
		}
		mnt := f[1]
		inside := dir == mnt || strings.HasPrefix(dir, strings.TrimSuffix(mnt, "/")+"/")
		if inside && len(mnt) >= len(best) {
			best, desc = mnt, fmt.Sprintf("%s (%s mounted at %s)", f[2], f[0], mnt)
		}
	}
	return desc
}
