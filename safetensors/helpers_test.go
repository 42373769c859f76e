package safetensors

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenRoot returns $LATENTMAS_GOLDEN, or ../shared/golden relative to the
// repository root (the directory holding go.mod), skipping the test when the
// golden tree is absent.
func goldenRoot(tb testing.TB) string {
	tb.Helper()
	root := os.Getenv("LATENTMAS_GOLDEN")
	if root == "" {
		dir, err := os.Getwd()
		if err != nil {
			tb.Fatal(err)
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				tb.Skip("golden data: no go.mod above the test directory and LATENTMAS_GOLDEN unset")
			}
			dir = parent
		}
		root = filepath.Join(dir, "..", "shared", "golden")
	}
	if _, err := os.Stat(root); err != nil {
		tb.Skipf("golden data not available at %s: %v", root, err)
	}
	return root
}

// rawFile builds a safetensors file from a literal header and data buffer,
// without padding the header.
func rawFile(header string, data []byte) []byte {
	out := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(out, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

// goldenHeads returns the first 8+N+extra bytes of the golden checkpoint
// files (header plus a little data), for fuzz seeds.
func goldenHeads(tb testing.TB, extra int) [][]byte {
	root := goldenRoot(tb)
	paths, _ := filepath.Glob(filepath.Join(root, "models", "*", "*.safetensors"))
	var out [][]byte
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			tb.Fatal(err)
		}
		var n [8]byte
		if _, err := f.ReadAt(n[:], 0); err != nil {
			tb.Fatal(err)
		}
		size := 8 + int(binary.LittleEndian.Uint64(n[:])) + extra
		buf := make([]byte, size)
		if _, err := f.ReadAt(buf, 0); err != nil {
			tb.Fatal(err)
		}
		f.Close()
		out = append(out, buf)
	}
	return out
}

func errorIs(err, target error) bool { return errors.Is(err, target) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
