package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/latentmas/latentmas/internal/golden"
)

func TestLogitsMatchesGolden(t *testing.T) {
	_, sets, err := golden.Discover()
	if err != nil {
		t.Fatal(err)
	}
	var g *golden.Set
	for _, s := range sets {
		if s.Name == "qwen3-tiny" {
			g = s
		}
	}
	if g == nil {
		t.Fatal("golden set qwen3-tiny not found")
	}
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
	} {
		code, _, stderr := run(t, tc.args...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
	}
}
