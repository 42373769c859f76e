package latent

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latentmas/latentmas/internal/golden"
	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tensor"
)

// sizedModel is a small random model with hidden size d (qwen3 layout).
func sizedModel(t testing.TB, d, vocab int, seed uint64) *qwen.Model {
	t.Helper()
	cfg := &qwen.Config{ModelType: "qwen3", HiddenSize: d, NumLayers: 2, NumHeads: 2, NumKVHeads: 1, HeadDim: 8,
		IntermediateSize: 32, VocabSize: vocab, RMSNormEps: 1e-6, RopeTheta: 1e4, HiddenAct: "silu", QKNorm: true}
	m, err := qwen.New(cfg, qwen.RandomSource(cfg, tensor.BF16, 0.1, seed), qwen.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func norm(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s)
}

func TestAlignLinear(t *testing.T) {
	src, dst := sizedModel(t, 24, 500, 1), sizedModel(t, 16, 500, 2)
	dir := t.TempDir()
	var log bytes.Buffer
	al, err := NewAligner(AlignLinear, src, dst, AlignOptions{Ridge: 1e-3, CacheDir: dir, Progress: &log})
	if err != nil {
		t.Fatal(err)
	}
	a := al.(*LinearAligner)
	if a.InDim() != 24 || a.OutDim() != 16 || a.Stats.FromCache {
		t.Fatalf("dims %d → %d, from cache %v", a.InDim(), a.OutDim(), a.Stats.FromCache)
	}
	want, err := Ridge(src.Pool, &src.LMHead, &dst.Embed, 500, 1e-3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.W(), want) {
		t.Fatal("W differs from Ridge(W_out_src, W_in_dst)")
	}
	if d := math.Abs(float64(a.TargetNorm - meanRowNorm(&dst.Embed, 500))); d != 0 {
		t.Fatalf("target norm off by %g", d)
	}
	r := rand.New(rand.NewPCG(3, 3))
	h := randScores(r, 24)
	got, pre := make([]float32, 16), make([]float32, 16)
	if err := a.MapPre(got, h, pre); err != nil {
		t.Fatal(err)
	}
	for j := 0; j < 16; j++ {
		var s float64
		for i := 0; i < 24; i++ {
			s += float64(h[i]) * float64(want[i*16+j])
		}
		if math.Abs(s-float64(pre[j])) > 1e-5 {
			t.Fatalf("pre[%d] = %g, want %g", j, pre[j], s)
		}
		if w := s * float64(a.TargetNorm) / norm(pre); math.Abs(w-float64(got[j])) > 1e-6 {
			t.Fatalf("mapped[%d] = %g, want %g", j, got[j], w)
		}
	}
	if math.Abs(norm(got)-float64(a.TargetNorm)) > 1e-6 {
		t.Fatalf("mapped norm %g, want %g", norm(got), a.TargetNorm)
	}
	// Zero input stays zero (the 1e-6 guard), wrong lengths are errors.
	zero := make([]float32, 24)
	if err := a.Map(got, zero); err != nil || norm(got) != 0 {
		t.Fatalf("zero input: %v, %v", err, got)
	}
	if err := a.Map(got[:3], h); err == nil {
		t.Fatal("short dst: no error")
	}
	if _, err := a.Realigner(); err == nil {
		t.Fatal("24 → 16 map accepted as a realigner")
	}
	// The second build comes from the cache, with the same matrix.
	b, err := NewAligner(AlignLinear, src, dst, AlignOptions{Ridge: 1e-3, CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if bl := b.(*LinearAligner); !bl.Stats.FromCache || !slices.Equal(bl.WT, a.WT) || !strings.Contains(bl.Stats.CacheFile, "cross-") {
		t.Fatalf("cache: %+v", bl.Stats)
	}
	// Same-model linear is BuildRealigner's matrix and shares its cache file.
	same, err := NewAligner(AlignLinear, src, src, AlignOptions{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	rr, st, err := BuildRealigner(src, RealignOptions{Enabled: true, Lambda: 1e-5, CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	sl := same.(*LinearAligner)
	if !st.FromCache || st.CacheFile != sl.Stats.CacheFile {
		t.Fatalf("realigner cache %+v, aligner cache %+v", st, sl.Stats)
	}
	sr, err := sl.Realigner()
	if err != nil || !slices.Equal(sr.MT, rr.MT) || sr.TargetNorm != rr.TargetNorm {
		t.Fatalf("same-model linear aligner is not the realigner (%v)", err)
	}
}

func TestAlignIdentical(t *testing.T) {
	src, dst := sizedModel(t, 24, 500, 1), sizedModel(t, 24, 400, 2)
	var log bytes.Buffer
	al, err := NewAligner(AlignIdentical, src, dst, AlignOptions{Progress: &log})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "vocabulary sizes differ") {
		t.Errorf("no warning about the vocabulary sizes: %q", log.String())
	}
	a := al.(*LinearAligner)
	if a.TargetNorm != meanRowNorm(&dst.Embed, 400) {
		t.Fatal("target norm is not the mean W_in row norm of the target")
	}
	h := randScores(rand.New(rand.NewPCG(1, 1)), 24)
	got := make([]float32, 24)
	if err := a.Map(got, h); err != nil {
		t.Fatal(err)
	}
	s := float64(a.TargetNorm) / norm(h)
	for i := range h {
		if math.Abs(float64(got[i])-float64(h[i])*s) > 1e-7 {
			t.Fatalf("identical map[%d] = %g, want %g", i, got[i], float64(h[i])*s)
		}
	}
	if w := a.W(); w[0] != 1 || w[1] != 0 || w[25] != 1 {
		t.Fatal("identical W is not the identity")
	}
	if _, err := NewAligner(AlignIdentical, src, sizedModel(t, 16, 500, 3), AlignOptions{}); err == nil {
		t.Fatal("identical across hidden sizes: no error")
	}
	if _, err := NewAligner("nonlinear", src, dst, AlignOptions{}); err == nil {
		t.Fatal("unknown method: no error")
	}
	if _, err := NewAligner(AlignLinear, src, dst, AlignOptions{Ridge: -1}); err == nil {
		t.Fatal("negative ridge: no error")
	}
}

// The ORF directions: within a block, rows are orthogonal and row r has the
// norm of column r of its Gaussian matrix; blocks stack to any count.
func TestOrfDirections(t *testing.T) {
	const d = 12
	for _, m := range []int{5, 12, 30} {
		om, err := orfDirections(d, m, 9)
		if err != nil {
			t.Fatal(err)
		}
		if len(om) != m*d {
			t.Fatalf("m=%d: %d values", m, len(om))
		}
		for b0 := 0; b0 < m; b0 += d {
			for i := b0; i < min(b0+d, m); i++ {
				for j := b0; j < i; j++ {
					var dot float64
					for k := 0; k < d; k++ {
						dot += float64(om[i*d+k]) * float64(om[j*d+k])
					}
					if math.Abs(dot) > 1e-5*norm(om[i*d:(i+1)*d])*norm(om[j*d:(j+1)*d]) {
						t.Fatalf("m=%d: rows %d and %d not orthogonal (%g)", m, i, j, dot)
					}
				}
			}
		}
		again, _ := orfDirections(d, m, 9)
		other, _ := orfDirections(d, m, 10)
		if !slices.Equal(om, again) || slices.Equal(om, other) {
			t.Fatalf("m=%d: directions not a function of the seed", m)
		}
	}
	// Row norms are chi-distributed with d degrees of freedom: mean² ≈ d.
	om, _ := orfDirections(d, 1200, 1)
	var ms float64
	for r := 0; r < 1200; r++ {
		n := norm(om[r*d : (r+1)*d])
		ms += n * n / 1200
	}
	if math.Abs(ms-d) > 1 {
		t.Fatalf("mean squared row norm %g, want ≈ %d", ms, d)
	}
}

// softTokens is the map the kernel method approximates:
// softmax(W_out·h/τ)·W_in over the first rows rows.
func softTokens(src, dst *qwen.Model, h []float32, tau float64, rows int) []float64 {
	da, db := src.LMHead.Cols, dst.Embed.Cols
	lo := make([]float64, rows)
	row := make([]float32, max(da, db))
	best := math.Inf(-1)
	for i := 0; i < rows; i++ {
		src.LMHead.Row(i, row)
		var s float64
		for j := 0; j < da; j++ {
			s += float64(row[j]) * float64(h[j])
		}
		lo[i] = s / tau
		best = max(best, lo[i])
	}
	out := make([]float64, db)
	var z float64
	for i := 0; i < rows; i++ {
		p := math.Exp(lo[i] - best)
		z += p
		dst.Embed.Row(i, row)
		for j := 0; j < db; j++ {
			out[j] += p * float64(row[j])
		}
	}
	for j := range out {
		out[j] /= z
	}
	return out
}

func TestAlignKernel(t *testing.T) {
	src, dst := sizedModel(t, 24, 700, 1), sizedModel(t, 16, 700, 2)
	r := rand.New(rand.NewPCG(5, 5))
	h := randScores(r, 24)
	scale := float32(2 / norm(h)) // ‖h‖ = 2
	for i := range h {
		h[i] *= scale
	}
	const tau = 2.0 // ‖h/τ‖ = 1: the positive-feature estimate has low variance
	exact := softTokens(src, dst, h, tau, 700)
	var en float64
	for _, v := range exact {
		en += v * v
	}
	en = math.Sqrt(en)
	relErr := func(al Aligner) float64 {
		got := make([]float32, 16)
		if err := al.Map(got, h); err != nil {
			t.Fatal(err)
		}
		var d float64
		for j := range got {
			d += (float64(got[j]) - exact[j]) * (float64(got[j]) - exact[j])
		}
		return math.Sqrt(d) / en
	}
	var errs []float64
	for _, m := range []int{16, 256, 4096} {
		al, err := NewAligner(AlignKernel, src, dst, AlignOptions{Features: m, Temperature: tau, Seed: 1, ChunkSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		errs = append(errs, relErr(al))
	}
	t.Logf("relative error vs softmax(W_out·h/τ)·W_in for 16/256/4096 features: %.3g", errs)
	if errs[2] > 0.05 || errs[2] > errs[0] {
		t.Errorf("kernel map does not converge to the soft-token map: %v", errs)
	}

	// Chunking changes nothing but rounding; the cache round-trips exactly.
	dir := t.TempDir()
	base := AlignOptions{Features: 64, Temperature: tau, Seed: 7, ChunkSize: 700, CacheDir: dir}
	a1, err := NewAligner(AlignKernel, src, dst, base)
	if err != nil {
		t.Fatal(err)
	}
	o2 := base
	o2.ChunkSize, o2.CacheDir = 64, ""
	a2, err := NewAligner(AlignKernel, src, dst, o2)
	if err != nil {
		t.Fatal(err)
	}
	a3, err := NewAligner(AlignKernel, src, dst, base)
	if err != nil {
		t.Fatal(err)
	}
	k1, k3 := a1.(*KernelAligner), a3.(*KernelAligner)
	if k1.Stats.FromCache || !k3.Stats.FromCache || filepath.Dir(k3.Stats.CacheFile) != dir {
		t.Fatalf("cache stats %+v, %+v", k1.Stats, k3.Stats)
	}
	if !slices.Equal(k1.Omega, k3.Omega) || !slices.Equal(k1.S, k3.S) || !slices.Equal(k1.Z, k3.Z) {
		t.Fatal("cached kernel state differs")
	}
	g1, g2 := make([]float32, 16), make([]float32, 16)
	if err := a1.Map(g1, h); err != nil {
		t.Fatal(err)
	}
	if err := a2.Map(g2, h); err != nil {
		t.Fatal(err)
	}
	for j := range g1 {
		if math.Abs(float64(g1[j]-g2[j])) > 1e-6*(1+math.Abs(float64(g1[j]))) {
			t.Fatalf("chunk size changes the map: %g vs %g", g1[j], g2[j])
		}
	}
	// A non-finite hidden state is an error, not a NaN latent.
	bad := slices.Clone(h)
	bad[3] = float32(math.NaN())
	if err := a1.Map(g1, bad); err == nil {
		t.Fatal("NaN input: no error")
	}
	if _, err := NewAligner(AlignKernel, src, dst, AlignOptions{Temperature: -1}); err == nil {
		t.Fatal("negative temperature: no error")
	}
}

// W_out rows with large norms give keys exp(ω·x − ‖x‖²/2) that underflow
// float32 to 0 for every row (the reference's unstabilised keys would make
// u·z = 0 and fail); the global shift keeps them representable, and a huge
// hidden state is handled by the online stabilisation.
func TestAlignKernelExtremeNorms(t *testing.T) {
	const d, v = 24, 300
	r := rand.New(rand.NewPCG(2, 2))
	mat := func(scale float64) tensor.Mat {
		w := make([]float32, v*d)
		for i := range w {
			w[i] = float32(r.NormFloat64() * scale)
		}
		return tensor.Mat{DType: tensor.F32, Rows: v, Cols: d, F32: w}
	}
	pool := tensor.NewPool(2)
	defer pool.Close()
	src := &qwen.Model{Config: &qwen.Config{HiddenSize: d}, LMHead: mat(10), Pool: pool} // ‖row‖ ≈ 49
	dst := &qwen.Model{Config: &qwen.Config{HiddenSize: d}, Embed: mat(0.02)}
	row := make([]float32, d)
	for i := 0; i < v; i++ {
		src.LMHead.Row(i, row)
		if n := norm(row); n*n/2-8*n < 104 { // ω·x ≤ ‖ω‖‖x‖, and ‖ω‖ < 8 here
			t.Fatalf("row %d (norm %g) does not underflow float32", i, n)
		}
	}
	al, err := NewAligner(AlignKernel, src, dst, AlignOptions{Features: 32})
	if err != nil {
		t.Fatal(err)
	}
	h := randScores(r, d)
	got := make([]float32, d)
	if err := al.Map(got, h); err != nil {
		t.Fatal(err)
	}
	finite := func(x []float32) bool {
		for _, v := range x {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return false
			}
		}
		return true
	}
	if !finite(got) {
		t.Fatalf("non-finite output %v", got)
	}
	// A huge hidden state either maps to a finite vector or is refused;
	// it never yields NaN silently.
	for i := range h {
		h[i] *= 1e4
	}
	if err := al.Map(got, h); err == nil && !finite(got) {
		t.Fatalf("huge input: non-finite output %v", got)
	} else if err != nil {
		t.Logf("huge input refused: %v", err)
	}
}

// HandOff forwards [embed(ids); latents] from an empty cache: the same as
// prefilling the ids and then the latents.
func TestHandOff(t *testing.T) {
	m := smallModel(t, false)
	D := m.Config.HiddenSize
	lat := randScores(rand.New(rand.NewPCG(8, 8)), 3*D)
	for i := range lat {
		lat[i] *= 0.05
	}
	ids := []int{4, 40, 400, 7}
	c := m.NewCache(4)
	if _, err := m.Forward([]qwen.Seq{{Cache: c, IDs: []int{1, 2, 3}}}, qwen.Request{}); err != nil {
		t.Fatal(err)
	}
	c.PosShift = 5 // must be cleared: the hand-off starts from an empty cache
	c2 := m.NewCache(4)
	out, err := HandOff(m, []Transfer{{Cache: c, IDs: ids, Latents: lat}, {Cache: c2, Latents: lat[:D]}}, qwen.Request{Logits: qwen.LogitsLast})
	if err != nil {
		t.Fatal(err)
	}
	got := slices.Clone(out.LogitsRow(0))
	if c.Len() != 7 || c.NextPos() != 7 || c2.Len() != 1 {
		t.Fatalf("cache lengths %d (next %d), %d", c.Len(), c.NextPos(), c2.Len())
	}
	ref := m.NewCache(8)
	if _, err := m.Forward([]qwen.Seq{{Cache: ref, IDs: ids}}, qwen.Request{}); err != nil {
		t.Fatal(err)
	}
	o, err := m.Forward([]qwen.Seq{{Cache: ref, Embeds: lat}}, qwen.Request{Logits: qwen.LogitsLast})
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "hand-off logits", got, o.LogitsRow(0), 1e-5, 0)
	golden.Check(t, "hand-off kv", cacheKV(c, m), cacheKV(ref, m), 1e-5, 1e-5)
	for _, bad := range []Transfer{{Cache: nil, IDs: ids}, {Cache: c}, {Cache: c, Latents: lat[:D-1]}, {Cache: c, IDs: []int{-1}}} {
		if _, err := HandOff(m, []Transfer{bad}, qwen.Request{}); err == nil {
			t.Errorf("hand-off %+v: no error", bad)
		}
	}
	if c.Len() != 7 {
		t.Error("a rejected hand-off touched the cache")
	}
}

type crossModels struct {
	set, a, b *golden.Set
	root      string
}

// goldenCross finds the cross golden set and its A and B model sets.
func goldenCross(t *testing.T) []crossModels {
	t.Helper()
	root, sets, err := golden.Discover()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*golden.Set{}
	for _, s := range sets {
		byName[s.Name] = s
	}
	var out []crossModels
	for _, s := range sets {
		if !s.Has("W_cross") && !s.Has("hybrid_pipeline") {
			continue
		}
		var names struct{ A, B string }
		decodeRoot(t, s, &names)
		a, b := byName[names.A], byName[names.B]
		if a == nil || b == nil {
			t.Fatalf("%s: models %q and %q must be golden sets under %s", s.Name, names.A, names.B, root)
		}
		out = append(out, crossModels{s, a, b, root})
	}
	if len(out) == 0 {
		t.Fatal("no cross-model golden set")
	}
	return out
}

func decodeRoot(t *testing.T, s *golden.Set, v any) {
	t.Helper()
	if err := json.Unmarshal(s.Raw, v); err != nil {
		t.Fatalf("%s: %v", s.Name, err)
	}
}

func loadModel(t *testing.T, dir string) *qwen.Model {
	t.Helper()
	m, err := qwen.Load(dir, qwen.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestGoldenCross(t *testing.T) {
	for _, g := range goldenCross(t) {
		for _, adir := range g.a.Checkpoints(g.root) {
			for _, bdir := range g.b.Checkpoints(g.root) {
				t.Run(g.set.Name+"/"+filepath.Base(adir)+"→"+filepath.Base(bdir), func(t *testing.T) {
					t.Logf("checking %s → %s against golden %s", adir, bdir, g.set.Name)
					testGoldenCross(t, g, loadModel(t, adir), loadModel(t, bdir))
				})
			}
		}
	}
}

func testGoldenCross(t *testing.T, g crossModels, A, B *qwen.Model) {
	var spec struct {
		Lambda     float64           `json:"lambda"`
		TargetNorm float64           `json:"target_norm_B"`
		Arrays     map[string]string `json:"arrays"`
		Prompt     string            `json:"prompt"`
		ALast      []float32         `json:"A_last_hidden_postnorm"`
		Pre        []float32         `json:"mapped_pre_rescale"`
		Mapped     []float32         `json:"mapped"`
		Hybrid     struct {
			Raw         [][]float32 `json:"A_raw_hiddens"`
			Transferred [][]float32 `json:"transferred"`
			TransferLen int         `json:"transfer_kv_seq_len"`
			TransferTop struct {
				IDs    []int     `json:"ids"`
				Values []float32 `json:"values"`
			} `json:"B_transfer_last_logits_topk"`
			PromptLast []float32 `json:"B_agent2_prompt_last_hidden"`
			PromptTop  struct {
				IDs    []int     `json:"ids"`
				Values []float32 `json:"values"`
			} `json:"B_agent2_prompt_last_logits_topk"`
			LatentIn    [][]float32       `json:"B_latent_in"`
			HiddenAfter [][]float32       `json:"B_hidden_after"`
			FinalLen    int               `json:"B_final_kv_seq_len"`
			Arrays      map[string]string `json:"arrays"`
		} `json:"hybrid_pipeline"`
	}
	decodeRoot(t, g.set, &spec)
	al, err := NewAligner(AlignLinear, A, B, AlignOptions{Ridge: spec.Lambda})
	if err != nil {
		t.Fatal(err)
	}
	lin := al.(*LinearAligner)
	golden.Check(t, "W_cross", lin.W(), array(t, g.set, spec.Arrays["W_cross"]), 1e-5, 0)
	if d := math.Abs(float64(lin.TargetNorm)-spec.TargetNorm) / spec.TargetNorm; d > 1e-6 {
		t.Errorf("target norm %g, want %g", lin.TargetNorm, spec.TargetNorm)
	}

	// The single-vector example: A's post-norm last hidden for the prompt.
	ca := A.NewCache(64)
	out, err := A.Forward([]qwen.Seq{{Cache: ca, IDs: g.a.PromptIDs(t, spec.Prompt)}}, qwen.Request{})
	if err != nil {
		t.Fatal(err)
	}
	h := slices.Clone(out.LastHidden(0))
	golden.Check(t, "A last hidden", h, spec.ALast, 1e-4, 1e-4)
	mapped, pre := make([]float32, al.OutDim()), make([]float32, al.OutDim())
	if err := lin.MapPre(mapped, h, pre); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "mapped_pre_rescale", pre, spec.Pre, 1e-5, 0)
	golden.Check(t, "mapped", mapped, spec.Mapped, 1e-5, 0)

	// The hybrid hand-off: A plans with its own realignment, its raw hiddens
	// h₀…h₃ are mapped to B, B rebuilds its memory and continues.
	hp := spec.Hybrid
	rA, _, err := BuildRealigner(A, RealignOptions{Enabled: true, Lambda: spec.Lambda})
	if err != nil {
		t.Fatal(err)
	}
	ca = A.NewCache(256)
	trA := &Trace{}
	steps := len(hp.Raw)
	if err := (&Rollout{Model: A, Realign: rA, Steps: steps}).Run([]Agent{{Cache: ca, IDs: g.a.PromptIDs(t, "latent_agent1_planner"), Trace: trA}}); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "A raw hiddens", flat(trA.Raw), flat(hp.Raw), 1e-4, 1e-4)
	DB := B.Config.HiddenSize
	transferred := make([]float32, len(trA.Raw)*DB)
	for i, raw := range trA.Raw {
		if err := al.Map(transferred[i*DB:(i+1)*DB], raw); err != nil {
			t.Fatal(err)
		}
	}
	golden.Check(t, "transferred", transferred, flat(hp.Transferred), 1e-5, 0)

	cb := B.NewCache(512)
	out, err = HandOff(B, []Transfer{{Cache: cb, IDs: g.b.PromptIDs(t, "latent_agent1_planner"), Latents: transferred}}, qwen.Request{Logits: qwen.LogitsLast})
	if err != nil {
		t.Fatal(err)
	}
	golden.CheckTopK(t, "B transfer last logits", out.LogitsRow(0), hp.TransferTop.IDs, hp.TransferTop.Values, 1e-4)
	if cb.Len() != hp.TransferLen {
		t.Fatalf("transfer cache length %d, want %d", cb.Len(), hp.TransferLen)
	}
	golden.Check(t, "transfer kv", cacheKV(cb, B), array(t, g.set, hp.Arrays["transfer_kv"]), 1e-4, 1e-4)

	rB, _, err := BuildRealigner(B, RealignOptions{Enabled: true, Lambda: spec.Lambda})
	if err != nil {
		t.Fatal(err)
	}
	trB := &Trace{}
	if err := (&Rollout{Model: B, Realign: rB, Steps: len(hp.LatentIn)}).Run([]Agent{{Cache: cb, IDs: g.b.PromptIDs(t, "latent_agent2_critic"), Trace: trB}}); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "B agent-2 prompt last hidden", trB.PromptLastHidden, hp.PromptLast, 1e-4, 1e-4)
	logits := make([]float32, B.LMHead.Rows)
	tensor.MatMul(B.Pool, logits, trB.PromptLastHidden, 1, &B.LMHead)
	golden.CheckTopK(t, "B agent-2 prompt last logits", logits, hp.PromptTop.IDs, hp.PromptTop.Values, 1e-4)
	golden.Check(t, "B latent_in", flat(trB.LatentIn), flat(hp.LatentIn), 1e-5, 0)
	golden.Check(t, "B hidden_after", flat(trB.HiddenAfter), flat(hp.HiddenAfter), 1e-4, 1e-4)
	if cb.Len() != hp.FinalLen {
		t.Fatalf("final cache length %d, want %d", cb.Len(), hp.FinalLen)
	}
	golden.Check(t, "B final kv", cacheKV(cb, B), array(t, g.set, hp.Arrays["B_final_kv"]), 1e-4, 1e-4)
}
