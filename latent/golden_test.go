package latent

import (
	"fmt"
	"math"
	"sort"
	"testing"

	"github.com/latentmas/latentmas/internal/golden"
	"github.com/latentmas/latentmas/model/qwen"
)

type goldenCase struct {
	set   *golden.Set
	dir   string
	model *qwen.Model
}

// goldenLatent loads every golden model that has a latent section.
func goldenLatent(t *testing.T) []goldenCase {
	t.Helper()
	root, sets, err := golden.Discover()
	if err != nil {
		t.Fatal(err)
	}
	var out []goldenCase
	for _, s := range sets {
		if !s.Has("latent") {
			continue
		}
		for _, dir := range s.Checkpoints(root) {
			m, err := qwen.Load(dir, qwen.Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			t.Logf("checking %s against golden %s", dir, s.Name)
			out = append(out, goldenCase{s, dir, m})
		}
	}
	if len(out) == 0 {
		t.Fatal("no golden model with a latent section")
	}
	return out
}

func decode(t *testing.T, s *golden.Set, path string, v any) {
	t.Helper()
	if err := s.Decode(path, v); err != nil {
		t.Fatal(err)
	}
}

func array(t *testing.T, s *golden.Set, name string) []float32 {
	t.Helper()
	a, _, err := s.Array(name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func flat(v [][]float32) []float32 {
	var out []float32
	for _, r := range v {
		out = append(out, r...)
	}
	return out
}

func cacheKV(c *qwen.Cache, m *qwen.Model) []float32 {
	var ks, vs [][]float32
	for l := 0; l < c.Layers(); l++ {
		k, v := c.Layer(l)
		ks, vs = append(ks, k), append(vs, v)
	}
	return golden.KV(ks, vs, m.Config.NumKVHeads, m.Config.HeadDim)
}

func argmax(x []float32) int {
	b := 0
	for i, v := range x {
		if v > x[b] {
			b = i
		}
	}
	return b
}

func TestGoldenLatentRollout(t *testing.T) {
	for _, g := range goldenLatent(t) {
		var modes map[string]any
		decode(t, g.set, "latent", &modes)
		names := make([]string, 0, len(modes))
		for k := range modes {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, mode := range names {
			t.Run(g.set.Name+"/"+mode, func(t *testing.T) {
				p := "latent." + mode + "."
				var spec struct {
					Steps        int               `json:"latent_steps"`
					Agent1       string            `json:"agent1_prompt"`
					Agent2       string            `json:"agent2_prompt"`
					TargetNorm   float64           `json:"target_norm"`
					Arrays       map[string]string `json:"arrays"`
					PromptLastH  []float32         `json:"prompt_last_hidden"`
					KVLen        int               `json:"kv_final_seq_len"`
					Agent2Greedy struct {
						Start  int   `json:"start_position"`
						Greedy []int `json:"greedy_ids"`
					} `json:"agent2"`
				}
				decode(t, g.set, p[:len(p)-1], &spec)
				var a1, a2 struct {
					IDs []int `json:"ids"`
				}
				decode(t, g.set, "prompts."+spec.Agent1, &a1)
				decode(t, g.set, "prompts."+spec.Agent2, &a2)

				r, _, err := BuildRealigner(g.model, RealignOptions{Enabled: mode == "realign_on", Lambda: 1e-5})
				if err != nil {
					t.Fatal(err)
				}
				golden.Check(t, "realign matrix", r.M(), array(t, g.set, spec.Arrays["realign_matrix"]), 1e-5, 0)
				if d := math.Abs(float64(r.TargetNorm)-spec.TargetNorm) / spec.TargetNorm; d > 1e-6 {
					t.Errorf("target norm %g, want %g (rel %g)", r.TargetNorm, spec.TargetNorm, d)
				}

				c := g.model.NewCache(256)
				tr := &Trace{}
				ro := &Rollout{Model: g.model, Realign: r, Steps: spec.Steps}
				if err := ro.Run([]Agent{{Cache: c, IDs: a1.IDs, Trace: tr}}); err != nil {
					t.Fatal(err)
				}
				golden.Check(t, "prompt last hidden", tr.PromptLastHidden, spec.PromptLastH, 1e-4, 1e-4)
				golden.Check(t, "latent_pre_rescale", flat(tr.PreRescale), array(t, g.set, spec.Arrays["latent_pre_rescale"]), 1e-5, 0)
				golden.Check(t, "latent_in", flat(tr.LatentIn), array(t, g.set, spec.Arrays["latent_in"]), 1e-5, 0)
				golden.Check(t, "hidden_after", flat(tr.HiddenAfter), array(t, g.set, spec.Arrays["hidden_after"]), 1e-4, 1e-4)
				if c.Len() != spec.KVLen {
					t.Fatalf("cache length %d, want %d", c.Len(), spec.KVLen)
				}
				golden.Check(t, "kv_final", cacheKV(c, g.model), array(t, g.set, spec.Arrays["kv_final"]), 1e-4, 1e-4)

				// Agent 2 appends its prompt on top of the working memory.
				if c.NextPos() != spec.Agent2Greedy.Start {
					t.Fatalf("agent 2 starts at position %d, want %d", c.NextPos(), spec.Agent2Greedy.Start)
				}
				out, err := g.model.Forward([]qwen.Seq{{Cache: c, IDs: a2.IDs}}, qwen.Request{Logits: qwen.LogitsLast})
				if err != nil {
					t.Fatal(err)
				}
				golden.Check(t, "agent2 last logits", out.LogitsRow(0), array(t, g.set, spec.Arrays["agent2_last_logits"]), 1e-4, 0)
				var ids []int
				for len(ids) < len(spec.Agent2Greedy.Greedy) {
					id := argmax(out.LogitsRow(0))
					ids = append(ids, id)
					if out, err = g.model.Forward([]qwen.Seq{{Cache: c, IDs: []int{id}}}, qwen.Request{Logits: qwen.LogitsLast}); err != nil {
						t.Fatal(err)
					}
				}
				if fmt.Sprint(ids) != fmt.Sprint(spec.Agent2Greedy.Greedy) {
					t.Errorf("agent 2 greedy ids\n got %v\nwant %v", ids, spec.Agent2Greedy.Greedy)
				}
			})
		}
	}
}
