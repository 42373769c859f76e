package bench

import (
	"testing"
	"unsafe"

	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tensor"
)

// weightRegions views the weight matrices' own memory, in WeightMats'
// order, and stops at the limit.
func TestWeightRegions(t *testing.T) {
	cfg := &qwen.Config{ModelType: "qwen2", HiddenSize: 64, NumLayers: 2, NumHeads: 4, NumKVHeads: 2, HeadDim: 16,
		IntermediateSize: 96, VocabSize: 100, RMSNormEps: 1e-6, RopeTheta: 1e4, TieWordEmbeddings: true, HiddenAct: "silu"}
	for _, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16} {
		m, err := qwen.NewRandom(cfg, dt, 1, qwen.Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		ws := m.WeightMats()
		start := func(w *tensor.Mat) unsafe.Pointer {
			if dt == tensor.F32 {
				return unsafe.Pointer(&w.F32[0])
			}
			return unsafe.Pointer(&w.U16[0])
		}
		// No limit to speak of: every matrix whole, in order.
		rs := weightRegions(m, 1<<30)
		if len(rs) != len(ws) {
			t.Fatalf("%v: %d regions for %d matrices", dt, len(rs), len(ws))
		}
		var all int64
		for i, r := range rs {
			if unsafe.Pointer(&r[0]) != start(ws[i]) || int64(4*len(r)) != ws[i].Bytes() {
				t.Errorf("%v: region %d is not matrix %d's memory (%d bytes, want %d)", dt, i, i, 4*len(r), ws[i].Bytes())
			}
			all += int64(4 * len(r))
		}
		if all != m.WeightBytes() {
			t.Errorf("%v: regions hold %d bytes, weights %d", dt, all, m.WeightBytes())
		}
		// A limit ending inside the third matrix.
		limit := int(ws[0].Bytes()+ws[1].Bytes()) + 4*10
		rs = weightRegions(m, limit)
		if len(rs) != 3 || len(rs[2]) != 10 || unsafe.Pointer(&rs[2][0]) != start(ws[2]) {
			t.Errorf("%v: limit %d bytes gives %d regions, the last of %d values", dt, limit, len(rs), len(rs[len(rs)-1]))
		}
		m.Close()
	}
}
