package latent

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tensor"
)

func smallModel(t *testing.T, tied bool) *qwen.Model {
	t.Helper()
	cfg := &qwen.Config{ModelType: "qwen3", HiddenSize: 24, NumLayers: 2, NumHeads: 2, NumKVHeads: 1, HeadDim: 8,
		IntermediateSize: 32, VocabSize: 500, RMSNormEps: 1e-6, RopeTheta: 1e4, HiddenAct: "silu", QKNorm: true,
		TieWordEmbeddings: tied}
	m, err := qwen.New(cfg, qwen.RandomSource(cfg, tensor.BF16, 0.1, 3), qwen.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// The ridge solution satisfies its normal equations.
func TestRidgeSolvesNormalEquations(t *testing.T) {
	m := smallModel(t, false)
	const lambda = 1e-3
	rows := 450
	X, err := Ridge(m.Pool, &m.LMHead, &m.Embed, rows, lambda, nil)
	if err != nil {
		t.Fatal(err)
	}
	D := m.Config.HiddenSize
	a, b := make([]float32, D), make([]float32, D)
	G := make([]float64, D*D)
	R := make([]float64, D*D)
	for v := 0; v < rows; v++ {
		m.LMHead.Row(v, a)
		m.Embed.Row(v, b)
		for i := 0; i < D; i++ {
			for j := 0; j < D; j++ {
				G[i*D+j] += float64(a[i]) * float64(a[j])
				R[i*D+j] += float64(a[i]) * float64(b[j])
			}
		}
	}
	for i := 0; i < D; i++ {
		for j := 0; j < D; j++ {
			s := lambda * float64(X[i*D+j])
			for k := 0; k < D; k++ {
				s += G[i*D+k] * float64(X[k*D+j])
			}
			if math.Abs(s-R[i*D+j]) > 1e-4*(1+math.Abs(R[i*D+j])) {
				t.Fatalf("(G+λI)X ≠ R at [%d,%d]: %g vs %g", i, j, s, R[i*D+j])
			}
		}
	}
}

func TestRealignOffIsNormRescale(t *testing.T) {
	m := smallModel(t, true)
	r, _, err := BuildRealigner(m, RealignOptions{Enabled: false, Lambda: 1e-5, Rows: 300})
	if err != nil {
		t.Fatal(err)
	}
	h := []float32{3, 4}
	h = append(h, make([]float32, 22)...)
	e := make([]float32, 24)
	r.Apply(e, h, nil)
	if math.Abs(float64(e[0]/e[1])-0.75) > 1e-6 || math.Abs(float64(e[0]*e[0]+e[1]*e[1])-float64(r.TargetNorm*r.TargetNorm)) > 1e-6 {
		t.Errorf("identity realignment gave %v, want h rescaled to %g", e[:2], r.TargetNorm)
	}
	all, _, _ := BuildRealigner(m, RealignOptions{Enabled: false})
	if all.TargetNorm == r.TargetNorm {
		t.Error("Rows did not change the rows the target norm is taken over")
	}
}

// The second build comes from the disk cache; a corrupt or stale file is
// detected and recomputed.
func TestRealignCache(t *testing.T) {
	m := smallModel(t, false)
	dir := t.TempDir()
	var log bytes.Buffer
	opt := RealignOptions{Enabled: true, Lambda: 1e-5, CacheDir: dir, Progress: &log}
	r1, st, err := BuildRealigner(m, opt)
	if err != nil || st.FromCache || st.CacheFile == "" {
		t.Fatalf("first build: %v %+v", err, st)
	}
	r2, st, err := BuildRealigner(m, opt)
	if err != nil || !st.FromCache {
		t.Fatalf("second build not from cache: %v %+v", err, st)
	}
	for i := range r1.MT {
		if r1.MT[i] != r2.MT[i] {
			t.Fatal("cached matrix differs")
		}
	}
	// Corrupt one byte of the payload.
	b, _ := os.ReadFile(st.CacheFile)
	b[100] ^= 0xff
	os.WriteFile(st.CacheFile, b, 0o644)
	r3, st, err := BuildRealigner(m, opt)
	if err != nil || st.FromCache {
		t.Fatalf("corrupt cache was trusted: %v %+v", err, st)
	}
	if !strings.Contains(log.String(), "checksum mismatch") {
		t.Errorf("no message about the corrupt file: %q", log.String())
	}
	for i := range r1.MT {
		if r1.MT[i] != r3.MT[i] {
			t.Fatal("recomputed matrix differs")
		}
	}
	if _, st, _ = BuildRealigner(m, opt); !st.FromCache {
		t.Error("rebuilt cache file not used")
	}
	// A different λ is a different key, not a stale hit.
	opt.Lambda = 1e-3
	if _, st, _ = BuildRealigner(m, opt); st.FromCache {
		t.Error("matrix for another λ taken from the cache")
	}
}
