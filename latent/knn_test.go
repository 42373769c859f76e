package latent

import (
	"fmt"
	"github.com/latentmas/latentmas/internal/golden"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tensor"
)

func randScores(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// Pruning to p keeps exactly min(max(⌊S·p⌋, min_keep), S) positions, always
// the last min_keep, in ascending order, and top/bottom pick the extreme
// scores among the earlier positions.
func TestKnnSelectProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, S := range []int{0, 1, 2, 3, 5, 17, 133, 1000} {
		for _, p := range []float64{0, 0.1, 0.5, 0.8, 0.999, 1, 1.5} {
			for _, mk := range []int{0, 1, 2, 5, 200, 2000} {
				for _, strat := range []string{KNNTop, KNNBottom, KNNRandom, ""} {
					name := fmt.Sprintf("S=%d/p=%g/min_keep=%d/%s", S, p, mk, strat)
					scores := randScores(r, S)
					opt := KNNOptions{Percentage: p, MinKeep: mk, Strategy: strat, Rand: rand.New(rand.NewPCG(7, uint64(S)))}
					kept, err := KNNSelect(scores, opt)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					want := min(max(int(math.Floor(float64(S)*p)), mk), S)
					if len(kept) != want {
						t.Fatalf("%s: kept %d positions, want %d", name, len(kept), want)
					}
					for i := 1; i < len(kept); i++ {
						if kept[i] <= kept[i-1] {
							t.Fatalf("%s: not strictly ascending: %v", name, kept)
						}
					}
					for _, v := range kept {
						if v < 0 || v >= S {
							t.Fatalf("%s: position %d out of range", name, v)
						}
					}
					// The last min(min_keep, k) positions are the most recent ones.
					recent := min(mk, want)
					for i := 0; i < recent; i++ {
						if kept[len(kept)-1-i] != S-1-i {
							t.Fatalf("%s: position %d not kept: %v", name, S-1-i, kept)
						}
					}
					if want == S || strat == KNNRandom {
						continue
					}
					// Top/bottom: every picked earlier position scores at least as
					// well as every dropped earlier one.
					m := min(mk, S)
					in := map[int]bool{}
					for _, v := range kept {
						in[v] = true
					}
					sign := float32(1) // kept scores ≥ dropped scores for top
					if strat == KNNBottom {
						sign = -1
					}
					worstKept, bestDropped := float32(math.Inf(1)), float32(math.Inf(-1))
					for a := 0; a < S-m; a++ {
						if in[a] {
							worstKept = min(worstKept, sign*scores[a])
						} else {
							bestDropped = max(bestDropped, sign*scores[a])
						}
					}
					if worstKept < bestDropped {
						t.Fatalf("%s: a dropped position scores better than a kept one", name)
					}
				}
			}
		}
	}
}

func TestKnnSelectCases(t *testing.T) {
	nan := float32(math.NaN())
	cases := []struct {
		name   string
		scores []float32
		opt    KNNOptions
		want   []int
		err    bool
	}{
		{"top", []float32{0.1, 0.9, 0.5, 0.7, 0.2, 0.3}, KNNOptions{Percentage: 0.5, MinKeep: 1, Strategy: KNNTop}, []int{1, 3, 5}, false},
		{"bottom", []float32{0.1, 0.9, 0.5, 0.7, 0.2, 0.3}, KNNOptions{Percentage: 0.5, MinKeep: 1, Strategy: KNNBottom}, []int{0, 4, 5}, false},
		{"default is top", []float32{0.1, 0.9, 0.5, 0.7, 0.2, 0.3}, KNNOptions{Percentage: 0.5, MinKeep: 1}, []int{1, 3, 5}, false},
		{"ties go to the lower position (top)", []float32{1, 2, 2, 2, 0, 0}, KNNOptions{Percentage: 0.5, MinKeep: 1}, []int{1, 2, 5}, false},
		{"ties go to the lower position (bottom)", []float32{1, 0, 2, 0, 0, 0}, KNNOptions{Percentage: 0.5, MinKeep: 1, Strategy: KNNBottom}, []int{1, 3, 5}, false},
		{"NaN ranks highest for top", []float32{0.5, nan, 0.1, 0.9, 0}, KNNOptions{Percentage: 0.6, MinKeep: 1}, []int{1, 3, 4}, false},
		{"NaN ranks last for bottom", []float32{nan, 0.5, 0.1, 0.9, 0}, KNNOptions{Percentage: 0.6, MinKeep: 1, Strategy: KNNBottom}, []int{1, 2, 4}, false},
		{"k ≥ S: no filtering", []float32{3, 2, 1}, KNNOptions{Percentage: 1, MinKeep: 1}, []int{0, 1, 2}, false},
		{"min_keep > S: no filtering", []float32{3, 2, 1}, KNNOptions{Percentage: 0.1, MinKeep: 9}, []int{0, 1, 2}, false},
		{"r = 0: keep the last k", []float32{9, 9, 1, 1, 1}, KNNOptions{Percentage: 0.2, MinKeep: 2}, []int{3, 4}, false},
		{"min_keep 0 and k 0: empty", []float32{9, 9, 1}, KNNOptions{Percentage: 0.1}, []int{}, false},
		{"min_keep 0: all from scores", []float32{1, 9, 8, 0}, KNNOptions{Percentage: 0.5}, []int{1, 2}, false},
		{"empty cache", nil, KNNOptions{Percentage: 0.5, MinKeep: 2}, []int{}, false},
		{"unknown strategy", []float32{1, 2}, KNNOptions{Percentage: 0.5, Strategy: "middle"}, nil, true},
		{"random without Rand", []float32{1, 2, 3, 4}, KNNOptions{Percentage: 0.5, Strategy: KNNRandom}, nil, true},
		{"negative percentage", []float32{1, 2}, KNNOptions{Percentage: -0.5}, nil, true},
		{"NaN percentage", []float32{1, 2}, KNNOptions{Percentage: math.NaN()}, nil, true},
		{"negative min_keep", []float32{1, 2}, KNNOptions{Percentage: 0.5, MinKeep: -1}, nil, true},
	}
	for _, c := range cases {
		got, err := KNNSelect(c.scores, c.opt)
		if (err != nil) != c.err {
			t.Errorf("%s: error %v, want error %v", c.name, err, c.err)
			continue
		}
		if !c.err && !slices.Equal(got, c.want) {
			t.Errorf("%s: kept %v, want %v", c.name, got, c.want)
		}
	}
}

// The random strategy is a uniform subset drawn from the caller's stream:
// the same seed gives the same selection, and all subsets occur.
func TestKnnSelectRandom(t *testing.T) {
	scores := make([]float32, 40)
	opt := func(seed uint64) KNNOptions {
		return KNNOptions{Percentage: 0.5, MinKeep: 4, Strategy: KNNRandom, Rand: rand.New(rand.NewPCG(seed, 0))}
	}
	a, _ := KNNSelect(scores, opt(42))
	b, _ := KNNSelect(scores, opt(42))
	c, _ := KNNSelect(scores, opt(43))
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different picks:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Fatalf("seeds 42 and 43 picked the same positions %v", a)
	}
	// Each earlier position is kept with probability r/(S-m) = 16/36.
	counts := make([]int, 36)
	const trials = 4000
	o := opt(5)
	for i := 0; i < trials; i++ {
		kept, err := KNNSelect(scores, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range kept[:16] {
			counts[p]++
		}
	}
	for p, n := range counts {
		if f := float64(n) / trials; math.Abs(f-16.0/36) > 0.05 {
			t.Errorf("position %d kept in %.3f of trials, want %.3f", p, f, 16.0/36)
		}
	}
}

// KNNQuery folds the mean embedding into head_dim chunks; KNNScores is the
// cosine similarity of the middle layer's head-averaged keys with it.
func TestKnnScoresMatchDefinition(t *testing.T) {
	m := smallModel(t, false) // D 24, hd 8, 1 KV head, 2 layers
	cfg := m.Config
	ids := []int{3, 17, 17, 499, 0}
	q, err := KNNQuery(m, ids)
	if err != nil {
		t.Fatal(err)
	}
	D, hd := cfg.HiddenSize, cfg.HeadDim
	row := make([]float32, D)
	want := make([]float64, hd)
	for _, id := range ids {
		m.Embed.Row(id, row)
		for i, v := range row {
			want[i%hd] += float64(v) / float64(len(ids)) / float64(D/hd)
		}
	}
	for i := range q {
		if math.Abs(float64(q[i])-want[i]) > 1e-7 {
			t.Fatalf("query[%d] = %g, want %g", i, q[i], want[i])
		}
	}
	c := m.NewCache(32)
	if _, err := m.Forward([]qwen.Seq{{Cache: c, IDs: []int{5, 6, 7, 8, 9, 10, 11}}}, qwen.Request{}); err != nil {
		t.Fatal(err)
	}
	sim, err := KNNScores(m, c, ids)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := c.Layer(1)
	kvh := cfg.NumKVHeads
	for p := range sim {
		var dot, nk, nq float64
		for i := 0; i < hd; i++ {
			var k float64
			for h := 0; h < kvh; h++ {
				k += float64(keys[p*kvh*hd+h*hd+i]) / float64(kvh)
			}
			dot += k * want[i]
			nk += k * k
			nq += want[i] * want[i]
		}
		if w := dot / math.Sqrt(nk*nq); math.Abs(float64(sim[p])-w) > 1e-6 {
			t.Fatalf("similarity[%d] = %g, want %g", p, sim[p], w)
		}
	}
	if _, err := KNNQuery(m, nil); err == nil {
		t.Error("empty prompt: no error")
	}
	if _, err := KNNQuery(m, []int{cfg.VocabSize}); err == nil {
		t.Error("out-of-range id: no error")
	}
	other := smallModel(t, true)
	other.Config = &qwen.Config{NumLayers: 3, NumKVHeads: 1, HeadDim: 8, HiddenSize: 24}
	if _, err := KNNScores(other, c, ids); err == nil {
		t.Error("cache of another model: no error")
	}
}

// KNNFilter gathers the selected positions from every layer, reports sizes,
// and places later tokens by the chosen position rule.
func TestKnnFilter(t *testing.T) {
	m := smallModel(t, false)
	prompt := []int{1, 2, 3}
	for _, keep := range []bool{false, true} {
		c := m.NewCache(64)
		if _, err := m.Forward([]qwen.Seq{{Cache: c, IDs: []int{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}}}, qwen.Request{}); err != nil {
			t.Fatal(err)
		}
		c.PosShift = 3 // as if an earlier filter with KeepPositions had removed 3
		orig := c.Clone()
		res, err := KNNFilter(m, c, prompt, KNNOptions{Percentage: 0.4, MinKeep: 3, Strategy: KNNBottom, KeepPositions: keep})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Filtered || res.Before != 20 || res.After != 8 || len(res.Kept) != 8 || c.Len() != 8 {
			t.Fatalf("keep=%v: result %+v, cache length %d", keep, res, c.Len())
		}
		if res.BytesBefore != orig.Bytes() || res.BytesAfter != c.Bytes() || res.BytesAfter*20 != res.BytesBefore*8 {
			t.Fatalf("bytes %d → %d", res.BytesBefore, res.BytesAfter)
		}
		sim, _ := KNNScores(m, orig, prompt)
		if !slices.Equal(sim, res.Similarity) {
			t.Fatal("similarity differs from KNNScores")
		}
		d := c.KVDim()
		for l := 0; l < c.Layers(); l++ {
			k, v := c.Layer(l)
			ok, ov := orig.Layer(l)
			for i, p := range res.Kept {
				if !slices.Equal(k[i*d:(i+1)*d], ok[p*d:(p+1)*d]) || !slices.Equal(v[i*d:(i+1)*d], ov[p*d:(p+1)*d]) {
					t.Fatalf("layer %d: row %d is not position %d", l, i, p)
				}
			}
		}
		wantNext := 8 + 3
		if keep {
			wantNext = 20 + 3
		}
		if c.NextPos() != wantNext {
			t.Errorf("keep=%v: next position %d, want %d", keep, c.NextPos(), wantNext)
		}
	}
	// Nothing to filter: the cache is untouched.
	c := m.NewCache(8)
	if _, err := m.Forward([]qwen.Seq{{Cache: c, IDs: []int{1, 2, 3, 4}}}, qwen.Request{}); err != nil {
		t.Fatal(err)
	}
	res, err := KNNFilter(m, c, prompt, KNNOptions{Percentage: 0.5, MinKeep: 4, KeepPositions: true})
	if err != nil || res.Filtered || c.Len() != 4 || c.NextPos() != 4 || !slices.Equal(res.Kept, []int{0, 1, 2, 3}) {
		t.Fatalf("no-op filter: %+v, %v, len %d", res, err, c.Len())
	}
}

func TestGoldenKnn(t *testing.T) {
	for _, g := range goldenLatent(t) {
		if !g.set.Has("knn") {
			continue
		}
		// The source KV is latent.realign_on.kv_final: agent 1 (planner) plus
		// its latent steps with realignment on.
		var src struct {
			Steps  int               `json:"latent_steps"`
			Agent1 string            `json:"agent1_prompt"`
			Agent2 string            `json:"agent2_prompt"`
			Arrays map[string]string `json:"arrays"`
		}
		decode(t, g.set, "latent.realign_on", &src)
		var a1, a2 struct {
			IDs []int `json:"ids"`
		}
		decode(t, g.set, "prompts."+src.Agent1, &a1)
		decode(t, g.set, "prompts."+src.Agent2, &a2)
		r, _, err := BuildRealigner(g.model, RealignOptions{Enabled: true, Lambda: 1e-5})
		if err != nil {
			t.Fatal(err)
		}
		base := g.model.NewCache(256)
		if err := (&Rollout{Model: g.model, Realign: r, Steps: src.Steps}).Run([]Agent{{Cache: base, IDs: a1.IDs}}); err != nil {
			t.Fatal(err)
		}
		golden.Check(t, g.set.Name+" source kv", cacheKV(base, g.model), array(t, g.set, src.Arrays["kv_final"]), 1e-4, 1e-4)

		var strategies map[string]any
		decode(t, g.set, "knn", &strategies)
		for _, strat := range []string{KNNTop, KNNBottom} {
			if strategies[strat] == nil {
				t.Errorf("%s: golden has no knn.%s", g.set.Name, strat)
				continue
			}
			t.Run(filepath.Base(g.dir)+"/"+strat, func(t *testing.T) {
				var spec struct {
					SeqLen   int       `json:"seq_len"`
					K        int       `json:"k"`
					Middle   int       `json:"middle_layer"`
					Strategy string    `json:"strategy"`
					Pct      float64   `json:"percentage"`
					MinKeep  int       `json:"min_keep"`
					Filtered bool      `json:"filtered"`
					Selected []int     `json:"selected"`
					PerLayer [][]int   `json:"kept_indices_per_layer"`
					Shapes   [][][]int `json:"filtered_kv_shapes_per_layer"`
					Sim      []float32 `json:"similarity"`
					Query    []float32 `json:"query_vector_folded"`
					Agent2   struct {
						Start  int   `json:"start_position"`
						Greedy []int `json:"greedy_ids"`
					} `json:"agent2_on_filtered_kv"`
					Arrays map[string]string `json:"arrays"`
				}
				decode(t, g.set, "knn."+strat, &spec)
				cfg := g.model.Config
				if KNNLayer(cfg.NumLayers) != spec.Middle {
					t.Errorf("middle layer %d, want %d", KNNLayer(cfg.NumLayers), spec.Middle)
				}
				c := base.Clone()
				if c.Len() != spec.SeqLen {
					t.Fatalf("source length %d, want %d", c.Len(), spec.SeqLen)
				}
				if k := KNNKeep(c.Len(), spec.Pct, spec.MinKeep); k != spec.K {
					t.Errorf("k = %d, want %d", k, spec.K)
				}
				q, err := KNNQuery(g.model, a2.IDs)
				if err != nil {
					t.Fatal(err)
				}
				golden.Check(t, "query_vector_folded", q, spec.Query, 1e-5, 0)
				res, err := KNNFilter(g.model, c, a2.IDs, KNNOptions{Percentage: spec.Pct, MinKeep: spec.MinKeep, Strategy: spec.Strategy})
				if err != nil {
					t.Fatal(err)
				}
				golden.Check(t, "similarity", res.Similarity, spec.Sim, 1e-5, 0)
				if res.Filtered != spec.Filtered {
					t.Errorf("filtered %v, want %v", res.Filtered, spec.Filtered)
				}
				if !slices.Equal(res.Kept, spec.Selected) {
					t.Fatalf("selected\n got %v\nwant %v", res.Kept, spec.Selected)
				}
				// One selection gathered from every layer.
				if len(spec.PerLayer) != cfg.NumLayers || len(spec.Shapes) != cfg.NumLayers {
					t.Fatalf("golden lists %d/%d layers, model has %d", len(spec.PerLayer), len(spec.Shapes), cfg.NumLayers)
				}
				shape := []int{1, cfg.NumKVHeads, c.Len(), cfg.HeadDim}
				for l := range spec.PerLayer {
					if !slices.Equal(res.Kept, spec.PerLayer[l]) {
						t.Errorf("layer %d: kept indices differ", l)
					}
					for _, s := range spec.Shapes[l] {
						if !slices.Equal(s, shape) {
							t.Errorf("layer %d: shape %v, want %v", l, shape, s)
						}
					}
				}
				// The filtered KV is the source KV at the kept positions.
				d := c.KVDim()
				for l := 0; l < c.Layers(); l++ {
					k, _ := c.Layer(l)
					bk, _ := base.Layer(l)
					for i, p := range res.Kept {
						if !slices.Equal(k[i*d:(i+1)*d], bk[p*d:(p+1)*d]) {
							t.Fatalf("layer %d row %d is not source position %d", l, i, p)
						}
					}
				}
				// Agent 2 on the filtered cache, placed at the filtered length.
				if c.NextPos() != spec.Agent2.Start {
					t.Fatalf("agent 2 starts at %d, want %d", c.NextPos(), spec.Agent2.Start)
				}
				out, err := g.model.Forward([]qwen.Seq{{Cache: c, IDs: a2.IDs}}, qwen.Request{Logits: qwen.LogitsLast})
				if err != nil {
					t.Fatal(err)
				}
				golden.Check(t, "agent 2 last logits", out.LogitsRow(0), array(t, g.set, spec.Arrays["agent2_last_logits"]), 1e-4, 0)
				var ids []int
				for len(ids) < len(spec.Agent2.Greedy) {
					id := argmax(out.LogitsRow(0))
					ids = append(ids, id)
					if out, err = g.model.Forward([]qwen.Seq{{Cache: c, IDs: []int{id}}}, qwen.Request{Logits: qwen.LogitsLast}); err != nil {
						t.Fatal(err)
					}
				}
				if !slices.Equal(ids, spec.Agent2.Greedy) {
					t.Errorf("agent 2 greedy ids\n got %v\nwant %v", ids, spec.Agent2.Greedy)
				}
			})
		}
	}
}

// knnBenchModel is a Qwen3-0.6B-shaped model as far as kNN pruning sees it
// (config and embeddings; no decoder weights), with a cache of n positions.
func knnBenchModel(b *testing.B, n int) (*qwen.Model, *qwen.Cache, []int) {
	cfg, err := qwen.Shape("qwen3-0.6b")
	if err != nil {
		b.Fatal(err)
	}
	cfg.VocabSize = 4096 // the vocabulary size does not enter the cost
	r := rand.New(rand.NewPCG(1, 1))
	emb := make([]float32, cfg.VocabSize*cfg.HiddenSize)
	for i := range emb {
		emb[i] = float32(r.NormFloat64() * 0.02)
	}
	m := &qwen.Model{Config: cfg, Embed: tensor.Mat{DType: tensor.F32, Rows: cfg.VocabSize, Cols: cfg.HiddenSize, F32: emb}}
	c := m.NewCache(n)
	// Every layer gets the same random rows: the cost does not depend on them.
	k, v := make([]float32, n*cfg.KVDim()), make([]float32, n*cfg.KVDim())
	for i := range k {
		k[i], v[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
	}
	ks, vs := make([][]float32, cfg.NumLayers), make([][]float32, cfg.NumLayers)
	for l := range ks {
		ks[l], vs[l] = k, v
	}
	if err := c.AppendKV(ks, vs, n); err != nil {
		b.Fatal(err)
	}
	prompt := make([]int, 300)
	for i := range prompt {
		prompt[i] = r.IntN(cfg.VocabSize)
	}
	return m, c, prompt
}

// BenchmarkKnnFilter4k prunes a 4096-position Qwen3-0.6B-shaped cache
// (28 layers, 8×128 KV) to 50%: scoring, selection and the gather.
func BenchmarkKnnFilter4k(b *testing.B) {
	m, c, prompt := knnBenchModel(b, 4096)
	opt := KNNOptions{Percentage: 0.5, MinKeep: 5, Strategy: KNNBottom}
	b.Run("scores+select", func(b *testing.B) {
		for b.Loop() {
			s, err := KNNScores(m, c, prompt)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := KNNSelect(s, opt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("filter", func(b *testing.B) {
		b.SetBytes(c.Bytes())
		for b.Loop() {
			b.StopTimer()
			w := c.Clone()
			b.StartTimer()
			if _, err := KNNFilter(m, w, prompt, opt); err != nil {
				b.Fatal(err)
			}
		}
	})
}
