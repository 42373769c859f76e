package bench

import (
	"testing"

	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tensor"
)

// BenchmarkModel reports prefill-128 and decode figures of a random model
// with Qwen3-0.6B's shapes (bf16) against the limits measured in the same
// run (each iteration one round; `latentmas bench` takes the best of three).
func BenchmarkModel(b *testing.B) {
	m, err := NewModel("qwen3-0.6b", tensor.BF16, qwen.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	b.ResetTimer()
	var r ModelResult
	for i := 0; i < b.N; i++ {
		if r, err = RunModel(m, "qwen3-0.6b", 128, 16, 1, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(r.PrefillTokS, "prefill_tok/s")
	b.ReportMetric(r.DecodeTokS, "decode_tok/s")
	b.ReportMetric(r.DecodeBWFraction, "decode_bw_frac")
	b.ReportMetric(r.DecodeReadFraction, "decode_read_frac")
	b.ReportMetric(r.PrefillPeakFraction, "prefill_peak_frac")
	b.ReportMetric(r.Limits.ReadGBs, "read_GB/s")
}
