// Package sandbox runs untrusted Python programs (model-written solutions
// plus benchmark tests) with the system python3, contained as far as the
// operating system allows without cgo.
//
// What every run gets:
//   - its own process group (Setpgid); on the wall-clock timeout, on context
//     cancellation and after the program ends, the whole group is SIGKILLed;
//   - a fresh private temporary directory that is the working directory,
//     HOME and TMPDIR, removed afterwards; a minimal environment; stdin at EOF;
//   - resource limits set with setrlimit inside the child before any user code
//     runs: CPU seconds, address space, process/thread count, file size, no
//     core dumps;
//   - bounded capture of stdout and stderr.
//
// When running as root (the project's machines and CI), in addition:
//   - new network, PID, IPC and UTS namespaces (no network at all, only a
//     loopback device that is down; when the namespace's first process exits the
//     kernel kills every process left in it, so nothing can outlive a run);
//   - the program runs as an unprivileged user (UID/GID 65534, "nobody", by
//     default) when that user can execute the interpreter. Then ordinary file
//     permissions protect everything outside the temporary directory (the
//     program can still write where everybody may, such as /tmp), and
//     RLIMIT_NPROC is enforced (the kernel never enforces it for root).
//     If the interpreter is not reachable by that user (for example a pyenv
//     Python under /root, which is mode 0700) the program runs as root, with
//     a one-time warning: writes outside the temporary directory are then not
//     prevented, only steered away from (cwd and HOME are the temporary
//     directory);
//   - a pids cgroup (v1 or v2, where one can be created) caps the number of
//     processes and threads whatever the user; it is what contains a fork bomb
//     when the program has to run as root.
//
// When not root, the package tries an unprivileged user namespace for the
// network namespace and otherwise warns once that the network is reachable.
//
// Why the limits are applied by a small Python preamble: Go has no pre-exec
// hook without cgo, and the interpreter is needed anyway, so the preamble
// (passed with -c, run in isolated mode -I) calls resource.setrlimit, then
// waits for a go-ahead byte on stdin (so that the parent can first place the
// process in its cgroup), and only then reads and executes the program. The
// kernel-side parts (process group, namespaces, credentials) are set by
// syscall.SysProcAttr before exec, so they hold from the first instruction.
// The alternatives were rejected: prlimit(1) adds a util-linux dependency and
// another exec; prlimit(2) from the parent races with the child; re-executing
// our own binary as a wrapper needs that binary to be readable by the
// unprivileged user and a hook in every main.
//
// Execution semantics follow the reference scorer (REFERENCE.md §4.2): the
// program is executed with exec() in a fresh, empty global namespace (so
// `__name__` is "builtins" and `if __name__ == "__main__":` blocks do not run,
// as in the reference), and it passes iff exec returns normally. Any exception,
// SystemExit included, fails it, and so does a process that ends without
// finishing exec (os._exit, a signal, a limit).
package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options bounds one run. Zero fields take the defaults listed.
type Options struct {
	// Timeout is the wall-clock limit (default 10 s, the reference's).
	Timeout time.Duration
	// CPUSeconds is RLIMIT_CPU per process (default: the timeout rounded up).
	CPUSeconds int
	// MemoryBytes is RLIMIT_AS per process (default 2 GiB).
	MemoryBytes int64
	// MaxProcs is how many more processes/threads the program may create
	// (default 64). It becomes RLIMIT_NPROC (counted on top of what the user
	// already runs) and the pids cgroup limit.
	MaxProcs int
	// MaxFileBytes is RLIMIT_FSIZE (default 64 MiB).
	MaxFileBytes int64
	// MaxOutputBytes caps how much of stdout and of stderr is kept (default
	// 64 KiB each); the rest is read and dropped.
	MaxOutputBytes int
	// Python is the interpreter, a path or a name looked up in PATH (default
	// "python3"). A pyenv-style shim is resolved to the real executable.
	Python string
	// TempRoot is where the per-run directory is created (default
	// os.TempDir()). When the program runs as an unprivileged user this
	// directory must be traversable by that user.
	TempRoot string
	// RunAsUID and RunAsGID are the unprivileged IDs used when running as
	// root (default 65534). NoPrivilegeDrop keeps root.
	RunAsUID, RunAsGID int
	// NoPrivilegeDrop keeps the program running as root when we are root.
	NoPrivilegeDrop bool
}

// Result is the outcome of one run.
type Result struct {
	// OK is true when the program's exec() returned normally within the limits.
	OK bool
	// TimedOut is true when the wall-clock limit killed the program.
	TimedOut bool
	// ExitCode is the interpreter's exit status (-1 when killed by a signal).
	ExitCode int
	// Signal names the signal that ended the interpreter, if any.
	Signal string
	// Error is the reference-style error message: the Python traceback, a
	// timeout message, or a description of how the process died; "" when OK.
	Error string
	// Stdout and Stderr are the captured (possibly truncated) output streams.
	Stdout, Stderr string
	// Duration is the wall-clock time of the run.
	Duration time.Duration
	// Isolation says which protections were actually in force.
	Isolation Isolation
}

// Isolation reports the protections applied to a run.
type Isolation struct {
	// Namespaces lists the namespaces the program ran in ("net", "pid", ...).
	Namespaces []string
	// UID is the user the program ran as.
	UID int
	// ProcessLimit says how the process count was bounded: "rlimit",
	// "cgroup", "rlimit+cgroup" or "none".
	ProcessLimit string
	// Python is the interpreter that was executed.
	Python string
}

// NetworkIsolated reports whether the program ran in its own network namespace.
func (i Isolation) NetworkIsolated() bool { return i.has("net") }

// PIDNamespace reports whether the program ran in its own PID namespace.
func (i Isolation) PIDNamespace() bool { return i.has("pid") }

func (i Isolation) has(ns string) bool {
	for _, n := range i.Namespaces {
		if n == ns {
			return true
		}
	}
	return false
}

// ErrPythonNotFound is returned (wrapped) when the interpreter cannot be found.
var ErrPythonNotFound = errors.New("sandbox: python interpreter not found (install python3 or set the interpreter path)")

// Defaults.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultMemoryBytes    = 2 << 30
	DefaultMaxProcs       = 64
	DefaultMaxFileBytes   = 64 << 20
	DefaultMaxOutputBytes = 64 << 10
	nobody                = 65534
)

// Warnf receives the one-time warnings about missing isolation. It defaults
// to writing to standard error; tests or the CLI may replace it.
var Warnf = func(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "sandbox: warning: "+format+"\n", args...)
}

var warned sync.Map

func warnOnce(key, format string, args ...any) {
	if _, loaded := warned.LoadOrStore(key, true); !loaded {
		Warnf(format, args...)
	}
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.CPUSeconds <= 0 {
		o.CPUSeconds = int((o.Timeout + time.Second - 1) / time.Second)
	}
	if o.MemoryBytes <= 0 {
		o.MemoryBytes = DefaultMemoryBytes
	}
	if o.MaxProcs <= 0 {
		o.MaxProcs = DefaultMaxProcs
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
	}
	if o.MaxOutputBytes <= 0 {
		o.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if o.Python == "" {
		o.Python = "python3"
	}
	if o.TempRoot == "" {
		o.TempRoot = os.TempDir()
	}
	if o.RunAsUID == 0 {
		o.RunAsUID = nobody
	}
	if o.RunAsGID == 0 {
		o.RunAsGID = nobody
	}
	return o
}

// preamble is run with `python -I -c preamble CPU AS NPROC FSIZE PROGRAM`.
// It applies the limits, waits for the parent's go-ahead on stdin, executes
// the program in an empty namespace, and reports to file descriptor 3 "OK"
// on success (so an os._exit(0) inside the program is not a pass) or "ERR\n"
// and the traceback of the program's own process (stderr may also hold the
// tracebacks of processes it forked).
const preamble = `import os, sys, resource, traceback
def _lim(name, v):
    if v <= 0 or not hasattr(resource, name):
        return
    r = getattr(resource, name)
    hard = v + 1 if name == 'RLIMIT_CPU' else v
    try:
        resource.setrlimit(r, (v, hard))
    except (ValueError, OSError) as e:
        sys.stderr.write('sandbox: cannot set %s: %s\n' % (name, e))
_cpu, _as, _nproc, _fsize = (int(x) for x in sys.argv[1:5])
_path = sys.argv[5]
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
_lim('RLIMIT_CPU', _cpu)
_lim('RLIMIT_AS', _as)
_lim('RLIMIT_NPROC', _nproc)
_lim('RLIMIT_FSIZE', _fsize)
_status = os.fdopen(3, 'w')
with open(_path) as _f:
    _src = _f.read()
sys.stdin.buffer.read(1)
sys.argv = ['']
_pid = os.getpid()
try:
    exec(_src, {})
except BaseException as _e:
    try:
        _tb = traceback.format_exc()
    except BaseException:
        _tb = 'Traceback (most recent call last):\n  (unavailable)\n%s\n' % type(_e).__name__
    try:
        sys.stderr.write(_tb)
        sys.stderr.flush()
    except BaseException:
        pass
    if os.getpid() == _pid:
        _status.write('ERR\n' + _tb)
        _status.flush()
    os._exit(1)
try:
    sys.stdout.flush()
    sys.stderr.flush()
except BaseException:
    pass
if os.getpid() == _pid:
    _status.write('OK')
_status.flush()
os._exit(0)
`

// Run executes code with the interpreter under the limits of opts.
// The returned error is for failures of the sandbox itself (no interpreter,
// cannot create the directory, cannot start the process); a program that
// fails, times out or exceeds a limit is reported in Result with a nil error.
func Run(ctx context.Context, code string, opts Options) (Result, error) {
	o := opts.withDefaults()
	python, err := resolvePython(o.Python)
	if err != nil {
		return Result{}, err
	}
	res := Result{Isolation: Isolation{Python: python, UID: os.Geteuid()}}

	root := os.Geteuid() == 0
	uid, gid := -1, -1
	if root && !o.NoPrivilegeDrop {
		if canRunAs(python, o.RunAsUID, o.RunAsGID) {
			uid, gid = o.RunAsUID, o.RunAsGID
		} else {
			warnOnce("nodrop:"+python, "%s cannot be executed by uid %d; running code as root: "+
				"writes outside the sandbox directory are not prevented and RLIMIT_NPROC does not apply "+
				"(a pids cgroup is used when available)", python, o.RunAsUID)
		}
	}

	dir, err := os.MkdirTemp(o.TempRoot, "latentmas-sandbox-")
	if err != nil {
		return res, fmt.Errorf("sandbox: %w", err)
	}
	defer os.RemoveAll(dir)
	prog := filepath.Join(dir, "program.py")
	if err := os.WriteFile(prog, []byte(code), 0o600); err != nil {
		return res, fmt.Errorf("sandbox: %w", err)
	}
	if uid >= 0 {
		if err := os.Chown(dir, uid, gid); err != nil {
			return res, fmt.Errorf("sandbox: %w", err)
		}
		if err := os.Chown(prog, uid, gid); err != nil {
			return res, fmt.Errorf("sandbox: %w", err)
		}
		res.Isolation.UID = uid
	}

	// RLIMIT_NPROC counts every process/thread of the real user, so allow
	// what the user already runs plus MaxProcs. Root is exempt from it.
	nprocLimit := 0
	runUID := os.Getuid()
	if uid >= 0 {
		runUID = uid
	}
	if runUID != 0 {
		nprocLimit = countTasks(runUID) + o.MaxProcs
	}

	cg := newPidsCgroup(o.MaxProcs)
	switch {
	case nprocLimit > 0 && cg != nil:
		res.Isolation.ProcessLimit = "rlimit+cgroup"
	case nprocLimit > 0:
		res.Isolation.ProcessLimit = "rlimit"
	case cg != nil:
		res.Isolation.ProcessLimit = "cgroup"
	default:
		res.Isolation.ProcessLimit = "none"
		warnOnce("noproclimit", "cannot bound the number of processes (running as root without a writable pids cgroup)")
	}
	if cg != nil {
		defer cg.destroy()
	}

	statusR, statusW, err := os.Pipe()
	if err != nil {
		return res, fmt.Errorf("sandbox: %w", err)
	}
	defer statusR.Close()

	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	stdout := &limitedBuffer{max: o.MaxOutputBytes}
	stderr := &limitedBuffer{max: o.MaxOutputBytes}
	newCmd := func() (*exec.Cmd, io.WriteCloser, error) {
		cmd := exec.Command(python, "-I", "-c", preamble,
			strconv.Itoa(o.CPUSeconds), strconv.FormatInt(o.MemoryBytes, 10),
			strconv.Itoa(nprocLimit), strconv.FormatInt(o.MaxFileBytes, 10), prog)
		cmd.Dir = dir
		cmd.Env = []string{
			"HOME=" + dir, "TMPDIR=" + dir, "PATH=/usr/local/bin:/usr/bin:/bin",
			"LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "PYTHONIOENCODING=utf-8",
			"OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1", "MKL_NUM_THREADS=1",
		}
		cmd.Stdout, cmd.Stderr = stdout, stderr
		cmd.ExtraFiles = []*os.File{statusW}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, nil, err
		}
		// Stop waiting for output a moment after the interpreter exits even
		// if something it started still holds the pipes.
		cmd.WaitDelay = 500 * time.Millisecond
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if uid >= 0 {
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
		}
		return cmd, stdin, nil
	}

	cmd, stdin, err := newCmd()
	if err != nil {
		return res, fmt.Errorf("sandbox: %w", err)
	}
	nsNames := applyNamespaces(cmd.SysProcAttr, root)
	start := time.Now()
	err = cmd.Start()
	if err != nil && len(nsNames) > 0 {
		// Namespaces refused (container without the privilege, userns off):
		// run without them, and say so once.
		warnOnce("nons", "cannot create namespaces (%v); code runs with network access and without a PID namespace", err)
		stdin.Close()
		cmd, stdin, err = newCmd()
		if err == nil {
			nsNames = nil
			start = time.Now()
			err = cmd.Start()
		}
	}
	statusW.Close()
	statusCh := make(chan string, 1)
	go func() {
		b := &limitedBuffer{max: 1 << 20}
		io.Copy(b, statusR)
		statusCh <- b.String()
	}()
	if err != nil {
		stdin.Close()
		return res, fmt.Errorf("sandbox: starting %s: %w", python, err)
	}
	res.Isolation.Namespaces = nsNames
	pid := cmd.Process.Pid
	if cg != nil {
		if err := cg.add(pid); err != nil {
			warnOnce("cgadd", "cannot move the program into its pids cgroup: %v", err)
			if res.Isolation.ProcessLimit == "rlimit+cgroup" {
				res.Isolation.ProcessLimit = "rlimit"
			} else {
				res.Isolation.ProcessLimit = "none"
			}
		}
	}
	// Go ahead, then EOF: the program sees an empty stdin, like /dev/null.
	stdin.Write([]byte{'\n'})
	stdin.Close()

	waitDone := make(chan error, 1)
	go func() { waitDone <- cmd.Wait() }()
	var waitErr error
	select {
	case waitErr = <-waitDone:
	case <-ctx.Done():
		killGroup(pid)
		waitErr = <-waitDone
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			res.TimedOut = true
		}
	}
	// Kill anything the program left behind in its group or cgroup.
	killGroup(pid)
	if cg != nil {
		cg.killAll()
	}
	res.Duration = time.Since(start)
	// The status pipe reaches EOF once every holder is gone; something that
	// escaped the group could hold it open, so do not wait long.
	var status string
	select {
	case status = <-statusCh:
	case <-time.After(500 * time.Millisecond):
		statusR.Close()
		status = <-statusCh
	}

	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	res.ExitCode = cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		res.Signal = ws.Signal().String()
	}
	_ = waitErr
	switch {
	case res.TimedOut:
		res.Error = fmt.Sprintf("TimeoutError: Execution exceeded %g seconds", o.Timeout.Seconds())
	case ctx.Err() != nil:
		res.Error = "Cancelled: " + ctx.Err().Error()
	case status == "OK" && res.ExitCode == 0:
		res.OK = true
	case strings.HasPrefix(status, "ERR\n"):
		res.Error = strings.TrimPrefix(status, "ERR\n")
	case res.ExitCode == 1 && strings.Contains(res.Stderr, "Traceback (most recent call last)"):
		res.Error = tracebackOf(res.Stderr)
	case res.Signal != "":
		res.Error = fmt.Sprintf("process killed by signal: %s", res.Signal)
		if res.Signal == syscall.SIGXCPU.String() || res.Signal == syscall.SIGKILL.String() {
			res.Error += fmt.Sprintf(" (CPU limit %d s or memory limit may have been reached)", o.CPUSeconds)
		}
	default:
		res.Error = fmt.Sprintf("process exited with status %d before the program finished", res.ExitCode)
		if s := strings.TrimSpace(res.Stderr); s != "" {
			res.Error += ": " + lastLines(s, 5)
		}
	}
	return res, nil
}

// applyNamespaces sets namespace flags; it returns their names.
func applyNamespaces(a *syscall.SysProcAttr, root bool) []string {
	if root {
		a.Cloneflags = syscall.CLONE_NEWNET | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS
		return []string{"net", "pid", "ipc", "uts"}
	}
	if a.Credential != nil {
		return nil
	}
	uid, gid := os.Getuid(), os.Getgid()
	a.Cloneflags = syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC
	a.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
	a.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
	a.GidMappingsEnableSetgroups = false
	return []string{"user", "net", "pid", "ipc"}
}

func killGroup(pid int) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// tracebackOf returns the traceback part of stderr (from its last
// "Traceback" line), which is what the reference reports as error_msg.
func tracebackOf(stderr string) string {
	i := strings.LastIndex(stderr, "Traceback (most recent call last)")
	if i < 0 {
		return stderr
	}
	return stderr[i:]
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// limitedBuffer keeps the first max bytes written and discards the rest,
// always reporting a full write so the child never blocks on a full pipe.
type limitedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	max       int
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
			b.truncated = true
		} else {
			b.buf.Write(p)
		}
	} else if len(p) > 0 {
		b.truncated = true
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if b.truncated {
		s += "\n[output truncated]"
	}
	return s
}

// countTasks counts the processes' threads owned (real UID) by uid, which is
// what the kernel compares with RLIMIT_NPROC.
func countTasks(uid int) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		var realUID, threads = -1, 1
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 {
				switch f[0] {
				case "Uid:":
					realUID, _ = strconv.Atoi(f[1])
				case "Threads:":
					threads, _ = strconv.Atoi(f[1])
				}
			}
		}
		if realUID == uid {
			n += threads
		}
	}
	return n
}
