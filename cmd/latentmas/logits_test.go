package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/latentmas/latentmas/internal/golden"
)

// goldenSet finds a golden set by name.
func goldenSet(t *testing.T, name string) *golden.Set {
	t.Helper()
	_, sets, err := golden.Discover()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sets {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("golden set %s not found", name)
	return nil
}

// logitsOut is the JSON `latentmas logits` prints.
type logitsOut struct {
	Positions []struct {
		Top []struct {
			ID    int     `json:"id"`
			Logit float32 `json:"logit"`
		} `json:"top"`
	} `json:"positions"`
	LastHidden []float32 `json:"last_hidden"`
}

// logitsOnShortPrompt runs `latentmas logits` with args on qwen3-tiny's
// golden prompt P_short and returns the golden set, its top-k per position
// and the parsed output, which has one entry per prompt position.
func logitsOnShortPrompt(t *testing.T, args ...string) (*golden.Set, golden.TopK, logitsOut) {
	t.Helper()
	g := goldenSet(t, "qwen3-tiny")
	var prompt struct {
		IDs []int `json:"ids"`
	}
	var tk golden.TopK
	for path, v := range map[string]any{"prompts.P_short": &prompt, "prefill.P_short.topk_per_position": &tk} {
		if err := g.Decode(path, v); err != nil {
			t.Fatal(err)
		}
	}
	ids, _ := json.Marshal(prompt.IDs)
	args = append([]string{"logits", "--model", g.Checkpoint, "--ids", strings.Trim(string(ids), "[]")}, args...)
	code, stdout, stderr := run(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res logitsOut
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	if len(res.Positions) != len(prompt.IDs) {
		t.Fatalf("%d positions, want %d", len(res.Positions), len(prompt.IDs))
	}
	return g, tk, res
}

func TestLogitsMatchesGolden(t *testing.T) {
	g, tk, res := logitsOnShortPrompt(t, "--top", "5")
	var hs [][]float32
	if err := g.Decode("prefill.P_short.hidden_states_last_position", &hs); err != nil {
		t.Fatal(err)
	}
	last := hs[len(hs)-1]
	for p, pos := range res.Positions {
		if len(pos.Top) != 5 {
			t.Fatalf("position %d: %d entries, want 5", p, len(pos.Top))
		}
		want := map[int]float32{}
		for i, id := range tk.IDs[p] {
			want[id] = tk.Values[p][i]
		}
		for _, e := range pos.Top {
			w, ok := want[e.ID]
			if !ok || e.Logit-w > 1e-4 || w-e.Logit > 1e-4 {
				t.Errorf("position %d: id %d logit %g not in golden top-20 (%v)", p, e.ID, e.Logit, ok)
			}
		}
	}
	if d, _ := golden.Compare(res.LastHidden, last, 1e-4, 1e-4); d.Exceeds {
		t.Errorf("last hidden differs: max %g", d.MaxAbs)
	}
}

func TestLogitsErrors(t *testing.T) {
	model := goldenModel(t, "qwen3-tiny")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logits", "--ids", "1"}, "--model is required"},
		{[]string{"logits", "--model", model, "--ids", "1,x"}, `"x" is not an integer`},
		{[]string{"logits", "--model", model, "--ids", "999999"}, "token id 999999 out of range"},
		{[]string{"logits", "--model", t.TempDir(), "--ids", "1"}, "config.json"},
		{[]string{"logits", "--model", model, "--ids", "1", "--compute", "f8"}, `--compute "f8": want f32 or bf16`},
	} {
		code, _, stderr := run(t, tc.args...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
	}
}

// --compute bf16 runs and stays within the golden README's bf16-engine
// logits tolerance (5e-2) of the float32 top-1 at every position.
func TestLogitsComputeBF16(t *testing.T) {
	_, tk, res := logitsOnShortPrompt(t, "--top", "1", "--compute", "bf16")
	for p, pos := range res.Positions {
		if d := pos.Top[0].Logit - tk.Values[p][0]; d > 5e-2 || d < -5e-2 {
			t.Errorf("position %d: top logit %g, float32 golden %g", p, pos.Top[0].Logit, tk.Values[p][0])
		}
	}
}

// --compute bf16 on a checkpoint without bf16 weights says it is ignored.
func TestLogitsComputeBF16IgnoredForF32(t *testing.T) {
	code, _, stderr := run(t, "logits", "--model", goldenModel(t, "qwen3-tiny-sharded"), "--ids", "1,2", "--compute", "bf16")
	if code != 0 || !strings.Contains(stderr, "--compute bf16 ignored") || !strings.Contains(stderr, "F32") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// --hugepages (weights copied into huge pages) prints the same logits and
// hidden state, to the bit, as the memory-mapped weights.
func TestLogitsHugePages(t *testing.T) {
	_, _, mapped := logitsOnShortPrompt(t, "--top", "5")
	_, _, huge := logitsOnShortPrompt(t, "--top", "5", "--hugepages")
	if !reflect.DeepEqual(mapped, huge) {
		t.Fatalf("--hugepages output differs:\n%+v\n%+v", huge, mapped)
	}
}
