package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type pythonEntry struct {
	path string
	err  error
}

var pythonCache sync.Map // name -> pythonEntry

// resolvePython finds the interpreter and resolves shims (pyenv, asdf) to the
// real executable by asking it for sys.executable, so the sandboxed process
// neither runs a shell wrapper nor depends on the wrapper's environment.
func resolvePython(name string) (string, error) {
	if v, ok := pythonCache.Load(name); ok {
		e := v.(pythonEntry)
		return e.path, e.err
	}
	path, err := exec.LookPath(name)
	if err != nil {
		err = fmt.Errorf("%w: %q: %v", ErrPythonNotFound, name, err)
		pythonCache.Store(name, pythonEntry{err: err})
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-I", "-c", "import sys, resource; print(sys.executable)").Output()
	if err != nil {
		err = fmt.Errorf("%w: %s does not run as a Python 3 with the resource module: %v", ErrPythonNotFound, path, err)
		pythonCache.Store(name, pythonEntry{err: err})
		return "", err
	}
	if exe := strings.TrimSpace(string(out)); exe != "" && filepath.IsAbs(exe) {
		if st, err := os.Stat(exe); err == nil && st.Mode().IsRegular() {
			path = exe
		}
	}
	pythonCache.Store(name, pythonEntry{path: path})
	return path, nil
}

var dropCache sync.Map // "python uid gid" -> bool

// canRunAs reports whether uid:gid can start the interpreter (it must reach
// the executable and its standard library).
func canRunAs(python string, uid, gid int) bool {
	key := fmt.Sprintf("%s %d %d", python, uid, gid)
	if v, ok := dropCache.Load(key); ok {
		return v.(bool)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-I", "-c", "import resource, traceback, os")
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true},
	}
	ok := cmd.Run() == nil
	dropCache.Store(key, ok)
	return ok
}

// pidsCgroup is a throw-away cgroup whose pids.max bounds the process count.
type pidsCgroup struct {
	dir string
	v2  bool
}

var cgSeq atomic.Int64

// newPidsCgroup creates a pids cgroup (v2 unified hierarchy, else v1 pids
// controller) allowing max processes, or returns nil when none can be made.
func newPidsCgroup(max int) *pidsCgroup {
	for _, base := range cgroupBases() {
		dir := filepath.Join(base.dir, fmt.Sprintf("latentmas-sandbox-%d-%d", os.Getpid(), cgSeq.Add(1)))
		if err := os.Mkdir(dir, 0o755); err != nil {
			continue
		}
		// +1 for the interpreter itself.
		if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.Itoa(max+1)), 0o644); err != nil {
			os.Remove(dir)
			continue
		}
		return &pidsCgroup{dir: dir, v2: base.v2}
	}
	return nil
}

type cgroupBase struct {
	dir string
	v2  bool
}

func cgroupBases() []cgroupBase {
	var bases []cgroupBase
	// v2: a child of our own cgroup, if the pids controller is delegated.
	if data, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if rest, ok := strings.CutPrefix(line, "0::"); ok {
				dir := filepath.Join("/sys/fs/cgroup", rest)
				if ctl, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control")); err == nil &&
					bytes.Contains(ctl, []byte("pids")) {
					bases = append(bases, cgroupBase{dir: dir, v2: true})
				}
			}
		}
	}
	// v1: the pids hierarchy.
	if st, err := os.Stat("/sys/fs/cgroup/pids"); err == nil && st.IsDir() {
		bases = append(bases, cgroupBase{dir: "/sys/fs/cgroup/pids"})
	}
	return bases
}

func (c *pidsCgroup) add(pid int) error {
	return os.WriteFile(filepath.Join(c.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
}

// killAll SIGKILLs every process still in the cgroup.
func (c *pidsCgroup) killAll() {
	if c.v2 {
		if os.WriteFile(filepath.Join(c.dir, "cgroup.kill"), []byte("1"), 0o644) == nil {
			return
		}
	}
	for range 50 {
		data, err := os.ReadFile(filepath.Join(c.dir, "cgroup.procs"))
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			return
		}
		for _, f := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// destroy removes the cgroup once it is empty.
func (c *pidsCgroup) destroy() {
	c.killAll()
	for range 100 {
		err := os.Remove(c.dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	warnOnce("cgrm", "cannot remove cgroup %s", c.dir)
}
