package main

import (
	"encoding/json"
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

func TestLogitsMatchesGolden(t *testing.T) {
	g := goldenSet(t, "qwen3-tiny")
	var prompt struct {
		IDs []int `json:"ids"`
	}
	var tk struct {
		IDs    [][]int     `json:"ids"`
		Values [][]float32 `json:"values"`
	}
	var last []float32
	for path, v := range map[string]any{"prompts.P_short": &prompt, "prefill.P_short.topk_per_position": &tk} {
		if err := g.Decode(path, v); err != nil {
			t.Fatal(err)
		}
	}
	var hs [][]float32
	if err := g.Decode("prefill.P_short.hidden_states_last_position", &hs); err != nil {
		t.Fatal(err)
	}
	last = hs[len(hs)-1]

	ids, _ := json.Marshal(prompt.IDs)
	code, stdout, stderr := run(t, "logits", "--model", g.Checkpoint, "--ids", strings.Trim(string(ids), "[]"), "--top", "5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Positions []struct {
			Top []struct {
				ID    int     `json:"id"`
				Logit float32 `json:"logit"`
			} `json:"top"`
		} `json:"positions"`
		LastHidden []float32 `json:"last_hidden"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	if len(res.Positions) != len(prompt.IDs) {
		t.Fatalf("%d positions, want %d", len(res.Positions), len(prompt.IDs))
	}
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
// logits tolerance (5e-2) of the float32 top-20 at every position.
func TestLogitsComputeBF16(t *testing.T) {
	g := goldenSet(t, "qwen3-tiny")
	var prompt struct {
		IDs []int `json:"ids"`
	}
	var tk struct {
		IDs    [][]int     `json:"ids"`
		Values [][]float32 `json:"values"`
	}
	for path, v := range map[string]any{"prompts.P_short": &prompt, "prefill.P_short.topk_per_position": &tk} {
		if err := g.Decode(path, v); err != nil {
			t.Fatal(err)
		}
	}
	ids, _ := json.Marshal(prompt.IDs)
	code, stdout, stderr := run(t, "logits", "--model", g.Checkpoint, "--ids", strings.Trim(string(ids), "[]"), "--top", "1", "--compute", "bf16")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Positions []struct {
			Top []struct {
				ID    int     `json:"id"`
				Logit float32 `json:"logit"`
			} `json:"top"`
		} `json:"positions"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	if len(res.Positions) != len(prompt.IDs) {
		t.Fatalf("%d positions, want %d", len(res.Positions), len(prompt.IDs))
	}
	for p, pos := range res.Positions {
		// The bf16 top-1 logit is within 5e-2 of the float32 maximum.
		if d := pos.Top[0].Logit - tk.Values[p][0]; d > 5e-2 || d < -5e-2 {
			t.Errorf("position %d: top logit %g, float32 golden %g", p, pos.Top[0].Logit, tk.Values[p][0])
		}
	}
}
