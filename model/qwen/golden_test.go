package qwen

import (
	"fmt"
	"github.com/latentmas/latentmas/internal/golden"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"testing"
)

// Tolerances from golden/README.md §5 for a float32 engine.
const (
	logitsAtol = 1e-4
	stateAtol  = 1e-4 // hidden states and KV: atol + rtol·|want|
	stateRtol  = 1e-4
)

// goldenModels yields every (golden set, checkpoint) pair with prefill data,
// loading each checkpoint once.
func goldenModels(t *testing.T) []goldenModel {
	t.Helper()
	root, sets, err := golden.Discover()
	if err != nil {
		t.Fatal(err)
	}
	var out []goldenModel
	for _, s := range sets {
		if !s.Has("prefill") {
			continue
		}
		for _, dir := range s.Checkpoints(root) {
			out = append(out, goldenModel{set: s, dir: dir})
		}
	}
	if len(out) == 0 {
		t.Fatalf("no golden model with prefill data under %s", root)
	}
	return out
}

type goldenModel struct {
	set *golden.Set
	dir string
}

func (g goldenModel) name() string { return g.set.Name + "@" + filepath.Base(g.dir) }

func (g goldenModel) load(t *testing.T, threads int) *Model {
	t.Helper()
	m, err := Load(g.dir, Options{Threads: threads})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	t.Logf("checking %s against golden %s (%s, %d layers)", g.dir, g.set.Name, m.Config.ModelType, m.Config.NumLayers)
	return m
}

// kvToGolden reorders a cache into the golden layout [L, 2, KV, T, hd].
func kvToGolden(c *Cache, kvHeads, hd int) []float32 {
	var ks, vs [][]float32
	for l := 0; l < c.Layers(); l++ {
		k, v := c.Layer(l)
		ks, vs = append(ks, k), append(vs, v)
	}
	return golden.KV(ks, vs, kvHeads, hd)
}

func TestGoldenPrefill(t *testing.T) {
	for _, g := range goldenModels(t) {
		t.Run(g.name(), func(t *testing.T) {
			m := g.load(t, 2)
			var prefill map[string]any
			if err := g.set.Decode("prefill", &prefill); err != nil {
				t.Fatal(err)
			}
			for _, P := range slices.Sorted(maps.Keys(prefill)) {
				t.Run(P, func(t *testing.T) {
					ids := g.set.PromptIDs(t, P)
					T, V, D := len(ids), m.Config.VocabSize, m.Config.HiddenSize
					c := m.NewCache(T)
					out, err := m.Forward([]Seq{{Cache: c, IDs: ids}}, Request{Logits: LogitsAll, HiddenStates: true})
					if err != nil {
						t.Fatal(err)
					}
					var tk golden.TopK
					if err := g.set.Decode("prefill."+P+".topk_per_position", &tk); err != nil {
						t.Fatal(err)
					}
					if len(tk.IDs) != T {
						t.Fatalf("golden top-k has %d positions, prompt has %d", len(tk.IDs), T)
					}
					for p := 0; p < T; p++ {
						golden.CheckTopK(t, fmt.Sprintf("top-k at position %d", p), out.LogitsRow(p), tk.IDs[p], tk.Values[p], logitsAtol)
					}
					var arrays map[string]string
					if err := g.set.Decode("prefill."+P+".arrays", &arrays); err != nil {
						t.Fatal(err)
					}
					var hs []float32
					for _, h := range out.HiddenStates {
						hs = append(hs, h...)
					}
					gots := map[string]struct {
						v          []float32
						atol, rtol float64
					}{
						"logits_all":     {out.Logits[:T*V], logitsAtol, 0},
						"logits_last":    {out.LogitsRow(T - 1), logitsAtol, 0},
						"hidden_states":  {hs, stateAtol, stateRtol},
						"final_prenorm":  {out.PreNorm, stateAtol, stateRtol},
						"final_postnorm": {out.Hidden[:T*D], stateAtol, stateRtol},
						"kv":             {kvToGolden(c, m.Config.NumKVHeads, m.Config.HeadDim), stateAtol, stateRtol},
					}
					for key, name := range arrays {
						want, _, err := g.set.Array(name)
						if err != nil {
							t.Fatal(err)
						}
						got, ok := gots[key]
						if !ok {
							t.Errorf("golden prefill array %q is not checked", key)
							continue
						}
						golden.Check(t, key, got.v, want, got.atol, got.rtol)
					}
				})
			}
		})
	}
}

func TestGoldenIncremental(t *testing.T) {
	for _, g := range goldenModels(t) {
		t.Run(g.name(), func(t *testing.T) {
			m := g.load(t, 2)
			var inc map[string]any
			if err := g.set.Decode("incremental", &inc); err != nil {
				t.Fatal(err)
			}
			for _, P := range slices.Sorted(maps.Keys(inc)) {
				t.Run(P, func(t *testing.T) {
					var spec struct {
						First int `json:"prefill_first_n"`
					}
					if err := g.set.Decode("incremental."+P, &spec); err != nil {
						t.Fatal(err)
					}
					ids := g.set.PromptIDs(t, P)
					var tk golden.TopK
					if err := g.set.Decode("prefill."+P+".topk_per_position", &tk); err != nil {
						t.Fatal(err)
					}
					c := m.NewCache(4)
					out, err := m.Forward([]Seq{{Cache: c, IDs: ids[:spec.First]}}, Request{Logits: LogitsAll})
					if err != nil {
						t.Fatal(err)
					}
					for p := 0; p < spec.First; p++ {
						golden.CheckTopK(t, fmt.Sprintf("prefill position %d", p), out.LogitsRow(p), tk.IDs[p], tk.Values[p], logitsAtol)
					}
					for p := spec.First; p < len(ids); p++ {
						out, err := m.Forward([]Seq{{Cache: c, IDs: ids[p : p+1]}}, Request{Logits: LogitsLast})
						if err != nil {
							t.Fatal(err)
						}
						golden.CheckTopK(t, fmt.Sprintf("decode position %d", p), out.LogitsRow(0), tk.IDs[p], tk.Values[p], logitsAtol)
					}
					var arrays map[string]string
					if err := g.set.Decode("prefill."+P+".arrays", &arrays); err != nil {
						t.Fatal(err)
					}
					want, _, err := g.set.Array(arrays["kv"])
					if err != nil {
						t.Fatal(err)
					}
					golden.Check(t, "incremental kv", kvToGolden(c, m.Config.NumKVHeads, m.Config.HeadDim), want, stateAtol, stateRtol)
				})
			}
		})
	}
}

func TestGoldenGreedy(t *testing.T) {
	for _, g := range goldenModels(t) {
		t.Run(g.name(), func(t *testing.T) {
			m := g.load(t, 1)
			var greedy map[string]any
			if err := g.set.Decode("greedy", &greedy); err != nil {
				t.Fatal(err)
			}
			for _, P := range slices.Sorted(maps.Keys(greedy)) {
				t.Run(P, func(t *testing.T) {
					var spec struct {
						IDs []int `json:"ids"`
					}
					if err := g.set.Decode("greedy."+P, &spec); err != nil {
						t.Fatal(err)
					}
					got, err := m.Greedy(m.NewCache(64), g.set.PromptIDs(t, P), len(spec.IDs), nil)
					if err != nil {
						t.Fatal(err)
					}
					if fmt.Sprint(got) != fmt.Sprint(spec.IDs) {
						t.Errorf("greedy ids\n got %v\nwant %v", got, spec.IDs)
					}
				})
			}
		})
	}
}

// TestLoadHugePages: a model whose weights were copied into huge pages
// (Options.HugePages) gives the same bits as the memory-mapped one, on every
// golden checkpoint, with its files unmapped (Load closes them).
func TestLoadHugePages(t *testing.T) {
	for _, g := range goldenModels(t) {
		t.Run(g.name(), func(t *testing.T) {
			mapped := g.load(t, 2)
			huge, err := Load(g.dir, Options{Threads: 2, HugePages: true})
			if err != nil {
				t.Fatal(err)
			}
			defer huge.Close()
			ids := make([]int, 9)
			for i := range ids {
				ids[i] = (i*31 + 7) % mapped.Config.VocabSize
			}
			var logits [2][]float32
			for i, m := range []*Model{mapped, huge} {
				out, err := m.Forward([]Seq{{Cache: m.NewCache(len(ids)), IDs: ids}}, Request{Logits: LogitsAll})
				if err != nil {
					t.Fatal(err)
				}
				logits[i] = append([]float32(nil), out.Logits...)
			}
			if len(logits[0]) != len(ids)*mapped.Config.VocabSize {
				t.Fatalf("%d logits", len(logits[0]))
			}
			for i := range logits[0] {
				if math.Float32bits(logits[0][i]) != math.Float32bits(logits[1][i]) {
					t.Fatalf("logit %d: mapped %g, huge pages %g", i, logits[0][i], logits[1][i])
				}
			}
		})
	}
}
