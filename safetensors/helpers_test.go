package safetensors

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goldenDir returns $LATENTMAS_GOLDEN, or ../shared/golden relative to the
// repository root (the directory holding go.mod), and whether it exists.
func goldenDir() (string, bool) {
	root := os.Getenv("LATENTMAS_GOLDEN")
	if root == "" {
		dir, err := os.Getwd()
		if err != nil {
			return "", false
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return "", false
			}
			dir = parent
		}
		root = filepath.Join(dir, "..", "shared", "golden")
	}
	_, err := os.Stat(root)
	return root, err == nil
}

// goldenRoot returns the golden data directory, skipping the test when it is
// absent.
func goldenRoot(tb testing.TB) string {
	tb.Helper()
	root, ok := goldenDir()
	if !ok {
		tb.Skipf("golden data not available (LATENTMAS_GOLDEN=%q, default ../shared/golden from the repository root)", os.Getenv("LATENTMAS_GOLDEN"))
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

// goldenSeeds returns, for each golden checkpoint file, its 8-byte prefix and
// header cut down to "__metadata__" and the first keep tensor entries (in the
// file's own bytes, re-terminated and re-padded), followed by the first extra
// bytes of its real data buffer. None when the golden data is absent.
//
// Whole golden headers (3-4 KB) make poor fuzz seeds: every mutant that finds
// new coverage is minimized, which costs time quadratic in the input length
// and stalls a 20-second fuzz run. The smallest golden header (the second
// shard's) is short enough to keep whole.
func goldenSeeds(tb testing.TB, keep, extra int) [][]byte {
	root, ok := goldenDir()
	if !ok {
		return nil
	}
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
		hlen := int(binary.LittleEndian.Uint64(n[:]))
		buf := make([]byte, 8+hlen+extra)
		if _, err := f.ReadAt(buf, 0); err != nil {
			tb.Fatal(err)
		}
		f.Close()
		hdr, data := buf[8:8+hlen], buf[8+hlen:]
		s := scanner{b: hdr}
		if err := s.eat('{'); err != nil {
			tb.Fatal(err)
		}
		cut, tensors := len(hdr), 0
		for first := true; ; first = false {
			more, err := s.next(first, '}')
			if err != nil {
				tb.Fatal(err)
			}
			if !more {
				break
			}
			key, err := s.str()
			if err == nil {
				err = s.eat(':')
			}
			if err == nil {
				err = s.skip(0)
			}
			if err != nil {
				tb.Fatal(err)
			}
			if key != metadataKey {
				tensors++
			}
			if tensors == keep {
				cut = s.i
				break
			}
		}
		trimmed := string(hdr)
		if cut < len(hdr) {
			trimmed = string(hdr[:cut]) + "}"
			for len(trimmed)%8 != 0 {
				trimmed += " "
			}
		}
		out = append(out, rawFile(trimmed, data))
	}
	return out
}

func errorIs(err, target error) bool { return errors.Is(err, target) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
