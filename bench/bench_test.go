package bench

import (
	"testing"

	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tensor"
)

// BenchmarkModel reports prefill-128 and decode figures of a random model
// with Qwen3-0.6B's shapes (bf16) against the limits measured in the same
// run (each iteration one round, the figures the best round against the best
// limit, as `latentmas bench` reports them).
func BenchmarkModel(b *testing.B) {
	m, err := NewModel("qwen3-0.6b", tensor.BF16, qwen.Options{HugePages: true})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.ResetTimer()
	// One call of b.N rounds, not b.N calls of one: each call allocates
	// and fills the half-gigabyte bandwidth buffer and a KV cache anew.
	r, err := RunModel(m, "qwen3-0.6b", 128, 16, b.N, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(r.PrefillTokS, "prefill_tok/s")
	b.ReportMetric(r.DecodeTokS, "decode_tok/s")
	b.ReportMetric(r.DecodeBWFraction, "decode_bw_frac")
	b.ReportMetric(r.DecodeBWFractionInterleaved, "decode_bw_frac_interleaved")
	b.ReportMetric(r.DecodeReadFraction, "decode_read_frac")
	b.ReportMetric(r.PrefillPeakFraction, "prefill_peak_frac")
	b.ReportMetric(r.Limits.ReadGBs, "read_GB/s")
}
