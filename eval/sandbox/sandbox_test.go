package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testRoot makes a TempRoot that an unprivileged sandbox user can traverse.
func testRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sandbox-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func needPython(t *testing.T) {
	t.Helper()
	if _, err := resolvePython("python3"); err != nil {
		t.Skipf("no usable python3: %v", err)
	}
}

// quick are the options for the fast tests: short limits everywhere.
func quick(root string) Options {
	return Options{Timeout: 2 * time.Second, CPUSeconds: 5, MemoryBytes: 512 << 20, MaxProcs: 16, TempRoot: root}
}

// leftovers lists live processes whose command line mentions root.
func leftovers(root string) []string {
	var found []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(string(data), root) {
			stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			// Zombies waiting for a reaper are already dead.
			if f := strings.Fields(string(stat)); len(f) > 2 && f[2] == "Z" {
				continue
			}
			found = append(found, e.Name())
		}
	}
	return found
}

func assertNoLeftovers(t *testing.T, root string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		left := leftovers(root)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left behind: %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunOutcomes(t *testing.T) {
	needPython(t)
	root := testRoot(t)
	cases := []struct {
		name    string
		code    string
		ok      bool
		errHas  string
		outHas  string
		timeout bool
	}{
		{name: "correct solution", code: "def add(a, b):\n    return a + b\n\nassert add(2, 3) == 5\nprint('fine')\n", ok: true, outHas: "fine"},
		{name: "failing assertion", code: "def add(a, b):\n    return a - b\nassert add(2, 3) == 5\n", errHas: "AssertionError"},
		{name: "syntax error", code: "def f(:\n", errHas: "SyntaxError"},
		// Reference semantics: exec in an empty namespace, so __name__ is
		// "builtins" and a main guard does not run.
		{name: "main guard skipped", code: "if __name__ == '__main__':\n    raise RuntimeError('ran')\n", ok: true},
		{name: "SystemExit(0) fails", code: "import sys\nsys.exit(0)\n", errHas: "SystemExit"},
		{name: "os._exit(0) fails", code: "import os\nos._exit(0)\n", errHas: "exited with status 0"},
		{name: "stdin is empty", code: "import sys\nassert sys.stdin.read() == ''\n", ok: true},
		{name: "infinite loop", code: "while True:\n    pass\n", timeout: true, errHas: "TimeoutError"},
		{name: "sleeping child survives parent", code: "import os, time\nif os.fork() == 0:\n    time.sleep(60)\n", ok: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			res, err := Run(context.Background(), c.code, quick(root))
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.OK != c.ok || res.TimedOut != c.timeout {
				t.Fatalf("OK=%v TimedOut=%v, want %v %v; error=%q stderr=%q", res.OK, res.TimedOut, c.ok, c.timeout, res.Error, res.Stderr)
			}
			if c.ok && res.Error != "" {
				t.Errorf("passing run has error %q", res.Error)
			}
			if !strings.Contains(res.Error, c.errHas) {
				t.Errorf("error %q does not contain %q", res.Error, c.errHas)
			}
			if !strings.Contains(res.Stdout, c.outHas) {
				t.Errorf("stdout %q does not contain %q", res.Stdout, c.outHas)
			}
			if el := time.Since(start); el > 6*time.Second {
				t.Errorf("took %v with a 2 s limit", el)
			}
			assertNoLeftovers(t, root)
		})
	}
}

func TestForkBombContained(t *testing.T) {
	needPython(t)
	root := testRoot(t)
	code := "import os\nwhile True:\n    os.fork()\n"
	res, err := Run(context.Background(), code, quick(root))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("isolation %+v, error %q", res.Isolation, firstLine(res.Error))
	if res.OK {
		t.Fatal("fork bomb reported as passing")
	}
	if res.Isolation.ProcessLimit == "none" {
		t.Skip("no process limit available here; only the timeout stops a fork bomb")
	}
	// Contained by the process limit: fork fails with EAGAIN long before the
	// wall-clock limit.
	if res.TimedOut || !strings.Contains(res.Error, "BlockingIOError") {
		t.Errorf("want a BlockingIOError from the process limit, got TimedOut=%v error %q", res.TimedOut, res.Error)
	}
	assertNoLeftovers(t, root)
}

func TestMemoryHogFailsCleanly(t *testing.T) {
	needPython(t)
	root := testRoot(t)
	for _, code := range []string{
		"x = bytearray(8 << 30)\n",
		"chunks = []\nwhile True:\n    chunks.append(bytearray(64 << 20))\n",
	} {
		opts := quick(root)
		opts.MemoryBytes = 256 << 20
		// Generous: touching the memory is slow on a loaded machine, and the
		// point is that the limit, not the clock, stops the program.
		opts.Timeout = 15 * time.Second
		res, err := Run(context.Background(), code, opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK || res.TimedOut || !strings.Contains(res.Error, "MemoryError") {
			t.Errorf("%q: OK=%v TimedOut=%v error %q; want a MemoryError", code, res.OK, res.TimedOut, res.Error)
		}
	}
	assertNoLeftovers(t, root)
}

func TestWriteOutsideSandbox(t *testing.T) {
	needPython(t)
	root := testRoot(t)
	outside := t.TempDir() // stands for "anywhere outside the sandbox"
	target := filepath.Join(outside, "escaped.txt")
	home, _ := os.UserHomeDir()
	cwd, _ := os.Getwd()
	code := `import os
open('relative.txt', 'w').write('x')
open(os.path.expanduser('~/home.txt'), 'w').write('x')
assert os.getcwd() == os.environ['HOME'] == os.environ['TMPDIR']
try:
    open(` + pyQuote(target) + `, 'w').write('x')
    print('outside write succeeded')
except PermissionError:
    print('outside write denied')
`
	res, err := Run(context.Background(), code, quick(root))
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Fatalf("program failed: %s", res.Error)
	}
	for _, p := range []string{filepath.Join(cwd, "relative.txt"), filepath.Join(home, "home.txt")} {
		if _, err := os.Stat(p); err == nil {
			os.Remove(p)
			t.Errorf("sandboxed write landed in %s", p)
		}
	}
	if res.Isolation.UID == os.Geteuid() {
		// No privilege drop (not root, or the interpreter is not usable by
		// the unprivileged user): absolute paths the caller may write to
		// stay writable; cwd and HOME are still the sandbox directory.
		t.Logf("program ran as uid %d like the caller (interpreter %s): absolute writes are not prevented; stdout %q",
			res.Isolation.UID, res.Isolation.Python, res.Stdout)
		return
	}
	if !strings.Contains(res.Stdout, "outside write denied") {
		t.Errorf("stdout %q: want the outside write denied", res.Stdout)
	}
	if _, err := os.Stat(target); err == nil {
		t.Errorf("file written outside the sandbox: %s", target)
	}
}

// TestUnprivilegedInterpreter exercises the privilege drop with an
// interpreter every user can run, when we are root and one exists.
func TestUnprivilegedInterpreter(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("privilege drop applies to root only")
	}
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	root := testRoot(t)
	outside := t.TempDir()
	target := filepath.Join(outside, "escaped.txt")
	opts := quick(root)
	opts.Python = py
	code := "import os\nassert os.getuid() != 0\nopen(" + pyQuote(target) + ", 'w').write('x')\n"
	res, err := Run(context.Background(), code, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Isolation.UID == 0 {
		t.Skipf("%s is not usable by uid %d here", py, nobody)
	}
	if res.OK || !strings.Contains(res.Error, "PermissionError") {
		t.Errorf("want PermissionError writing outside, got OK=%v error %q", res.OK, res.Error)
	}
	if _, err := os.Stat(target); err == nil {
		t.Errorf("file written outside the sandbox")
	}
	if !strings.Contains(res.Isolation.ProcessLimit, "rlimit") {
		t.Errorf("process limit %q, want rlimit enforced for the unprivileged user", res.Isolation.ProcessLimit)
	}
	// The fork bomb is contained by RLIMIT_NPROC here too.
	res, err = Run(context.Background(), "import os\nwhile True:\n    os.fork()\n", opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || res.TimedOut || !strings.Contains(res.Error, "BlockingIOError") {
		t.Errorf("fork bomb as uid %d: OK=%v TimedOut=%v error %q", res.Isolation.UID, res.OK, res.TimedOut, firstLine(res.Error))
	}
	assertNoLeftovers(t, root)
}

func TestNoNetwork(t *testing.T) {
	needPython(t)
	code := "import socket\ns = socket.create_connection(('1.1.1.1', 53), timeout=1)\n"
	res, err := Run(context.Background(), code, quick(testRoot(t)))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Isolation.NetworkIsolated() {
		t.Skip("no network namespace available here")
	}
	if res.OK || !strings.Contains(res.Error, "OSError") && !strings.Contains(res.Error, "unreachable") {
		t.Errorf("connection from the sandbox: OK=%v error %q", res.OK, res.Error)
	}
}

func TestMissingPython(t *testing.T) {
	for _, py := range []string{"/nonexistent/python3", "python3-does-not-exist-here"} {
		_, err := Run(context.Background(), "pass\n", Options{Python: py})
		if !errors.Is(err, ErrPythonNotFound) {
			t.Errorf("%s: error %v, want ErrPythonNotFound", py, err)
		}
		if err != nil && !strings.Contains(err.Error(), py) {
			t.Errorf("error %q does not name the interpreter", err)
		}
	}
}

func TestContextCancel(t *testing.T) {
	needPython(t)
	root := testRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	opts := quick(root)
	opts.Timeout = 10 * time.Second
	start := time.Now()
	res, err := Run(ctx, "import time\ntime.sleep(30)\n", opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled run: OK=%v after %v", res.OK, time.Since(start))
	}
	assertNoLeftovers(t, root)
}

func TestOutputCapped(t *testing.T) {
	needPython(t)
	opts := quick(testRoot(t))
	opts.MaxOutputBytes = 1000
	res, err := Run(context.Background(), "print('y' * 100000)\n", opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || len(res.Stdout) > 1100 || !strings.HasSuffix(res.Stdout, "[output truncated]") {
		t.Errorf("OK=%v stdout length %d", res.OK, len(res.Stdout))
	}
}

func pyQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

func firstLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
