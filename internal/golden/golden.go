// Package golden reads the Hugging Face reference outputs under
// $LATENTMAS_GOLDEN (default ../shared/golden beside the repository): it
// discovers every */golden.json, resolves checkpoint directories against the
// root, and loads the raw float32 arrays listed in each manifest.json,
// verifying their sha256. It is test support only: a leaf that imports
// nothing of the project.
package golden

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Root returns the golden directory: $LATENTMAS_GOLDEN, or ../shared/golden
// relative to the directory holding go.mod.
func Root() (string, error) {
	if r := os.Getenv("LATENTMAS_GOLDEN"); r != "" {
		return r, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "golden"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("golden: no go.mod above the working directory; set LATENTMAS_GOLDEN")
		}
		dir = parent
	}
}

// Set is one golden.json with its arrays.
type Set struct {
	Name       string         // directory name, e.g. "qwen3-tiny"
	Dir        string         // directory holding golden.json
	Checkpoint string         // checkpoint_dir resolved against the root ("" if none)
	JSON       map[string]any // golden.json, decoded
	Raw        []byte         // golden.json bytes, for typed decoding
	manifest   map[string]arrayInfo
}

// Checkpoints lists the checkpoint directories this golden set applies to:
// its own checkpoint_dir, plus any other model directory under
// <root>/models that declares (in a *CHECK.json note) that it uses this
// set's golden outputs unchanged, such as a sharded copy of the same weights.
func (s *Set) Checkpoints(root string) []string {
	if s.Checkpoint == "" {
		return nil
	}
	out := []string{s.Checkpoint}
	dirs, _ := filepath.Glob(filepath.Join(root, "models", "*"))
	use := regexp.MustCompile(`\buse ` + regexp.QuoteMeta(s.Name) + `/? golden`)
	for _, d := range dirs {
		if filepath.Clean(d) == filepath.Clean(s.Checkpoint) {
			continue
		}
		notes, _ := filepath.Glob(filepath.Join(d, "*CHECK.json"))
		for _, n := range notes {
			b, err := os.ReadFile(n)
			if err == nil && use.Match(b) {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

type arrayInfo struct {
	File   string `json:"file"`
	DType  string `json:"dtype"`
	Shape  []int  `json:"shape"`
	SHA256 string `json:"sha256"`
}

// Discover loads every <root>/*/golden.json, sorted by name.
func Discover() (root string, sets []*Set, err error) {
	root, err = Root()
	if err != nil {
		return "", nil, err
	}
	paths, err := filepath.Glob(filepath.Join(root, "*", "golden.json"))
	if err != nil {
		return "", nil, err
	}
	if len(paths) == 0 {
		return "", nil, fmt.Errorf("golden: no */golden.json under %s (set LATENTMAS_GOLDEN)", root)
	}
	sort.Strings(paths)
	for _, p := range paths {
		s, err := load(root, p)
		if err != nil {
			return "", nil, err
		}
		sets = append(sets, s)
	}
	return root, sets, nil
}

func load(root, path string) (*Set, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := &Set{Dir: filepath.Dir(path), Name: filepath.Base(filepath.Dir(path)), Raw: raw}
	if err := json.Unmarshal(raw, &s.JSON); err != nil {
		return nil, fmt.Errorf("golden: %s: %w", path, err)
	}
	if cd, ok := s.JSON["checkpoint_dir"].(string); ok && cd != "" {
		s.Checkpoint = filepath.Join(root, cd)
	}
	var man struct {
		Arrays map[string]arrayInfo `json:"arrays"`
	}
	if b, err := os.ReadFile(filepath.Join(s.Dir, "manifest.json")); err == nil {
		if err := json.Unmarshal(b, &man); err != nil {
			return nil, fmt.Errorf("golden: %s/manifest.json: %w", s.Dir, err)
		}
	}
	s.manifest = man.Arrays
	return s, nil
}

// Array loads a float32 array by manifest name, checking size and sha256.
func (s *Set) Array(name string) ([]float32, []int, error) {
	name = strings.TrimPrefix(name, "arrays.")
	info, ok := s.manifest[name]
	if !ok {
		return nil, nil, fmt.Errorf("golden: %s: no array %q in manifest.json", s.Name, name)
	}
	if info.DType != "float32" {
		return nil, nil, fmt.Errorf("golden: %s: array %q has dtype %s", s.Name, name, info.DType)
	}
	b, err := os.ReadFile(filepath.Join(s.Dir, info.File))
	if err != nil {
		return nil, nil, err
	}
	n := 1
	for _, d := range info.Shape {
		n *= d
	}
	if len(b) != 4*n {
		return nil, nil, fmt.Errorf("golden: %s: %s has %d bytes, shape %v needs %d", s.Name, info.File, len(b), info.Shape, 4*n)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != info.SHA256 {
		return nil, nil, fmt.Errorf("golden: %s: %s sha256 mismatch", s.Name, info.File)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, info.Shape, nil
}

// Decode unmarshals the value at a dotted path of golden.json (e.g.
// "prefill.P_short.topk_per_position") into v.
func (s *Set) Decode(path string, v any) error {
	var cur any = s.JSON
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return fmt.Errorf("golden: %s: %q: %q is not an object", s.Name, path, k)
		}
		if cur, ok = m[k]; !ok {
			return fmt.Errorf("golden: %s: no key %q in %q", s.Name, k, path)
		}
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// Has reports whether a dotted path exists.
func (s *Set) Has(path string) bool {
	var cur any = s.JSON
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[k]; !ok {
			return false
		}
	}
	return true
}

// Diff is the worst element-wise disagreement between got and want.
type Diff struct {
	MaxAbs  float64 // max |got-want|
	Index   int     // where the tolerance is exceeded the most
	Got     float32
	Want    float32
	Exceeds bool // some element has |got-want| > atol + rtol·|want|
}

// Compare checks |got-want| ≤ atol + rtol·|want| element-wise.
func Compare(got, want []float32, atol, rtol float64) (Diff, error) {
	if len(got) != len(want) {
		return Diff{}, fmt.Errorf("length %d, want %d", len(got), len(want))
	}
	var d Diff
	worst := math.Inf(-1)
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		e := math.Abs(g - w)
		if math.IsNaN(g) {
			e = math.Inf(1)
		}
		d.MaxAbs = math.Max(d.MaxAbs, e)
		if over := e - (atol + rtol*math.Abs(w)); over > worst {
			worst, d.Index, d.Got, d.Want = over, i, got[i], want[i]
		}
	}
	d.Exceeds = worst > 0
	return d, nil
}

// KV reorders position-major caches (per layer: keys and values [T, KV*hd])
// into the golden layout [L, 2, KV, T, hd].
func KV(keys, values [][]float32, kvHeads, hd int) []float32 {
	var out []float32
	for l := range keys {
		for _, src := range [][]float32{keys[l], values[l]} {
			T := len(src) / (kvHeads * hd)
			for h := 0; h < kvHeads; h++ {
				for p := 0; p < T; p++ {
					out = append(out, src[(p*kvHeads+h)*hd:(p*kvHeads+h+1)*hd]...)
				}
			}
		}
	}
	return out
}
