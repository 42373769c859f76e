package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/latentmas/latentmas/internal/golden"
)

// run calls the CLI in-process and returns exit code, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runMain(args, &out, &errb)
	return code, out.String(), errb.String()
}

// goldenModel returns the path of a golden checkpoint by directory name.
func goldenModel(t *testing.T, name string) string {
	t.Helper()
	root, err := golden.Root()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "models", name)
}
