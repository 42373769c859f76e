//go:build vulkan

package qwenvk

import (
	"errors"
	"fmt"
	"github.com/latentmas/latentmas/internal/golden"
	"github.com/latentmas/latentmas/latent"
	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tensor/vulkan"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// Tolerances from golden/README.md §5 for a float32 engine.
const (
	logitsAtol = 1e-4
	stateAtol  = 1e-4
	stateRtol  = 1e-4
)

var (
	devOnce sync.Once
	dev     *vulkan.Device
	devErr  error
)

// testDevice opens the default Vulkan device; without one the tests skip,
// unless LATENTMAS_VULKAN_REQUIRED=1 (as in CI).
func testDevice(t testing.TB) *vulkan.Device {
	t.Helper()
	devOnce.Do(func() { dev, devErr = vulkan.Open(-1) })
	if devErr != nil {
		if os.Getenv("LATENTMAS_VULKAN_REQUIRED") == "" && (errors.Is(devErr, vulkan.ErrNoLoader) || errors.Is(devErr, vulkan.ErrNoDevice)) {
			t.Skip(devErr)
		}
		t.Fatal(devErr)
	}
	return dev
}

type goldenModel struct {
	set *golden.Set
	dir string
}

func goldenModels(t *testing.T, section string) []goldenModel {
	t.Helper()
	root, sets, err := golden.Discover()
	if err != nil {
		t.Fatal(err)
	}
	var out []goldenModel
	for _, s := range sets {
		if !s.Has(section) {
			continue
		}
		for _, dir := range s.Checkpoints(root) {
			out = append(out, goldenModel{s, dir})
		}
	}
	if len(out) == 0 {
		t.Fatalf("no golden model with a %s section under %s", section, root)
	}
	return out
}

func (g goldenModel) name() string { return g.set.Name + "@" + filepath.Base(g.dir) }

// load returns the CPU model and its Vulkan twin.
func (g goldenModel) load(t *testing.T) (*qwen.Model, *Model) {
	t.Helper()
	d := testDevice(t)
	m, err := qwen.Load(g.dir, qwen.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	vm, err := New(m, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Close)
	t.Logf("checking %s on %s against golden %s", g.dir, d.Info().Name, g.set.Name)
	return m, vm
}

func cacheKV(c *qwen.Cache, cfg *qwen.Config) []float32 {
	var ks, vs [][]float32
	for l := 0; l < c.Layers(); l++ {
		k, v := c.Layer(l)
		ks, vs = append(ks, k), append(vs, v)
	}
	return golden.KV(ks, vs, cfg.NumKVHeads, cfg.HeadDim)
}

func TestGoldenPrefill(t *testing.T) {
	for _, g := range goldenModels(t, "prefill") {
		t.Run(g.name(), func(t *testing.T) {
			m, vm := g.load(t)
			var prefill map[string]any
			if err := g.set.Decode("prefill", &prefill); err != nil {
				t.Fatal(err)
			}
			for _, P := range slices.Sorted(maps.Keys(prefill)) {
				t.Run(P, func(t *testing.T) {
					ids := g.set.PromptIDs(t, P)
					T, V, D := len(ids), m.Config.VocabSize, m.Config.HiddenSize
					c := m.NewCache(T)
					out, err := vm.Forward([]qwen.Seq{{Cache: c, IDs: ids}}, qwen.Request{Logits: qwen.LogitsAll, HiddenStates: true})
					if err != nil {
						t.Fatal(err)
					}
					var tk golden.TopK
					if err := g.set.Decode("prefill."+P+".topk_per_position", &tk); err != nil {
						t.Fatal(err)
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
						"kv":             {cacheKV(c, m.Config), stateAtol, stateRtol},
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
	for _, g := range goldenModels(t, "incremental") {
		t.Run(g.name(), func(t *testing.T) {
			m, vm := g.load(t)
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
					out, err := vm.Forward([]qwen.Seq{{Cache: c, IDs: ids[:spec.First]}}, qwen.Request{Logits: qwen.LogitsAll})
					if err != nil {
						t.Fatal(err)
					}
					for p := 0; p < spec.First; p++ {
						golden.CheckTopK(t, fmt.Sprintf("prefill position %d", p), out.LogitsRow(p), tk.IDs[p], tk.Values[p], logitsAtol)
					}
					for p := spec.First; p < len(ids); p++ {
						out, err := vm.Forward([]qwen.Seq{{Cache: c, IDs: ids[p : p+1]}}, qwen.Request{Logits: qwen.LogitsLast})
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
					golden.Check(t, "incremental kv", cacheKV(c, m.Config), want, stateAtol, stateRtol)
				})
			}
		})
	}
}

func TestGoldenGreedy(t *testing.T) {
	for _, g := range goldenModels(t, "greedy") {
		t.Run(g.name(), func(t *testing.T) {
			m, vm := g.load(t)
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
					c := m.NewCache(64)
					var got []int
					in := g.set.PromptIDs(t, P)
					for len(got) < len(spec.IDs) {
						o, err := vm.Forward([]qwen.Seq{{Cache: c, IDs: in}}, qwen.Request{Logits: qwen.LogitsLast})
						if err != nil {
							t.Fatal(err)
						}
						id := qwen.Argmax(o.LogitsRow(0))
						got, in = append(got, id), []int{id}
					}
					if fmt.Sprint(got) != fmt.Sprint(spec.IDs) {
						t.Errorf("greedy ids\n got %v\nwant %v", got, spec.IDs)
					}
				})
			}
		})
	}
}

// TestGoldenLatentRollout runs latent.Rollout's loop (prompt prefill, then
// realigned last hidden states fed back as input embeddings) with the
// Vulkan forward, and agent 2's prompt and greedy decode on top of the
// resulting working memory. latent.Rollout itself takes a *qwen.Model; the
// loop here is the same few lines over vm.Forward.
func TestGoldenLatentRollout(t *testing.T) {
	for _, g := range goldenModels(t, "latent") {
		m, vm := g.load(t)
		var modes map[string]any
		if err := g.set.Decode("latent", &modes); err != nil {
			t.Fatal(err)
		}
		for _, mode := range slices.Sorted(maps.Keys(modes)) {
			t.Run(g.name()+"/"+mode, func(t *testing.T) {
				var spec struct {
					Steps        int               `json:"latent_steps"`
					Agent1       string            `json:"agent1_prompt"`
					Agent2       string            `json:"agent2_prompt"`
					Arrays       map[string]string `json:"arrays"`
					PromptLastH  []float32         `json:"prompt_last_hidden"`
					KVLen        int               `json:"kv_final_seq_len"`
					Agent2Greedy struct {
						Greedy []int `json:"greedy_ids"`
					} `json:"agent2"`
				}
				if err := g.set.Decode("latent."+mode, &spec); err != nil {
					t.Fatal(err)
				}
				arr := func(key string) []float32 {
					a, _, err := g.set.Array(spec.Arrays[key])
					if err != nil {
						t.Fatal(err)
					}
					return a
				}
				r, _, err := latent.BuildRealigner(m, latent.RealignOptions{Enabled: mode == "realign_on", Lambda: 1e-5})
				if err != nil {
					t.Fatal(err)
				}
				D := m.Config.HiddenSize
				c := m.NewCache(256)
				out, err := vm.Forward([]qwen.Seq{{Cache: c, IDs: g.set.PromptIDs(t, spec.Agent1)}}, qwen.Request{})
				if err != nil {
					t.Fatal(err)
				}
				golden.Check(t, "prompt last hidden", out.LastHidden(0), spec.PromptLastH, 1e-4, 1e-4)
				var latentIn, after []float32
				e := make([]float32, D)
				for s := 0; s < spec.Steps; s++ {
					r.Apply(e, out.LastHidden(0), nil)
					latentIn = append(latentIn, e...)
					if out, err = vm.Forward([]qwen.Seq{{Cache: c, Embeds: e}}, qwen.Request{}); err != nil {
						t.Fatal(err)
					}
					after = append(after, out.LastHidden(0)...)
				}
				golden.Check(t, "latent_in", latentIn, arr("latent_in"), 1e-4, 1e-4)
				golden.Check(t, "hidden_after", after, arr("hidden_after"), 1e-4, 1e-4)
				if c.Len() != spec.KVLen {
					t.Fatalf("cache length %d, want %d", c.Len(), spec.KVLen)
				}
				golden.Check(t, "kv_final", cacheKV(c, m.Config), arr("kv_final"), 1e-4, 1e-4)
				out, err = vm.Forward([]qwen.Seq{{Cache: c, IDs: g.set.PromptIDs(t, spec.Agent2)}}, qwen.Request{Logits: qwen.LogitsLast})
				if err != nil {
					t.Fatal(err)
				}
				golden.Check(t, "agent2 last logits", out.LogitsRow(0), arr("agent2_last_logits"), 1e-4, 0)
				var ids []int
				for len(ids) < len(spec.Agent2Greedy.Greedy) {
					id := qwen.Argmax(out.LogitsRow(0))
					ids = append(ids, id)
					if out, err = vm.Forward([]qwen.Seq{{Cache: c, IDs: []int{id}}}, qwen.Request{Logits: qwen.LogitsLast}); err != nil {
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

var _ = math.Abs
