package qwen

import (
	"testing"

	"github.com/latentmas/latentmas/tensor"
)

// benchModel is built once: generating 0.6B random weights takes seconds.
var benchModel *Model

func qwen3_06b(b *testing.B) *Model {
	b.Helper()
	if benchModel == nil {
		cfg, err := Shape("qwen3-0.6b")
		if err != nil {
			b.Fatal(err)
		}
		m, err := NewRandom(cfg, tensor.BF16, 1, Options{HugePages: true})
		if err != nil {
			b.Fatal(err)
		}
		benchModel = m
	}
	return benchModel
}

// BenchmarkDecodeQwen3_06B times one decode step (batch 1, 128 cached
// positions) of a random-weight model with Qwen3-0.6B's shapes in bf16, and
// reports tokens/s and the weight bandwidth it implies.
func BenchmarkDecodeQwen3_06B(b *testing.B) {
	m := qwen3_06b(b)
	c := m.NewCache(128 + b.N + 1)
	prompt := make([]int, 128)
	for i := range prompt {
		prompt[i] = (i * 7919) % m.Config.VocabSize
	}
	if _, err := m.Forward([]Seq{{Cache: c, IDs: prompt}}, Request{}); err != nil {
		b.Fatal(err)
	}
	ids := []int{42}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Forward([]Seq{{Cache: c, IDs: ids}}, Request{Logits: LogitsLast}); err != nil {
			b.Fatal(err)
		}
	}
	s := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(1/s, "tok/s")
	b.ReportMetric(float64(m.WeightBytes())/s/1e9, "weightGB/s")
	b.ReportMetric(float64(m.Pool.Threads()), "threads")
}

// BenchmarkPrefill128Qwen3_06B times a 128-token prefill (logits for the last
// position only) and reports tokens/s and GFLOP/s of the matrix products.
func BenchmarkPrefill128Qwen3_06B(b *testing.B) {
	m := qwen3_06b(b)
	c := m.NewCache(128)
	prompt := make([]int, 128)
	for i := range prompt {
		prompt[i] = (i * 7919) % m.Config.VocabSize
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Reset()
		if _, err := m.Forward([]Seq{{Cache: c, IDs: prompt}}, Request{Logits: LogitsLast}); err != nil {
			b.Fatal(err)
		}
	}
	s := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(128/s, "tok/s")
	layerFlops := 2 * float64(m.WeightBytes()-m.LMHead.Bytes()) / 2 // bf16: params = bytes/2
	b.ReportMetric((128*layerFlops+2*float64(m.LMHead.Rows*m.LMHead.Cols))/s/1e9, "GFLOP/s")
}
