package qwen

import (
	"fmt"
	"strings"
	"testing"

	"github.com/latentmas/latentmas/tensor"
)

// tinyRandom is a small random Qwen3-like model (head_dim ≠ hidden/heads).
func tinyRandom(t testing.TB, modelType string, dt tensor.DType, threads int) *Model {
	t.Helper()
	cfg := &Config{ModelType: modelType, HiddenSize: 48, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, HeadDim: 16,
		IntermediateSize: 80, VocabSize: 300, RMSNormEps: 1e-6, RopeTheta: 1e4, HiddenAct: "silu",
		QKNorm: modelType == "qwen3", QKVBias: modelType == "qwen2"}
	m, err := New(cfg, RandomSource(cfg, dt, 0.2, 7), Options{Threads: threads})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func seqIDs(n, salt int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = (i*31 + salt*17 + 3) % 300
	}
	return ids
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: length %d, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s: [%d] = %g, want %g (bitwise)", what, i, got[i], want[i])
		}
	}
}

// A ragged batch gives every sequence exactly what it gets alone, whatever
// the thread count: the results of a question must not depend on batching.
func TestRaggedBatchEqualsSingle(t *testing.T) {
	for _, mt := range []string{"qwen2", "qwen3"} {
		single := tinyRandom(t, mt, tensor.BF16, 1)
		batched := tinyRandom(t, mt, tensor.BF16, 3)
		lens := []int{5, 1, 12}
		var want [][]float32
		var wantCaches []*Cache
		for i, n := range lens {
			c := single.NewCache(4)
			pre := seqIDs(3+i, i+10) // different cached prefixes
			if _, err := single.Forward([]Seq{{Cache: c, IDs: pre}}, Request{}); err != nil {
				t.Fatal(err)
			}
			o, err := single.Forward([]Seq{{Cache: c, IDs: seqIDs(n, i)}}, Request{Logits: LogitsAll})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, append([]float32(nil), o.Logits...))
			wantCaches = append(wantCaches, c)
		}
		var seqs, again []Seq
		for i, n := range lens {
			c := batched.NewCache(4)
			if _, err := batched.Forward([]Seq{{Cache: c, IDs: seqIDs(3+i, i+10)}}, Request{}); err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, Seq{Cache: c, IDs: seqIDs(n, i)})
			again = append(again, Seq{Cache: c.Clone(), IDs: seqIDs(n, i)})
		}
		o, err := batched.Forward(seqs, Request{Logits: LogitsAll})
		if err != nil {
			t.Fatal(err)
		}
		V := batched.Config.VocabSize
		for i := range lens {
			sameBits(t, fmt.Sprintf("%s seq %d logits", mt, i), o.Logits[o.Starts[i]*V:o.Starts[i+1]*V], want[i])
			for l := 0; l < 2; l++ {
				gk, gv := seqs[i].Cache.Layer(l)
				wk, wv := wantCaches[i].Layer(l)
				sameBits(t, fmt.Sprintf("%s seq %d layer %d K", mt, i, l), gk, wk)
				sameBits(t, fmt.Sprintf("%s seq %d layer %d V", mt, i, l), gv, wv)
			}
		}
		// LogitsLast returns the same rows.
		o, err = batched.Forward(again, Request{Logits: LogitsLast})
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range lens {
			sameBits(t, fmt.Sprintf("%s seq %d last logits", mt, i), o.LogitsRow(i), want[i][(n-1)*V:])
		}
	}
}

// Feeding a token's embedding row as an input embedding is the same as
// feeding the token id.
func TestEmbedsEqualIDs(t *testing.T) {
	m := tinyRandom(t, "qwen3", tensor.F32, 2)
	ids := seqIDs(6, 1)
	D := m.Config.HiddenSize
	emb := make([]float32, len(ids)*D)
	for i, id := range ids {
		m.Embed.Row(id, emb[i*D:])
	}
	o, err := m.Forward([]Seq{{Cache: m.NewCache(8), IDs: ids}}, Request{Logits: LogitsAll})
	if err != nil {
		t.Fatal(err)
	}
	want := append([]float32(nil), o.Logits...)
	o, err = m.Forward([]Seq{{Cache: m.NewCache(8), Embeds: emb}}, Request{Logits: LogitsAll})
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "logits from embeddings", o.Logits, want)
}

// KeepLast and Gather keep exactly the selected positions, and the next
// token continues at the shortened cache length (HF semantics) unless
// PosShift says otherwise.
func TestCacheOps(t *testing.T) {
	m := tinyRandom(t, "qwen3", tensor.F32, 1)
	c := m.NewCache(2)
	if _, err := m.Forward([]Seq{{Cache: c, IDs: seqIDs(10, 2)}}, Request{}); err != nil {
		t.Fatal(err)
	}
	full := c.Clone()
	k0, v0 := full.Layer(1)
	d := c.KVDim()

	g := c.Clone()
	idx := []int{0, 3, 4, 9}
	if err := g.Gather(idx); err != nil {
		t.Fatal(err)
	}
	if g.Len() != 4 || g.NextPos() != 4 {
		t.Fatalf("gathered len %d next pos %d, want 4, 4", g.Len(), g.NextPos())
	}
	gk, gv := g.Layer(1)
	for i, p := range idx {
		sameBits(t, "gathered K", gk[i*d:(i+1)*d], k0[p*d:(p+1)*d])
		sameBits(t, "gathered V", gv[i*d:(i+1)*d], v0[p*d:(p+1)*d])
	}
	// Out-of-order and repeated positions take the copying path.
	h := full.Clone()
	perm := []int{9, 0, 9, 4}
	if err := h.Gather(perm); err != nil {
		t.Fatal(err)
	}
	hk, _ := h.Layer(1)
	for i, p := range perm {
		sameBits(t, "permuted K", hk[i*d:(i+1)*d], k0[p*d:(p+1)*d])
	}
	if err := g.Gather([]int{10}); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("gather out of range: %v", err)
	}

	k := c.Clone()
	k.KeepLast(3)
	kk, _ := k.Layer(0)
	fk, _ := full.Layer(0)
	sameBits(t, "keep last", kk, fk[7*d:])
	k.KeepLast(0)
	if k.Len() != 0 {
		t.Errorf("KeepLast(0) left %d positions", k.Len())
	}

	// Positions after pruning: HF restarts at the cache length; PosShift
	// continues the original count. Compare against a cache whose
	// continuation is computed by hand.
	a, b := full.Clone(), full.Clone()
	a.KeepLast(4)
	b.KeepLast(4)
	b.PosShift = 6
	oa, _ := m.Forward([]Seq{{Cache: a, IDs: []int{5}}}, Request{Logits: LogitsLast})
	la := append([]float32(nil), oa.LogitsRow(0)...)
	ob, _ := m.Forward([]Seq{{Cache: b, IDs: []int{5}}}, Request{Logits: LogitsLast})
	same := true
	for i := range la {
		same = same && la[i] == ob.LogitsRow(0)[i]
	}
	if same {
		t.Error("PosShift did not change the new token's position")
	}
	if a.NextPos() != 5 || b.NextPos() != 11 {
		t.Errorf("next positions %d and %d, want 5 and 11", a.NextPos(), b.NextPos())
	}
	// Appending past the capacity moves every head's rows (the cache is
	// head-major inside; Layer and Pos show positions in order).
	gr := m.NewCache(16)
	ks, vs := make([][]float32, c.Layers()), make([][]float32, c.Layers())
	for l := range ks {
		ks[l], vs[l] = full.Layer(l)
	}
	for i := 0; i < 3; i++ {
		if err := gr.AppendKV(ks, vs, 10); err != nil {
			t.Fatal(err)
		}
	}
	pk, pv := make([]float32, d), make([]float32, d)
	for l := range ks {
		lk, lv := gr.Layer(l)
		for p := 0; p < 30; p++ {
			sameBits(t, "grown K", lk[p*d:(p+1)*d], ks[l][p%10*d:(p%10+1)*d])
			sameBits(t, "grown V", lv[p*d:(p+1)*d], vs[l][p%10*d:(p%10+1)*d])
		}
		gr.Pos(l, 17, pk, pv)
		sameBits(t, "Pos K", pk, ks[l][7*d:8*d])
		sameBits(t, "Pos V", pv, vs[l][7*d:8*d])
	}
	if err := gr.AppendKV(ks[:1], vs, 10); err == nil {
		t.Error("AppendKV with one layer's keys: no error")
	}
	if c.Bytes() != int64(10*d*4*2*m.Config.NumLayers) {
		t.Errorf("Bytes = %d", c.Bytes())
	}
}

func TestForwardErrors(t *testing.T) {
	m := tinyRandom(t, "qwen2", tensor.F32, 1)
	cfg := *m.Config
	cfg.NumLayers = 1
	other, err := New(&cfg, RandomSource(&cfg, tensor.F32, 0.1, 1), Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := m.NewCache(1)
	for _, tc := range []struct {
		seqs []Seq
		want string
	}{
		{nil, "no sequences"},
		{[]Seq{{IDs: []int{1}}}, "no cache"},
		{[]Seq{{Cache: c}}, "exactly one of IDs and Embeds"},
		{[]Seq{{Cache: c, IDs: []int{1}, Embeds: []float32{1}}}, "exactly one of IDs and Embeds"},
		{[]Seq{{Cache: c, IDs: []int{300}}}, "token id 300 out of range"},
		{[]Seq{{Cache: c, IDs: []int{-1}}}, "token id -1 out of range"},
		{[]Seq{{Cache: c, Embeds: make([]float32, 47)}}, "not a multiple of hidden size 48"},
		{[]Seq{{Cache: c, IDs: []int{}}}, "no new positions"},
		{[]Seq{{Cache: other.NewCache(1), IDs: []int{1}}}, "another model"},
	} {
		_, err := m.Forward(tc.seqs, Request{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want error containing %q", err, tc.want)
		}
	}
	if c.Len() != 0 {
		t.Errorf("failed calls changed the cache: len %d", c.Len())
	}
}

func TestConfigErrors(t *testing.T) {
	base := `"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"intermediate_size":96,"vocab_size":100`
	for _, tc := range []struct{ json, want string }{
		{`{` + base + `}`, `"model_type" is missing`},
		{`{"model_type":"llama",` + base + `}`, `model_type "llama" is not supported`},
		{`{"model_type":"qwen3",` + base + `,"rope_scaling":{"rope_type":"yarn","factor":4}}`, "rope_scaling"},
		{`{"model_type":"qwen2",` + base + `,"use_sliding_window":true,"sliding_window":4096}`, "sliding_window 4096 is not supported"},
		{`{"model_type":"qwen3",` + base + `,"hidden_act":"gelu"}`, `hidden_act "gelu"`},
		{`{"model_type":"qwen3","hidden_size":64}`, `"num_hidden_layers" must be a positive integer`},
		{`{"model_type":"qwen3",` + base + `,"num_key_value_heads":3}`, "not a multiple"},
		{`{"model_type":`, "invalid JSON"},
	} {
		_, err := DecodeConfig([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.json, err, tc.want)
		}
	}
	c, err := DecodeConfig([]byte(`{"model_type":"qwen2",` + base + `,"use_sliding_window":false,"sliding_window":32768,"rope_scaling":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.HeadDim != 16 || !c.QKVBias || c.QKNorm || c.RopeTheta != 10000 {
		t.Errorf("qwen2 defaults: %+v", c)
	}
}

func TestLoadErrors(t *testing.T) {
	cfg := &Config{ModelType: "qwen3", HiddenSize: 8, NumLayers: 1, NumHeads: 2, NumKVHeads: 1, HeadDim: 4,
		IntermediateSize: 8, VocabSize: 10, RMSNormEps: 1e-6, RopeTheta: 1e4, QKNorm: true}
	src := RandomSource(cfg, tensor.BF16, 0.1, 1)
	delete(src, "model.layers.0.mlp.up_proj.weight")
	if _, err := New(cfg, src, Options{}); err == nil || !strings.Contains(err.Error(), `"model.layers.0.mlp.up_proj.weight"`) {
		t.Errorf("missing tensor: %v", err)
	}
	src = RandomSource(cfg, tensor.BF16, 0.1, 1)
	src["model.norm.weight"].Shape = []int{4, 2}
	if _, err := New(cfg, src, Options{}); err == nil || !strings.Contains(err.Error(), "has shape [4 2], config.json implies [8]") {
		t.Errorf("wrong shape: %v", err)
	}
}

// A steady-state decode step allocates nothing: buffers live with the model
// and the cache.
func TestDecodeStepAllocatesNothing(t *testing.T) {
	for _, threads := range []int{1, 2} {
		m := tinyRandom(t, "qwen3", tensor.BF16, threads)
		c := m.NewCache(256)
		if _, err := m.Forward([]Seq{{Cache: c, IDs: seqIDs(8, 1)}}, Request{Logits: LogitsLast}); err != nil {
			t.Fatal(err)
		}
		seqs := []Seq{{Cache: c, IDs: []int{7}}}
		allocs := testing.AllocsPerRun(50, func() {
			if _, err := m.Forward(seqs, Request{Logits: LogitsLast}); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("threads=%d: %v allocations per decode step", threads, allocs)
		}
	}
}
