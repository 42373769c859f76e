package mas

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// empirical draws n samples and returns the frequency of each id.
func empirical(cfg SamplingConfig, logits []float32, n int) map[int]float64 {
	s := NewSampler(cfg, 1, 2)
	f := map[int]float64{}
	for i := 0; i < n; i++ {
		f[s.Sample(logits)] += 1 / float64(n)
	}
	return f
}

func TestSamplerFollowsHFOrder(t *testing.T) {
	logits := []float32{2, 1, 1, 0, -1, 3}
	softmax := func(ids []int, temp float64) map[int]float64 {
		p := map[int]float64{}
		var z float64
		for _, id := range ids {
			p[id] = math.Exp(float64(logits[id]) / temp)
			z += p[id]
		}
		for id := range p {
			p[id] /= z
		}
		return p
	}
	for _, tc := range []struct {
		name string
		cfg  SamplingConfig
		want map[int]float64
	}{
		{"greedy", SamplingConfig{Temperature: 0, TopP: 1}, map[int]float64{5: 1}},
		{"top-k keeps ties at the k-th value", SamplingConfig{Temperature: 1, TopK: 3, TopP: 1}, softmax([]int{5, 0, 1, 2}, 1)},
		{"temperature sharpens", SamplingConfig{Temperature: 0.5, TopP: 1}, softmax([]int{0, 1, 2, 3, 4, 5}, 0.5)},
		// Probabilities at T=1: id5 .6095, id0 .2242, id1/id2 .0825 each, ...
		// top_p 0.8: the tail below the top two holds .166 ≤ .2, so only 5 and 0 remain.
		{"top-p cuts the tail", SamplingConfig{Temperature: 1, TopP: 0.8}, softmax([]int{5, 0}, 1)},
		{"top-p keeps at least one", SamplingConfig{Temperature: 1, TopP: 1e-9}, map[int]float64{5: 1}},
		{"top-k then top-p", SamplingConfig{Temperature: 1, TopK: 2, TopP: 0.7}, softmax([]int{5}, 1)},
	} {
		got := empirical(tc.cfg, logits, 20000)
		for id, p := range tc.want {
			if math.Abs(got[id]-p) > 0.015 {
				t.Errorf("%s: P(%d) = %.3f, want %.3f", tc.name, id, got[id], p)
			}
		}
		for id, p := range got {
			if _, ok := tc.want[id]; !ok && p > 0 {
				t.Errorf("%s: drew excluded id %d (freq %.3f)", tc.name, id, p)
			}
		}
	}
}

func TestSamplerReproducible(t *testing.T) {
	logits := make([]float32, 1000)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i)))
	}
	cfg := SamplingConfig{Temperature: 0.6, TopK: 20, TopP: 0.95}
	a, b, c := NewSampler(cfg, 7, 3), NewSampler(cfg, 7, 3), NewSampler(cfg, 7, 4)
	same, diff := true, false
	for i := 0; i < 50; i++ {
		x, y, z := a.Sample(logits), b.Sample(logits), c.Sample(logits)
		same = same && x == y
		diff = diff || x != z
	}
	if !same || !diff {
		t.Errorf("same seed and stream must agree (%v); another stream must differ (%v)", same, diff)
	}
}

func TestLoadGenerationConfig(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`{"do_sample":true,"eos_token_id":[151645,151643],"pad_token_id":151643,"temperature":0.6,"top_k":20,"top_p":0.95}`), 0o644)
	c, err := LoadGenerationConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Temperature != 0.6 || c.TopK != 20 || c.TopP != 0.95 || len(c.EOS) != 2 || c.EOS[1] != 151643 || c.Pad != 151643 {
		t.Errorf("got %+v", c)
	}
	os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`{"eos_token_id":7}`), 0o644)
	if c, err = LoadGenerationConfig(dir); err != nil || len(c.EOS) != 1 || c.EOS[0] != 7 || c.TopK != 50 {
		t.Errorf("single eos / defaults: %+v %v", c, err)
	}
	os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`{"eos_token_id":`), 0o644)
	if _, err = LoadGenerationConfig(dir); err == nil {
		t.Error("invalid JSON accepted")
	}
}
