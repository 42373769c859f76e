package asm

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// Machine limits, measured once per test binary at the start of the first
// benchmark that needs them (in the same run, so under the same load).
var limits struct {
	once  [3]sync.Once
	bw    [3]float64 // GB/s by threads
	fma   [3]float64 // GFLOP/s by threads
	bf16  [3]float64
	level [3]string
}

func machineLimits(b *testing.B, threads int) (bw, fma, bf16 float64) {
	limits.once[threads].Do(func() {
		limits.bw[threads] = MeasureReadBandwidth(threads, 512<<20)
		limits.fma[threads] = MeasurePeakFMA(threads)
		limits.bf16[threads] = MeasurePeakBF16(threads)
		fmt.Printf("# limits (%s, %d threads): read %.1f GB/s, FMA %.0f GFLOP/s, VDPBF16PS %.0f GFLOP/s\n",
			Dispatch(), threads, limits.bw[threads], limits.fma[threads], limits.bf16[threads])
	})
	return limits.bw[threads], limits.fma[threads], limits.bf16[threads]
}

// BenchmarkLimits reports the measured machine limits themselves.
func BenchmarkLimits(b *testing.B) {
	for _, th := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", th), func(b *testing.B) {
			var bw, fma, dp float64
			for i := 0; i < b.N; i++ {
				bw = MeasureReadBandwidth(th, 256<<20)
				fma = MeasurePeakFMA(th)
				dp = MeasurePeakBF16(th)
			}
			b.ReportMetric(bw, "GB/s")
			b.ReportMetric(fma, "FMA-GFLOP/s")
			b.ReportMetric(dp, "BF16-GFLOP/s")
		})
	}
}

// split runs f over `threads` contiguous slabs of n rows, like tensor/.
func split(threads, n int, f func(r0, r1 int)) {
	if threads == 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	per := (n + threads - 1) / threads
	per = (per + 15) &^ 15
	for r0 := 0; r0 < n; r0 += per {
		wg.Add(1)
		go func(r0, r1 int) {
			f(r0, r1)
			wg.Done()
		}(r0, min(n, r0+per))
	}
	wg.Wait()
}

type benchW struct {
	dtype string
	f32   []float32
	u16   []uint16
}

func newBenchW(dtype string, elems int) benchW {
	r := rand.New(rand.NewPCG(1, 1))
	w := benchW{dtype: dtype}
	if dtype == "f32" {
		w.f32 = randF32(r, elems, 1)
		return w
	}
	w.u16 = make([]uint16, elems)
	for i := range w.u16 {
		w.u16[i] = 0x3c00 + uint16(r.IntN(0x400)) // a sane value for bf16 and f16
	}
	return w
}

func (w benchW) bytesPerElem() int {
	if w.dtype == "f32" {
		return 4
	}
	return 2
}

// mm runs y = x·W[off:]ᵀ for rows r0..r1 of the n-row matrix at element
// offset off.
func (w benchW) mm(y []float32, x []float32, xb []uint16, m, n, kk, off, r0, r1 int) {
	o := off + r0*kk
	switch w.dtype {
	case "f32":
		MatMulF32(y[r0:], n, x, kk, w.f32[o:], kk, m, r1-r0, kk)
	case "bf16":
		MatMulBF16(y[r0:], n, x, kk, w.u16[o:], kk, m, r1-r0, kk)
	case "f16":
		MatMulF16(y[r0:], n, x, kk, w.u16[o:], kk, m, r1-r0, kk)
	case "bf16bf16":
		MatMulBF16BF16(y[r0:], n, xb, kk, w.u16[o:], kk, m, r1-r0, kk)
	}
}

// BenchmarkMatVec is decode: m = 1 over Qwen3-0.6B-like shapes. Weights
// span more than the last-level cache (copies are cycled), so the figure
// is a DRAM bandwidth, compared with MeasureReadBandwidth.
func BenchmarkMatVec(b *testing.B) {
	for _, c := range []struct {
		dtype string
		n, kk int
	}{{"bf16", 3072, 1024}, {"bf16", 151936, 1024}, {"f16", 3072, 1024}, {"f32", 3072, 1024}} {
		for _, th := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/n=%d,k=%d/threads=%d", c.dtype, c.n, c.kk, th), func(b *testing.B) {
				bw, _, _ := machineLimits(b, th)
				per := c.n * c.kk
				copies := max(1, (256<<20)/(per*2))
				w := newBenchW(c.dtype, per*copies)
				x := randF32(rand.New(rand.NewPCG(2, 2)), c.kk, 1)
				y := make([]float32, c.n)
				bytes := float64(per * w.bytesPerElem())
				b.SetBytes(int64(bytes))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					off := (i % copies) * per
					split(th, c.n, func(r0, r1 int) { w.mm(y, x, nil, 1, c.n, c.kk, off, r0, r1) })
				}
				gbs := bytes * float64(b.N) / b.Elapsed().Seconds() / 1e9
				b.ReportMetric(gbs, "GB/s")
				b.ReportMetric(gbs/bw, "frac_of_bw")
			})
		}
	}
}

// BenchmarkMatMul is prefill: m rows of activations at once.
func BenchmarkMatMul(b *testing.B) {
	for _, dtype := range []string{"f32", "bf16", "f16", "bf16bf16"} {
		for _, m := range []int{128, 512} {
			for _, th := range []int{1, 2} {
				n, kk := 3072, 1024
				b.Run(fmt.Sprintf("%s/m=%d,n=%d,k=%d/threads=%d", dtype, m, n, kk, th), func(b *testing.B) {
					_, fma, dp := machineLimits(b, th)
					peak := fma
					if dtype == "bf16bf16" {
						peak = dp
					}
					w := newBenchW(dtype, n*kk)
					x := randF32(rand.New(rand.NewPCG(2, 2)), m*kk, 1)
					xb := toBF16(x)
					y := make([]float32, m*n)
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						split(th, n, func(r0, r1 int) { w.mm(y, x, xb, m, n, kk, 0, r0, r1) })
					}
					gf := 2 * float64(m*n*kk) * float64(b.N) / b.Elapsed().Seconds() / 1e9
					b.ReportMetric(gf, "GFLOP/s")
					if peak > 0 {
						b.ReportMetric(gf/peak, "frac_of_peak")
					}
				})
			}
		}
	}
}
