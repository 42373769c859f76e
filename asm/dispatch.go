package asm

import (
	"fmt"
	"os"
	"strings"
)

// impl is one complete set of kernels: a dispatch level.
type impl struct {
	name           string
	dotF32         func(a, b []float32) float32
	axpyF32        func(alpha float32, x, y []float32)
	matMulF32      func(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int)
	matMulNNF32    func(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int)
	matMulBF16     func(y []float32, ldy int, x []float32, ldx int, w []uint16, ldw int, m, n, kk int)
	matMulF16      func(y []float32, ldy int, x []float32, ldx int, w []uint16, ldw int, m, n, kk int)
	matMulBF16BF16 func(y []float32, ldy int, x []uint16, ldx int, w []uint16, ldw int, m, n, kk int)
	f32ToBF16      func(dst []uint16, src []float32)
	rmsNormF32     func(dst, x, w []float32, eps float32)
	siluMulF32     func(dst, gate, up []float32)
	softmaxF32     func(x []float32)
	scaleF32       func(alpha float32, x []float32)
	addF32         func(dst, a, b []float32)
	ropeF32        func(x, cos, sin []float32)
	sweepRows      func(kk, xs, ws int) int

	// For the machine-limit measurements.
	sumSqF32    func(x []float32) float32
	peakFMA     func(n uintptr) // n iterations of peakFlops flops
	peakFlops   float64
	peakDP      func(n uintptr) // VDPBF16PS loop, nil if absent
	peakDPFlops float64
}

var genericImpl = &impl{
	name:           "generic",
	dotF32:         DotF32Generic,
	axpyF32:        AxpyF32Generic,
	matMulF32:      MatMulF32Generic,
	matMulNNF32:    MatMulNNF32Generic,
	matMulBF16:     MatMulBF16Generic,
	matMulF16:      MatMulF16Generic,
	matMulBF16BF16: MatMulBF16BF16Generic,
	f32ToBF16:      F32ToBF16Generic,
	rmsNormF32:     RMSNormF32Generic,
	siluMulF32:     SiLUMulF32Generic,
	softmaxF32:     SoftmaxF32Generic,
	scaleF32:       ScaleF32Generic,
	addF32:         AddF32Generic,
	ropeF32:        RoPEF32Generic,
	sweepRows:      func(kk, _, ws int) int { return wBlockRows(4, kk, ws) },
	sumSqF32:       sumSqF32Generic,
	peakFMA:        peakFMAGeneric,
	peakFlops:      peakGenericFlops,
}

// levelOrder ranks every level name any build knows, lowest first;
// LATENTMAS_CPU caps the choice by this rank.
var levelOrder = []string{"generic", "neon", "avx2", "avx512", "avx512bf16"}

func rank(name string) int {
	for i, n := range levelOrder {
		if n == name {
			return i
		}
	}
	return -1
}

// available lists the levels this CPU supports, best first (filled by the
// architecture's init; always ends with generic).
var available []*impl

var (
	dotF32         func(a, b []float32) float32
	axpyF32        func(alpha float32, x, y []float32)
	matMulF32      func(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int)
	matMulNNF32    func(y []float32, ldy int, x []float32, ldx int, w []float32, ldw int, m, n, kk int)
	matMulBF16     func(y []float32, ldy int, x []float32, ldx int, w []uint16, ldw int, m, n, kk int)
	matMulF16      func(y []float32, ldy int, x []float32, ldx int, w []uint16, ldw int, m, n, kk int)
	matMulBF16BF16 func(y []float32, ldy int, x []uint16, ldx int, w []uint16, ldw int, m, n, kk int)
	f32ToBF16      func(dst []uint16, src []float32)
	rmsNormF32     func(dst, x, w []float32, eps float32)
	siluMulF32     func(dst, gate, up []float32)
	softmaxF32     func(x []float32)
	scaleF32       func(alpha float32, x []float32)
	addF32         func(dst, a, b []float32)
	ropeF32        func(x, cos, sin []float32)
	sweepRows      func(kk, xs, ws int) int
	dispatch       string
	cur            *impl
)

func use(i *impl) {
	dotF32, axpyF32 = i.dotF32, i.axpyF32
	matMulF32, matMulBF16, matMulF16, matMulBF16BF16 = i.matMulF32, i.matMulBF16, i.matMulF16, i.matMulBF16BF16
	matMulNNF32, f32ToBF16 = i.matMulNNF32, i.f32ToBF16
	rmsNormF32, siluMulF32, softmaxF32 = i.rmsNormF32, i.siluMulF32, i.softmaxF32
	scaleF32, addF32, ropeF32, sweepRows = i.scaleF32, i.addF32, i.ropeF32, i.sweepRows
	dispatch = i.name
	cur = i
}

func init() {
	available = append(archLevels(), genericImpl)
	// LATENTMAS_CPU=avx2|avx512|generic|... caps the level (for testing).
	if c := strings.ToLower(strings.TrimSpace(os.Getenv("LATENTMAS_CPU"))); c != "" && rank(c) >= 0 {
		var kept []*impl
		for _, i := range available {
			if rank(i.name) <= rank(c) {
				kept = append(kept, i)
			}
		}
		available = kept
	}
	use(available[0])
}

// Levels lists the dispatch levels usable on this CPU (after the
// LATENTMAS_CPU cap), best first; the last is always "generic". It is meant
// for tests and benchmarks that run every level.
func Levels() []string {
	out := make([]string, len(available))
	for i, l := range available {
		out[i] = l.name
	}
	return out
}

// SetLevel switches every kernel to the named dispatch level (one of
// Levels()). It is a test and benchmark hook: it must not be called while
// other goroutines run kernels.
func SetLevel(name string) error {
	for _, i := range available {
		if i.name == name {
			use(i)
			return nil
		}
	}
	return fmt.Errorf("asm: level %q not available (have %v)", name, Levels())
}
