// Package bench holds end-to-end benchmarks of the engine and the methods on
// random-weight models with real Qwen shapes, and the machine limits they are
// read against (memory read bandwidth, peak FMA and BF16 throughput, measured
// in the same run with the project's own kernels). `latentmas bench` and the
// `go test -bench` benchmarks in this package share this code.
package bench

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"time"
	"unsafe"

	"github.com/latentmas/latentmas/asm"
	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tensor"
)

// Limits are the machine's measured limits.
type Limits struct {
	ReadGBs      float64 `json:"read_gb_s"`        // memory read bandwidth, over the model's weights
	PeakFMAGFlop float64 `json:"peak_fma_gflop_s"` // float32 FMA
	PeakBF16     float64 `json:"peak_bf16_gflop_s"`
	Threads      int     `json:"threads"`
}

// measureLimits measures the limits for a thread count, the read
// bandwidth over regions (weightRegions: the model's own weights). A
// separate buffer of the size a bandwidth measurement needs (hundreds of
// megabytes, well above the caches) is memory a host that overcommits its
// own answers by paging out what was touched least recently: on such a
// 2-core host, reading a half-gigabyte buffer between Qwen2.5-0.5B decode
// tokens made the tokens 18 → 400 ms while the buffer still read at 50
// GB/s, the weights' pages being fetched back. Over the weights nothing
// else is touched, and the figure is the bandwidth of the very pages, in
// the very paging, that decode reads.
func measureLimits(threads int, regions [][]float32) Limits {
	bw := asm.MeasureReadBandwidthOver(threads, regions)
	return Limits{
		ReadGBs:      bw,
		PeakFMAGFlop: asm.MeasurePeakFMA(threads),
		PeakBF16:     asm.MeasurePeakBF16(threads),
		Threads:      threads,
	}
}

// ModelResult is one model benchmark.
type ModelResult struct {
	Shape            string  `json:"shape"`
	DType            string  `json:"dtype"`
	Threads          int     `json:"threads"`
	Dispatch         string  `json:"dispatch"`
	PromptTokens     int     `json:"prompt_tokens"`
	GenTokens        int     `json:"gen_tokens"`
	Rounds           int     `json:"rounds"` // best of this many rounds
	PrefillTokS      float64 `json:"prefill_tok_s"`
	DecodeTokS       float64 `json:"decode_tok_s"`
	WeightBytes      int64   `json:"weight_bytes"`
	DecodeGBs        float64 `json:"decode_gb_s"`
	PrefillGFlops    float64 `json:"prefill_gflop_s"`
	DecodeBWFraction float64 `json:"decode_bw_fraction"`
	// DecodeBWFractionInterleaved is decode against the read bandwidth
	// of the same moments, each measured as a token is: after each round's
	// timed decode, gen more tokens are decoded, each right after one
	// pass of the limit's bandwidth measurement (one of each pattern, the
	// faster) over all the weights it reads; this is the median token's
	// rate (weight bytes per second) over the median pass's, all rounds
	// together, and DecodeBWFractionInterleavedIQR the tokens' quartiles
	// over that median. On a shared host the best-of ratio
	// (DecodeBWFraction) compares a decode round with a limit measured at
	// another moment, and a best of many passes with a token timed once
	// (the host's bandwidth moves by a fifth from one pass to the next);
	// the interleaved one compares like with like.
	DecodeBWFractionInterleaved    float64    `json:"decode_bw_fraction_interleaved"`
	DecodeBWFractionInterleavedIQR [2]float64 `json:"decode_bw_fraction_interleaved_iqr"`
	// DecodeKVBytes is the float32 keys and values a decode step reads
	// from the cache, on average over the decoded tokens (all layers), and
	// DecodeReadFraction the bandwidth fraction of weights and cache
	// together: for Qwen3-0.6B at 600 positions the cache is a tenth of
	// what a token reads, which decode_bw_fraction leaves out.
	DecodeKVBytes       int64   `json:"decode_kv_bytes"`
	DecodeReadFraction  float64 `json:"decode_read_fraction"`
	PrefillPeakFraction float64 `json:"prefill_peak_fraction"`
	// PrefillBF16PeakFraction is prefill against the VDPBF16PS peak (0
	// where the CPU has none), whatever the compute precision.
	PrefillBF16PeakFraction float64 `json:"prefill_bf16_peak_fraction"`
	// Compute is "f32", or "bf16" with Options.BF16Activations (then the
	// peak of prefill_peak_fraction is the BF16 one).
	Compute string `json:"compute"`
	// HugePages: the weights are in huge pages (Options.HugePages), else
	// in 4 KiB pages as a memory-mapped checkpoint's are.
	HugePages bool   `json:"huge_pages"`
	Limits    Limits `json:"limits"`
}

// decodeInterleaved decodes gen tokens after next into c, each right
// after one pass of the bandwidth measurement over all (all the weights a
// token reads), and appends the tokens' rates (weight GB/s) to toks and
// the passes' to reads.
func decodeInterleaved(m *qwen.Model, c *qwen.Cache, next []int, gen int, all [][]float32, toks, reads []float64) ([]float64, []float64, error) {
	th := m.Pool.Threads()
	w := float64(m.WeightBytes())
	for i := 0; i < gen; i++ {
		// The pool's workers spin for tensor.SpinWait after an operation;
		// the pass waits until they have parked, so they do not share its
		// cores (the token then pays their wake-up, not the pass).
		time.Sleep(tensor.SpinWait + time.Millisecond)
		reads = append(reads, asm.MeasureReadBandwidthOnce(th, all))
		t0 := time.Now()
		o, err := m.Forward([]qwen.Seq{{Cache: c, IDs: next}}, qwen.Request{Logits: qwen.LogitsLast})
		if err != nil {
			return toks, reads, err
		}
		toks = append(toks, w/time.Since(t0).Seconds()/1e9)
		next[0] = qwen.Argmax(o.LogitsRow(0))
	}
	return toks, reads, nil
}

// limitBytes bounds the memory a bandwidth measurement reads: well above
// the caches, and a tenth of a second a pass at most on these machines.
const limitBytes = 512 << 20

// weightRegions views the model's weight matrices (qwen.Model.WeightMats),
// in order up to limit bytes in all, as float32 memory for
// asm.MeasureReadBandwidthOver, 16-bit data two values a float32: the
// bandwidth is then measured over pages a decode step reads, in their
// paging, and no other memory is touched.
func weightRegions(m *qwen.Model, limit int) [][]float32 {
	var rs [][]float32
	left := limit / 4
	for _, w := range m.WeightMats() {
		var r []float32
		switch {
		case len(w.F32) > 0:
			r = w.F32
		case len(w.U16) > 1:
			r = unsafe.Slice((*float32)(unsafe.Pointer(&w.U16[0])), len(w.U16)/2)
		}
		r = r[:min(len(r), left)]
		if len(r) > 0 {
			rs = append(rs, r)
			left -= len(r)
		}
	}
	return rs
}

// ParseDType maps "bf16"/"f32"/"f16" to a tensor dtype.
func ParseDType(s string) (tensor.DType, error) {
	switch strings.ToLower(s) {
	case "bf16":
		return tensor.BF16, nil
	case "f32":
		return tensor.F32, nil
	case "f16":
		return tensor.F16, nil
	}
	return 0, fmt.Errorf("unknown dtype %q (bf16, f32 or f16)", s)
}

// NewModel builds a random-weight model of a named shape.
func NewModel(shape string, dt tensor.DType, opt qwen.Options) (*qwen.Model, error) {
	cfg, err := qwen.Shape(shape)
	if err != nil {
		return nil, err
	}
	return qwen.NewRandom(cfg, dt, 1, opt)
}

// layerFlops is 2 × the multiply-adds of the weight matrices for one token
// (the LM head only for the last position of a prefill).
func layerFlops(m *qwen.Model) float64 {
	var n float64
	for i := range m.Layers {
		L := &m.Layers[i]
		for _, w := range []*tensor.Mat{&L.Q, &L.K, &L.V, &L.O, &L.Gate, &L.Up, &L.Down} {
			n += float64(w.Rows) * float64(w.Cols)
		}
	}
	return 2 * n
}

// RunModel measures prefill of prompt tokens and decoding of gen tokens on
// m in rounds, each measuring the machine's limits right before its own
// prefill and decode, and reports the best round of each figure against
// the best measured limit (for the bandwidth, the best of every
// measurement of the run, the interleaved decode's passes included). A shared machine
// slows the kernels and the limit measurements alike while a neighbour is
// busy; the best rounds are the quiet ones, so the ratio of the bests is
// far steadier than one pass. progress, if not nil, is called before each round.
func RunModel(m *qwen.Model, shape string, prompt, gen, rounds int, progress func(round int)) (ModelResult, error) {
	rounds = max(rounds, 1)
	r := ModelResult{Shape: shape, DType: m.Embed.DType.String(), Threads: m.Pool.Threads(), Dispatch: asm.Dispatch(),
		PromptTokens: prompt, GenTokens: gen, Rounds: rounds, WeightBytes: m.WeightBytes(), Compute: "f32", HugePages: m.HugePages()}
	bf16 := m.BF16Activations() && m.Embed.DType == tensor.BF16
	if bf16 {
		r.Compute = "bf16"
	}
	ids := make([]int, prompt)
	for i := range ids {
		ids[i] = (i*7919 + 13) % m.Config.VocabSize
	}
	c := m.NewCache(prompt + 2*gen + 1)
	pre, dec := math.Inf(1), math.Inf(1)
	var toks, reads []float64
	all := weightRegions(m, math.MaxInt)
	lim := Limits{Threads: m.Pool.Threads()}
	regions := weightRegions(m, limitBytes)
	for round := 0; round < rounds; round++ {
		if progress != nil {
			progress(round)
		}
		l := measureLimits(m.Pool.Threads(), regions)
		lim.ReadGBs = max(lim.ReadGBs, l.ReadGBs)
		lim.PeakFMAGFlop = max(lim.PeakFMAGFlop, l.PeakFMAGFlop)
		lim.PeakBF16 = max(lim.PeakBF16, l.PeakBF16)
		c.Reset()
		runtime.GC()
		t0 := time.Now()
		out, err := m.Forward([]qwen.Seq{{Cache: c, IDs: ids}}, qwen.Request{Logits: qwen.LogitsLast})
		if err != nil {
			return r, err
		}
		pre = min(pre, time.Since(t0).Seconds())
		next := []int{qwen.Argmax(out.LogitsRow(0))}
		t0 = time.Now()
		for i := 0; i < gen; i++ {
			out, err := m.Forward([]qwen.Seq{{Cache: c, IDs: next}}, qwen.Request{Logits: qwen.LogitsLast})
			if err != nil {
				return r, err
			}
			next[0] = qwen.Argmax(out.LogitsRow(0))
		}
		dec = min(dec, time.Since(t0).Seconds())
		if toks, reads, err = decodeInterleaved(m, c, next, gen, all, toks, reads); err != nil {
			return r, err
		}
	}
	if len(toks) > 0 {
		sort.Float64s(toks)
		sort.Float64s(reads)
		q := func(xs []float64, f float64) float64 { return xs[int(f*float64(len(xs)-1)+0.5)] }
		// Its passes are limit measurements too: the best-of ratios are
		// taken against the best of all of them.
		lim.ReadGBs = max(lim.ReadGBs, reads[len(reads)-1])
		if rd := q(reads, 0.5); rd > 0 {
			r.DecodeBWFractionInterleaved = q(toks, 0.5) / rd
			r.DecodeBWFractionInterleavedIQR = [2]float64{q(toks, 0.25) / rd, q(toks, 0.75) / rd}
		}
	}
	r.Limits = lim
	r.PrefillTokS = float64(prompt) / pre
	lm := 2 * float64(m.LMHead.Rows) * float64(m.LMHead.Cols)
	r.PrefillGFlops = (float64(prompt)*layerFlops(m) + lm) / pre / 1e9
	if gen > 0 {
		r.DecodeTokS = float64(gen) / dec
		r.DecodeGBs = float64(r.WeightBytes) * r.DecodeTokS / 1e9
	}
	// Decode step i attends over prompt+i+1 positions.
	ctx := float64(prompt) + float64(gen+1)/2
	r.DecodeKVBytes = int64(ctx * float64(2*4*m.Config.NumLayers*m.Config.KVDim()))
	if lim.ReadGBs > 0 {
		r.DecodeBWFraction = r.DecodeGBs / lim.ReadGBs
		r.DecodeReadFraction = float64(r.WeightBytes+r.DecodeKVBytes) * r.DecodeTokS / 1e9 / lim.ReadGBs
	}
	// The default kernels widen bf16/f16 weights and use float32 FMA (the
	// golden tolerances need float32 activations), so FMA is their peak;
	// with bf16 activations the products run on VDPBF16PS.
	if lim.PeakBF16 > 0 {
		r.PrefillBF16PeakFraction = r.PrefillGFlops / lim.PeakBF16
	}
	if bf16 {
		r.PrefillPeakFraction = r.PrefillBF16PeakFraction
	} else if lim.PeakFMAGFlop > 0 {
		r.PrefillPeakFraction = r.PrefillGFlops / lim.PeakFMAGFlop
	}
	return r, nil
}
