package qwen

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/latentmas/latentmas/internal/golden"
	"github.com/latentmas/latentmas/tensor"
)

// The golden README's tolerances for a bf16 engine (§5): bf16 activations
// are such an engine, so they are held to those, not to the float32 ones.
const (
	bf16LogitsAtol = 5e-2
	bf16StateAtol  = 0.15
)

// TestGoldenBF16Activations checks Options.BF16Activations against the
// golden outputs at the README's bf16-engine tolerances: prefill logits,
// hidden states and KV, and logits decoded one position at a time.
func TestGoldenBF16Activations(t *testing.T) {
	for _, g := range goldenModels(t) {
		t.Run(g.name(), func(t *testing.T) {
			m, err := Load(g.dir, Options{Threads: 2, BF16Activations: true})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			var prefill map[string]any
			if err := g.set.Decode("prefill", &prefill); err != nil {
				t.Fatal(err)
			}
			for _, P := range slices.Sorted(maps.Keys(prefill)) {
				ids := g.set.PromptIDs(t, P)
				T, V, D := len(ids), m.Config.VocabSize, m.Config.HiddenSize
				c := m.NewCache(T)
				out, err := m.Forward([]Seq{{Cache: c, IDs: ids}}, Request{Logits: LogitsAll})
				if err != nil {
					t.Fatal(err)
				}
				var arrays map[string]string
				if err := g.set.Decode("prefill."+P+".arrays", &arrays); err != nil {
					t.Fatal(err)
				}
				gots := map[string]struct {
					v    []float32
					atol float64
				}{
					"logits_all":     {out.Logits[:T*V], bf16LogitsAtol},
					"logits_last":    {out.LogitsRow(T - 1), bf16LogitsAtol},
					"final_postnorm": {out.Hidden[:T*D], bf16StateAtol},
					"kv":             {kvToGolden(c, m.Config.NumKVHeads, m.Config.HeadDim), bf16StateAtol},
				}
				if arrays["logits_last"] == "" {
					t.Fatalf("golden prefill %s has no logits_last", P)
				}
				for key, got := range gots {
					if arrays[key] == "" {
						continue // not recorded for this prompt
					}
					want, _, err := g.set.Array(arrays[key])
					if err != nil {
						t.Fatal(err)
					}
					golden.Check(t, fmt.Sprintf("%s %s", P, key), got.v, want, got.atol, 0)
				}
				// Decoding position by position sees the same logits (all
				// of them where the golden set has them, else the last).
				all := arrays["logits_all"] != ""
				name := map[bool]string{true: "logits_all", false: "logits_last"}[all]
				want, _, err := g.set.Array(arrays[name])
				if err != nil {
					t.Fatal(err)
				}
				c = m.NewCache(T)
				for p := 0; p < T; p++ {
					out, err := m.Forward([]Seq{{Cache: c, IDs: ids[p : p+1]}}, Request{Logits: LogitsLast})
					if err != nil {
						t.Fatal(err)
					}
					switch {
					case all:
						golden.Check(t, fmt.Sprintf("%s decoded logits at %d", P, p), out.LogitsRow(0), want[p*V:(p+1)*V], bf16LogitsAtol, 0)
					case p == T-1:
						golden.Check(t, fmt.Sprintf("%s decoded last logits", P), out.LogitsRow(0), want, bf16LogitsAtol, 0)
					}
				}
			}
		})
	}
}

// With bf16 activations a sequence still gets exactly the same results in
// a ragged batch as alone, whatever the thread count.
func TestBF16ActivationsBatchInvariant(t *testing.T) {
	for _, mt := range []string{"qwen2", "qwen3"} {
		mk := func(threads int) *Model {
			cfg := tinyRandom(t, mt, tensor.BF16, 1).Config
			m, err := New(cfg, RandomSource(cfg, tensor.BF16, 0.2, 7), Options{Threads: threads, BF16Activations: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			return m
		}
		single, batched := mk(1), mk(3)
		lens := []int{5, 1, 12}
		var seqs []Seq
		var want [][]float32
		for i, n := range lens {
			c := single.NewCache(4)
			o, err := single.Forward([]Seq{{Cache: c, IDs: seqIDs(n, i)}}, Request{Logits: LogitsAll})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, append([]float32(nil), o.Logits...))
			seqs = append(seqs, Seq{Cache: batched.NewCache(4), IDs: seqIDs(n, i)})
		}
		o, err := batched.Forward(seqs, Request{Logits: LogitsAll})
		if err != nil {
			t.Fatal(err)
		}
		V := single.Config.VocabSize
		// And the option is in effect: float32 activations differ.
		ref := tinyRandom(t, mt, tensor.BF16, 1)
		ro, err := ref.Forward([]Seq{{Cache: ref.NewCache(4), IDs: seqIDs(lens[0], 0)}}, Request{Logits: LogitsAll})
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(ro.Logits, want[0]) {
			t.Fatalf("%s: bf16 activations give the float32 logits bit for bit", mt)
		}
		for i := range lens {
			sameBits(t, fmt.Sprintf("%s seq %d logits", mt, i), o.Logits[o.Starts[i]*V:o.Starts[i+1]*V], want[i])
		}
	}
}
