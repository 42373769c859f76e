//go:build !purego

package asm

import (
	"math"
	"testing"
)

// TestVectorExp sweeps the vector exp of every SIMD level (through
// expSum) against the float64 one: at most 2 ulp in the normal range, and
// within the smallest normal in absolute terms below it.
func TestVectorExp(t *testing.T) {
	for _, k := range []*vecKernels{avx512Kernels, avx2Kernels} {
		var worst float64
		var wx float32
		x := make([]float32, 16)
		for v := float32(-110); v < 90; v += 0.00731 {
			for i := range x {
				x[i] = v + float32(i)*1e-4
			}
			y := append([]float32(nil), x...)
			k.expSum(p32(x), 0, 16/uintptr(k.lanes))
			for i := range x {
				e := exp32(y[i])
				if e < 1.2e-38 {
					if math.Abs(float64(x[i]-e)) > 1.2e-38 {
						t.Errorf("lanes %d exp(%g) = %g want %g", k.lanes, y[i], x[i], e)
						return
					}
					continue
				}
				if d := ulpDiff(x[i], e); d > worst {
					worst, wx = d, y[i]
				}
			}
		}
		if worst > 2 {
			t.Errorf("lanes %d: worst %.1f ulp at %g", k.lanes, worst, wx)
		}
		t.Logf("lanes %d: worst %.1f ulp at %g", k.lanes, worst, wx)
	}
}
