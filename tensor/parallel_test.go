package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The Pool's element-wise operations give the bits of the serial ones,
// below and above the size at which they split.
func TestPoolElementwise(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, threads := range []int{1, 2, 3} {
		p := NewPool(threads)
		for _, sh := range [][2]int{{1, 896}, {3, 100}, {512, 896}, {77, 1000}, {40, 4864}} {
			m, d := sh[0], sh[1]
			x, u, w := randVec(r, m*d), randVec(r, m*d), randVec(r, d)
			for _, tc := range []struct {
				name     string
				par, ser func(dst []float32)
			}{
				{"SiLUMul", func(g []float32) { p.SiLUMul(g, u) }, func(g []float32) { SiLUMul(g, u) }},
				{"Add", func(g []float32) { p.Add(g, u) }, func(g []float32) { Add(g, u) }},
				{"AddBias", func(g []float32) { p.AddBias(g, m, w) }, func(g []float32) { AddBias(g, m, w) }},
				{"RMSNorm", func(g []float32) { p.RMSNorm(g, u, m, w, 1e-6) }, func(g []float32) { RMSNorm(g, u, m, w, 1e-6) }},
				{"RMSNorm in place", func(g []float32) { p.RMSNorm(g, g, m, w, 1e-6) }, func(g []float32) { RMSNorm(g, g, m, w, 1e-6) }},
			} {
				got, want := slices.Clone(x), slices.Clone(x)
				tc.par(got)
				tc.ser(want)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s threads=%d %dx%d: [%d] = %g, serial %g", tc.name, threads, m, d, i, got[i], want[i])
					}
				}
			}
		}
		p.Close()
	}
}

// Pool.Rope rotates every row as ApplyRope does.
func TestPoolRope(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const qh, kh, hd = 14, 2, 64
	rope := NewRope(hd, 1e6)
	for _, threads := range []int{1, 2, 3} {
		p := NewPool(threads)
		for _, m := range []int{1, 3, 40, 512} {
			q, k := randVec(r, m*qh*hd), randVec(r, m*kh*hd)
			cos, sin := make([]float32, m*hd/2), make([]float32, m*hd/2)
			for i := 0; i < m; i++ {
				rope.Table(7+i, cos[i*hd/2:(i+1)*hd/2], sin[i*hd/2:(i+1)*hd/2])
			}
			gq, gk := slices.Clone(q), slices.Clone(k)
			p.Rope(gq, qh, gk, kh, hd, cos, sin, m)
			for i := 0; i < m; i++ {
				cs, sn := cos[i*hd/2:(i+1)*hd/2], sin[i*hd/2:(i+1)*hd/2]
				ApplyRope(q[i*qh*hd:(i+1)*qh*hd], qh, hd, cs, sn)
				ApplyRope(k[i*kh*hd:(i+1)*kh*hd], kh, hd, cs, sn)
			}
			if !slices.Equal(gq, q) || !slices.Equal(gk, k) {
				t.Fatalf("threads=%d m=%d: Pool.Rope differs from ApplyRope per row", threads, m)
			}
		}
		p.Close()
	}
}

func ExamplePool_SiLUMul() {
	p := NewPool(2)
	defer p.Close()
	gate, up := []float32{0, 1, -1}, []float32{2, 2, 2}
	p.SiLUMul(gate, up)
	fmt.Printf("%.4f\n", gate)
	// Output: [0.0000 1.4621 -0.5379]
}
